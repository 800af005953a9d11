// Package secret reads PINs and passwords without putting them on argv, in
// output or in errors: from the terminal with echo off, from a named
// environment variable (--pin-env NAME), or from a file (--pin-file PATH).
//
// Go cannot guarantee that a secret leaves no copy in memory (the runtime may
// move or copy buffers). Callers should still Wipe the buffers they own as a
// best effort, and keep secrets in []byte rather than string where they can.
//
// # What is accepted
//
// A secret is checked for its form before anything uses it, because a
// token counts every wrong PIN towards its lockout, and a PIN file saved as
// UTF-16 or with a stray space is a wrong PIN:
//
//   - a file (--pin-file, pin-source) holds exactly one line: its final LF
//     or CRLF is dropped; it must be UTF-8 without a byte-order mark, with
//     no NUL, no second line (not even an empty one), no space or tab at
//     either end and no control character;
//   - an environment variable (--pin-env) follows the same rules, and its
//     value holds no line break at all;
//   - what is typed at the terminal is taken as typed (spaces included),
//     but control characters and text that is not UTF-8 are refused.
//
// Anything else is refused with a [*FormError] (errors.Is [ErrForm]) that
// says what was found ("starts with a UTF-8 byte-order mark", "has a second
// line", "ends with a space"), never the secret.
package secret

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// ErrNoTerminal means a secret was needed, no --*-env/--*-file was given, and
// there is no terminal to ask on.
var ErrNoTerminal = errors.New("no terminal to ask for the secret on")

// MaxFileSize bounds a secret file (--pin-file, --password-file, pin-source):
// a PIN or password is short, so a larger file is refused unread rather than
// read whole (it is a wrong path, or a device such as /dev/zero).
const MaxFileSize = 64 << 10

// Source says where one kind of secret comes from.
type Source struct {
	Kind string // "PIN" or "password"; used in prompts and errors
	Env  string // name of an environment variable holding it
	File string // path of a file holding it (one trailing newline is dropped)
}

// Register adds --<prefix>-env and --<prefix>-file flags (e.g. prefix "pin")
// to fs and returns the Source they fill.
func Register(fs *flag.FlagSet, prefix, kind string) *Source {
	s := &Source{Kind: kind}
	fs.StringVar(&s.Env, prefix+"-env", "", "read the "+kind+" from this environment variable")
	fs.StringVar(&s.File, prefix+"-file", "", "read the "+kind+" from this file")
	return s
}

// Given reports whether a non-interactive source was configured.
func (s *Source) Given() bool { return s != nil && (s.Env != "" || s.File != "") }

// Read returns the secret. prompt is shown on the terminal (stderr) when the
// secret is read interactively. The caller owns the buffer and should Wipe it.
func (s *Source) Read(prompt string) ([]byte, error) {
	kind := "secret"
	if s != nil && s.Kind != "" {
		kind = s.Kind
	}
	switch {
	case s != nil && s.Env != "" && s.File != "":
		return nil, fmt.Errorf("give the %s either from an environment variable or from a file, not both", kind)
	case s != nil && s.Env != "":
		if !ValidEnvName(s.Env) {
			// Not echoed: a PIN typed where its variable's name belongs
			// must not be repeated on the screen or in logs.
			return nil, fmt.Errorf("the environment variable named for the %s is not a valid name (letters, digits and _, not starting with a digit); give the variable's name, not the %s itself (not shown here in case it is)", kind, kind)
		}
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return nil, fmt.Errorf("environment variable %s (named for the %s) is not set", s.Env, kind)
		}
		if v == "" {
			return nil, fmt.Errorf("environment variable %s (named for the %s) is empty", s.Env, kind)
		}
		if found := checkForm([]byte(v), FromEnv); found != "" {
			return nil, &FormError{Kind: kind, Origin: FromEnv, Where: s.Env, Found: found}
		}
		return []byte(v), nil
	case s != nil && s.File != "":
		b, err := readFile(s.File, kind)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("the %s file %s is empty", kind, s.File)
		}
		line, found := oneLine(b)
		if found != "" {
			Wipe(b)
			return nil, &FormError{Kind: kind, Origin: FromFile, Where: s.File, Found: found}
		}
		return line, nil
	}
	b, err := readTerminal(prompt)
	if err != nil {
		return nil, err
	}
	if err := CheckTyped(kind, b); err != nil {
		Wipe(b)
		return nil, err
	}
	return b, nil
}

// ValidEnvName reports whether name is a portable environment variable name
// (letters, digits and _, not starting with a digit). A value that is not
// one may be the secret itself, typed where its variable's name belongs:
// do not echo it.
func ValidEnvName(name string) bool {
	for i, c := range name {
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return name != ""
}

// readFile reads at most MaxFileSize bytes of path. Its errors name the file
// and the size, never the content.
func readFile(path, kind string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the %s file: %w", kind, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		Wipe(b)
		return nil, fmt.Errorf("reading the %s file %s: %w", kind, path, err)
	}
	if len(b) > MaxFileSize {
		Wipe(b)
		return nil, fmt.Errorf("the %s file %s holds more than %d bytes; a %s is short, so this is not the right file", kind, path, MaxFileSize, kind)
	}
	return b, nil
}

func readTerminal(prompt string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, ErrNoTerminal
	}
	defer tty.Close()
	if !term.IsTerminal(int(tty.Fd())) {
		return nil, ErrNoTerminal
	}
	fmt.Fprint(tty, prompt)
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		Wipe(b)
		return nil, fmt.Errorf("reading from the terminal: %w", err)
	}
	if len(b) == 0 {
		return nil, errors.New("nothing was entered")
	}
	return b, nil
}

// Wipe overwrites b with zeros (best effort; see the package doc).
func Wipe(b []byte) {
	clear(b)
}

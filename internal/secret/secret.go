// Package secret reads PINs and passwords without putting them on argv, in
// output or in errors: from the terminal with echo off, from a named
// environment variable (--pin-env NAME), or from a file (--pin-file PATH).
//
// Go cannot guarantee that a secret leaves no copy in memory (the runtime may
// move or copy buffers). Callers should still Wipe the buffers they own as a
// best effort, and keep secrets in []byte rather than string where they can.
package secret

import (
	"bytes"
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
		return []byte(v), nil
	case s != nil && s.File != "":
		b, err := readFile(s.File, kind)
		if err != nil {
			return nil, err
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) == 0 {
			Wipe(b)
			return nil, fmt.Errorf("the %s file %s is empty", kind, s.File)
		}
		return b, nil
	}
	return readTerminal(prompt)
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

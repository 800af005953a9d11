package secret

import (
	"bytes"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// ErrForm is matched (errors.Is) by every [*FormError]: a secret refused
// for its form before it was used.
var ErrForm = errors.New("secret refused for its form")

// A FormError is a secret refused before anything used it, because its
// form shows it is not what was meant: a PIN file saved as UTF-16 or with a
// byte-order mark, a stray space, a second line, a control character. A
// token counts every wrong PIN towards its lockout, so such a PIN is never
// tried. The error says where the secret came from and what was found,
// never the secret itself.
type FormError struct {
	Kind   string // "PIN", "password"
	Origin Origin
	// Where names the origin: the file's path or the variable's name
	// ("" for the terminal).
	Where string
	// Found is what was found, e.g. "starts with a UTF-8 byte-order mark".
	Found string
}

// Origin is where a secret was read from; the rules differ a little.
type Origin int

// Origins of a secret.
const (
	// FromFile: exactly one line; one final LF or CRLF is not part of it.
	FromFile Origin = iota
	// FromEnv: the whole value, which must hold no line break.
	FromEnv
	// Typed: typed at a terminal or into a form; the line's end is already
	// gone. Only control characters and text that is not UTF-8 are refused:
	// spaces typed are taken as meant.
	Typed
)

func (e *FormError) Error() string {
	var from string
	switch e.Origin {
	case FromFile:
		from = fmt.Sprintf("the %s file %s", e.Kind, e.Where)
	case FromEnv:
		from = fmt.Sprintf("environment variable %s (named for the %s)", e.Where, e.Kind)
	default:
		from = fmt.Sprintf("the %s entered", e.Kind)
	}
	return fmt.Sprintf("%s %s; the %s was not used", from, e.Found, e.Kind)
}

// Is matches ErrForm.
func (e *FormError) Is(target error) bool { return target == ErrForm }

// Hints says how to give the secret so that it is accepted (the command
// line prints them as "hint:" lines).
func (e *FormError) Hints() []string {
	switch e.Origin {
	case FromFile:
		return []string{fmt.Sprintf("write the %s as the file's only line, as UTF-8 text without a byte-order mark, with nothing before or after it but one final line break (LF or CRLF)", e.Kind)}
	case FromEnv:
		return []string{fmt.Sprintf("set the variable to the %s alone: no spaces, tabs or line breaks around it", e.Kind)}
	}
	return []string{fmt.Sprintf("enter the %s again; control characters (arrow keys, Ctrl combinations) are not part of it", e.Kind)}
}

// CheckTyped checks a secret typed at a terminal or into a form, its line
// break already removed: control characters (including tab) and text that
// is not UTF-8 are refused with a [*FormError]. kind names the secret
// ("PIN").
func CheckTyped(kind string, b []byte) error {
	if found := checkForm(b, Typed); found != "" {
		return &FormError{Kind: kind, Origin: Typed, Found: found}
	}
	return nil
}

// oneLine returns the one line a secret file holds, without its final LF
// or CRLF, or what was found instead of one line (never the secret). The
// returned slice aliases b.
func oneLine(b []byte) ([]byte, string) {
	if found := checkEncoding(b); found != "" {
		return nil, found
	}
	line := b
	if l, ok := bytes.CutSuffix(line, []byte("\n")); ok {
		line = l
		line, _ = bytes.CutSuffix(line, []byte("\r"))
	}
	if len(line) == 0 {
		return nil, "holds only a line break"
	}
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		rest := bytes.TrimRight(line[i+1:], "\r\n")
		switch {
		case len(rest) == 0:
			return nil, "has a second line (an empty one)"
		case len(bytes.TrimSpace(rest)) == 0:
			return nil, "has a second line (of blanks)"
		}
		return nil, "has a second line"
	}
	if found := checkForm(line, FromFile); found != "" {
		return nil, found
	}
	return line, ""
}

// checkEncoding finds what shows that a file is not UTF-8 text: a
// byte-order mark, UTF-16, NUL bytes.
func checkEncoding(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")):
		return "starts with a UTF-8 byte-order mark"
	case bytes.HasPrefix(b, []byte("\xFF\xFE")), bytes.HasPrefix(b, []byte("\xFE\xFF")):
		return "starts with a UTF-16 byte-order mark (it is UTF-16 text, not UTF-8)"
	case bytes.IndexByte(b, 0) >= 0:
		if looksUTF16(b) {
			return "holds NUL bytes between its characters (it looks like UTF-16 text, not UTF-8)"
		}
		return "holds a NUL byte"
	}
	return ""
}

// looksUTF16 reports whether every other byte of b is NUL (ASCII text in
// UTF-16, little- or big-endian, without a byte-order mark).
func looksUTF16(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	even, odd := 0, 0
	for i, c := range b {
		if c == 0 {
			if i%2 == 0 {
				even++
			} else {
				odd++
			}
		}
	}
	half := len(b) / 2
	return even >= half || odd >= half
}

// checkForm finds what is wrong with a secret's characters, for its origin:
// "" when nothing is.
func checkForm(b []byte, o Origin) string {
	if !utf8.Valid(b) {
		return "is not UTF-8 text (another encoding, such as Latin-1?)"
	}
	if o != Typed {
		if bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")) {
			return "starts with a byte-order mark (U+FEFF)"
		}
		first, _ := utf8.DecodeRune(b)
		last, _ := utf8.DecodeLastRune(b)
		if unicode.IsSpace(first) && first != '\n' && first != '\r' {
			return "starts with " + spaceName(first)
		}
		if o == FromEnv && (last == '\n' || last == '\r') {
			return "ends with a line break"
		}
		if o == FromFile && last == '\r' {
			return "ends with a carriage return (CR) without a line feed"
		}
		if unicode.IsSpace(last) && last != '\n' && last != '\r' {
			return "ends with " + spaceName(last)
		}
	}
	for _, r := range string(b) {
		switch {
		case r == '\n':
			return "holds a line break"
		case r == '\r':
			return "holds a carriage return (CR) that does not end a line"
		case r == 0:
			return "holds a NUL byte"
		case r == '\t':
			return "holds a tab"
		case unicode.IsControl(r):
			return fmt.Sprintf("holds a control character (U+%04X)", r)
		case r == '\uFEFF':
			return "holds a byte-order mark (U+FEFF)"
		case unicode.Is(unicode.Cf, r):
			return fmt.Sprintf("holds an invisible formatting character (U+%04X)", r)
		}
	}
	return ""
}

func spaceName(r rune) string {
	switch r {
	case ' ':
		return "a space"
	case '\t':
		return "a tab"
	}
	return fmt.Sprintf("a space character (U+%04X)", r)
}

package secret

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pinFileCases are the forms a PIN file is found in: the three that hold
// the PIN 4711 as one line are accepted; every other one is refused, saying
// what was found, before anything could send it to a token (each would
// have cost a try).
var pinFileCases = []struct {
	name  string
	data  string
	found string // "" accepted as "4711"
}{
	{"bare", "4711", ""},
	{"LF", "4711\n", ""},
	{"CRLF", "4711\r\n", ""},
	{"UTF-8 BOM", "\xEF\xBB\xBF4711\n", "starts with a UTF-8 byte-order mark"},
	{"UTF-16LE with BOM", "\xFF\xFE4\x007\x001\x001\x00\n\x00", "starts with a UTF-16 byte-order mark"},
	{"UTF-16BE with BOM", "\xFE\xFF\x004\x007\x001\x001\x00\n", "starts with a UTF-16 byte-order mark"},
	{"UTF-16LE without BOM", "4\x007\x001\x001\x00\n\x00", "it looks like UTF-16 text"},
	{"NUL at end", "4711\x00\n", "holds a NUL byte"},
	{"trailing space", "4711 \n", "ends with a space"},
	{"trailing tab", "4711\t\n", "ends with a tab"},
	{"trailing no-break space", "4711\u00a0\n", "ends with a space character (U+00A0)"},
	{"leading space", " 4711\n", "starts with a space"},
	{"leading tab", "\t4711\n", "starts with a tab"},
	{"blank second line", "4711\n\n", "has a second line (an empty one)"},
	{"blank second line CRLF", "4711\r\n\r\n", "has a second line (an empty one)"},
	{"second line of blanks", "4711\n  \n", "has a second line (of blanks)"},
	{"second line", "4711\n0000\n", "has a second line"},
	{"CR only", "4711\r", "ends with a carriage return (CR) without a line feed"},
	{"CR CRLF", "4711\r\r\n", "ends with a carriage return (CR) without a line feed"},
	{"inner CR", "47\r11\n", "holds a carriage return (CR) that does not end a line"},
	{"inner tab", "47\t11\n", "holds a tab"},
	{"escape", "47\x1b[A11\n", "holds a control character (U+001B)"},
	{"Latin-1", "4711\xe9\n", "is not UTF-8 text"},
	{"zero-width space", "47\u200b11\n", "holds an invisible formatting character (U+200B)"},
	{"inner BOM", "47\ufeff11\n", "holds a byte-order mark (U+FEFF)"},
	{"only LF", "\n", "holds only a line break"},
	{"only CRLF", "\r\n", "holds only a line break"},
}

func TestPINFileForms(t *testing.T) {
	dir := t.TempDir()
	for _, c := range pinFileCases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			if err := os.WriteFile(p, []byte(c.data), 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := (&Source{Kind: "PIN", File: p}).Read("")
			if c.found == "" {
				if err != nil || string(b) != "4711" {
					t.Fatalf("got %q, %v; want 4711", b, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted as %q", b)
			}
			var fe *FormError
			if !errors.As(err, &fe) || !errors.Is(err, ErrForm) {
				t.Fatalf("not a FormError: %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "the PIN file "+p+" ") || !strings.Contains(msg, c.found) || !strings.HasSuffix(msg, "; the PIN was not used") {
				t.Errorf("error %q; want it to name the file and say %q", msg, c.found)
			}
			if strings.Contains(msg, "4711") {
				t.Errorf("error echoes the PIN: %q", msg)
			}
			if len(fe.Hints()) == 0 {
				t.Error("no hint")
			}
		})
	}
}

func TestPINEnvForms(t *testing.T) {
	for _, c := range []struct{ value, found string }{
		{"4711", ""},
		{"my pass phrase", ""},
		{"4711\n", "ends with a line break"},
		{"4711\r\n", "ends with a line break"},
		{"4711 ", "ends with a space"},
		{"4711\t", "ends with a tab"},
		{" 4711", "starts with a space"},
		{"\ufeff4711", "starts with a byte-order mark (U+FEFF)"},
		{"47\n11", "holds a line break"},
		{"4711\xe9", "is not UTF-8 text"},
		{"47\x0711", "holds a control character (U+0007)"},
	} {
		t.Setenv("KR_TEST_PIN", c.value)
		b, err := (&Source{Kind: "PIN", Env: "KR_TEST_PIN"}).Read("")
		if c.found == "" {
			if err != nil || string(b) != c.value {
				t.Errorf("%q: got %q, %v", c.value, b, err)
			}
			continue
		}
		if !errors.Is(err, ErrForm) || !strings.Contains(err.Error(), "environment variable KR_TEST_PIN (named for the PIN) "+c.found) {
			t.Errorf("%q: %v; want %q", c.value, err, c.found)
		}
		if err != nil && strings.Contains(err.Error(), "4711") {
			t.Errorf("%q: error echoes the PIN: %v", c.value, err)
		}
	}
}

func TestCheckTyped(t *testing.T) {
	for _, ok := range []string{"4711", " 4711 ", "pass phrase", "pâté"} {
		if err := CheckTyped("PIN", []byte(ok)); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for in, found := range map[string]string{
		"47\x1b[A11": "holds a control character (U+001B)",
		"47\t11":     "holds a tab",
		"4711\x00":   "holds a NUL byte",
		"4711\xe9":   "is not UTF-8 text",
		"4711\x7f":   "holds a control character (U+007F)",
	} {
		err := CheckTyped("PIN", []byte(in))
		if !errors.Is(err, ErrForm) || !strings.HasPrefix(err.Error(), "the PIN entered "+found) {
			t.Errorf("%q: %v; want %q", in, err, found)
		}
	}
}

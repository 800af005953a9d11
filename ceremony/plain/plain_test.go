package plain

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/internal/base/secret"
)

func TestPlainDialogue(t *testing.T) {
	var out bytes.Buffer
	u := New(strings.NewReader("maybe\nY\n0\nx\n2\n  path with spaces \n"), &out)
	u.Echo = true
	ok, err := u.Confirm("Proceed?")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	i, err := u.Choose("Pick", []string{"a", "b"})
	if err != nil || i != 1 {
		t.Fatal(i, err)
	}
	s, err := u.AskText("File")
	if err != nil || s != "  path with spaces " {
		t.Fatalf("%q %v", s, err)
	}
	u.Progress("step", 1, 3)
	u.Progress("step", 1, 3)
	u.Show(ceremony.Message{Kind: ceremony.Success, Title: "done", Fields: []ceremony.Field{{Name: "a", Value: "1"}, {Name: "bbb", Value: "2\n3"}}})
	want := `Proceed? [y/n]: maybe
please answer y or n
Proceed? [y/n]: Y
Pick
  1) a
  2) b
number (1-2): 0
please answer with a number from 1 to 2
Pick
  1) a
  2) b
number (1-2): x
please answer with a number from 1 to 2
Pick
  1) a
  2) b
number (1-2): 2
File:   path with spaces 
[step: 1 of 3]
ok: done
  a:   1
  bbb: 2
       3
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if _, err := u.AskText("more"); !errors.Is(err, ceremony.ErrCancelled) {
		t.Fatalf("end of input: %v", err)
	}
}

func TestPlainSecretNeverFromAnswers(t *testing.T) {
	var out bytes.Buffer
	u := New(strings.NewReader("1234\n"), &out)
	u.Secret = func(prompt string) ([]byte, error) { return nil, secret.ErrNoTerminal }
	_, err := u.AskSecret("PIN")
	if !errors.Is(err, secret.ErrNoTerminal) {
		t.Fatal(err)
	}
	// The answer stream was not touched.
	if s, _ := u.AskText("next"); s != "1234" {
		t.Fatalf("got %q", s)
	}
	u.Secret = func(prompt string) ([]byte, error) { return []byte("9999"), nil }
	b, err := u.AskSecret("PIN")
	if err != nil || string(b) != "9999" || strings.Contains(out.String(), "9999") {
		t.Fatal(string(b), err, out.String())
	}
}

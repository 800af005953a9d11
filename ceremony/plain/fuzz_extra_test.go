package plain

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/ceremony"
)

// FuzzAnswers: whatever the operator types, Confirm and Choose never panic,
// Choose returns an index in range, and running out of input cancels. (An
// answer longer than maxLine, 64 KiB, also cancels; TestLongAnswer checks it,
// as a seed that long would make every fuzzing step slow.)
func FuzzAnswers(f *testing.F) {
	for _, s := range []string{"y\n2\n", "YES\r\n 3 \n", "maybe\nn\n0\n4\n1\n", "\n", "", "+1\n-0\n", "n\n\u0663\n"} {
		f.Add(s)
	}
	opts := []string{"a", "b", "c"}
	f.Fuzz(func(t *testing.T, in string) {
		u := New(strings.NewReader(in), io.Discard)
		if _, err := u.Confirm("ok?"); err != nil {
			if !errors.Is(err, ceremony.ErrCancelled) {
				t.Fatalf("Confirm: %v", err)
			}
			return
		}
		n, err := u.Choose("which?", opts)
		if err != nil {
			if !errors.Is(err, ceremony.ErrCancelled) {
				t.Fatalf("Choose: %v", err)
			}
			return
		}
		if n < 0 || n >= len(opts) {
			t.Fatalf("Choose returned %d", n)
		}
		u.AskText("text")
	})
}

// TestLongAnswer: an answer longer than maxLine cancels the dialogue.
func TestLongAnswer(t *testing.T) {
	u := New(strings.NewReader(strings.Repeat("y", maxLine+1)+"\ny\n"), io.Discard)
	if _, err := u.Confirm("ok?"); !errors.Is(err, ceremony.ErrCancelled) {
		t.Fatalf("err = %v, want ErrCancelled", err)
	}
}

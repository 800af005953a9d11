package plain

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/ceremony"
)

// FuzzAnswers: whatever the operator types (numbers, option names), Confirm
// and Choose never panic, Choose returns an index in range, and running out
// of input cancels. (An answer longer than maxLine, 64 KiB, also cancels;
// TestLongAnswer checks it, as a seed that long would make every fuzzing
// step slow.)
func FuzzAnswers(f *testing.F) {
	for _, s := range []string{"y\n2\n", "YES\r\n 3 \n", "maybe\nn\n0\n4\n1\n", "\n", "", "+1\n-0\n", "n\n\u0663\n", "y\nB\n", "n\n c \n", "y\nab\n"} {
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

// FuzzForm: whatever the operator types into a form (numbers, ranges, "<",
// "-", empty lines), Form never panics and ends in one of its documented
// ways; when it returns nil every asked field passes Validate and a
// select's answer is one of its options.
func FuzzForm(f *testing.F) {
	for _, s := range []string{
		"alice\n2\nhello\n1-2 4\n", "\n\n\n\n", "<\n", "a\n<\n<\n", "a\n3\n<\n\nall\n",
		"bad\nbad\nbad\nbad\nbad\n", "x\n0\n9\n-1\n1\n-\n4-1\n2,3\n", "x\n1\n\n1--2\n1-\n-3\n 1 , 4 \n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		form := testForm()
		u := New(strings.NewReader(in), io.Discard)
		opts, err := ceremony.FormOptions(form)
		if err != nil {
			t.Fatal(err)
		}
		err = u.Form(form, opts)
		switch {
		case err == nil:
		case errors.Is(err, ceremony.ErrBack), errors.Is(err, ceremony.ErrCancelled), errors.Is(err, ceremony.ErrTooManyAttempts):
			return
		default:
			t.Fatalf("Form: %v", err)
		}
		for _, fl := range form.Fields {
			if err := fl.Validate(); err != nil {
				t.Fatalf("field %s: %v", fl.Key, err)
			}
		}
		if v := form.Field("sel").Value; !slices.ContainsFunc(testOpts, func(o ceremony.Option) bool { return o.Value == v }) {
			t.Fatalf("select answer %q is no option", v)
		}
		for _, v := range form.Field("multi").Values {
			if !slices.ContainsFunc(testOpts, func(o ceremony.Option) bool { return o.Value == v }) {
				t.Fatalf("multi-select answer %q is no option", v)
			}
		}
	})
}

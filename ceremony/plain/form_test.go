package plain

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/ceremony"
)

var testOpts = []ceremony.Option{
	{Label: "first", Value: "a"}, {Label: "second", Value: "b"}, {Label: "third", Value: "c"}, {Label: "fourth", Value: "d"},
}

// testForm is a form of four fields: a text field that refuses "bad", a
// select, an optional text field skipped when the select is "c", and a
// multi-select.
func testForm() *ceremony.Form {
	sel := &ceremony.FormField{Key: "sel", Title: "Pick one", Kind: ceremony.SelectField,
		Options: func() ([]ceremony.Option, error) { return testOpts, nil }}
	return &ceremony.Form{Title: "Test form", Text: "two lines\nof text", Fields: []*ceremony.FormField{
		{Key: "text", Title: "Name", Help: "a name, not bad",
			Check: func(s string) error {
				if s == "bad" {
					return errors.New("bad is refused")
				}
				return nil
			},
			Status: func(s string) string { return "looks like " + s }},
		sel,
		{Key: "opt", Title: "Comment", Optional: true, Skip: func() bool { return sel.Value == "c" }},
		{Key: "multi", Title: "Pick some", Kind: ceremony.MultiSelectField,
			Options: func() ([]ceremony.Option, error) { return testOpts, nil }},
	}}
}

func TestForm(t *testing.T) {
	type want struct {
		err    error
		text   string
		sel    string
		opt    string
		multi  []string
		output []string // lines the output must hold
	}
	for _, tc := range []struct {
		name  string
		in    string
		setup func(*ceremony.Form)
		want  want
	}{
		{name: "answered in order", in: "alice\n2\nhello\n1-2 4\n",
			want: want{text: "alice", sel: "b", opt: "hello", multi: []string{"a", "b", "d"},
				output: []string{"Name: alice", "ok: looks like alice", "number (1-4): 2", "Comment (optional): hello", "numbers (1-4), ranges such as 1-4, or all: 1-2 4"}}},
		{name: "defaults kept on empty answers", in: "\n\n\n\n",
			setup: func(f *ceremony.Form) {
				f.Field("text").Value = "bob"
				f.Field("sel").Value = "d"
				f.Field("opt").Value = "note"
				f.Field("multi").Values = []string{"d", "b", "c"}
			},
			want: want{text: "bob", sel: "d", opt: "note", multi: []string{"b", "c", "d"},
				output: []string{"Name [bob]: ", "number (1-4) [4]: ", "Comment [note; - for none]: ", "numbers (1-4), ranges such as 1-4, or all [2-4]: "}}},
		{name: "optional answer cleared", in: "\n2\n-\nall\n",
			setup: func(f *ceremony.Form) { f.Field("text").Value = "bob"; f.Field("opt").Value = "note" },
			want: want{text: "bob", sel: "b", opt: "", multi: []string{"a", "b", "c", "d"},
				output: []string{"Comment [note; - for none]: -"}}},
		{name: "validation retry", in: "bad\n\nalice\n1\n\n3\n",
			want: want{text: "alice", sel: "a", multi: []string{"c"},
				output: []string{"Name: bad", "error: bad is refused", "Name: ", "error: an answer is needed", "Name: alice"}}},
		{name: "select out of range asked again", in: "x\n0\n5\n1\n\n2 4\n", setup: func(f *ceremony.Form) { f.Field("text").Value = "x" },
			want: want{text: "x", sel: "a", multi: []string{"b", "d"},
				output: []string{"error: please answer with a number from 1 to 4"}}},
		{name: "multi-select ranges refused", in: "x\n1\n\n0-2\n3-1\n2,4-4\n",
			want: want{text: "x", sel: "a", multi: []string{"b", "d"},
				output: []string{`error: "0-2" is not a number or range from 1 to 4`, `error: "3-1" is not a number or range from 1 to 4`}}},
		{name: "too many attempts", in: "bad\nbad\nbad\nbad\nbad\nalice\n",
			want: want{err: ceremony.ErrTooManyAttempts, text: ""}},
		{name: "a refused answer keeps the one before", in: "bad\n\n1\n\n3\n",
			setup: func(f *ceremony.Form) { f.Field("text").Value = "alice" },
			want: want{text: "alice", sel: "a", multi: []string{"c"},
				output: []string{"Name [alice]: bad", "error: bad is refused", "Name [alice]: "}}},
		{name: "back to the previous field, answers kept", in: "alice\n<\n\n3\n<\n<\nbob\n\n1\n",
			// alice, back from sel to text, keep alice, sel=c (opt
			// skipped), back from multi to sel (opt skipped), back to
			// text, bob, keep c, multi 1.
			want: want{text: "bob", sel: "c", multi: []string{"a"},
				output: []string{"Name [alice]: ", "number (1-4) [3]: <"}}},
		{name: "back from the first field", in: "<\n",
			setup: func(f *ceremony.Form) { f.Field("text").Value = "kept" },
			want:  want{err: ceremony.ErrBack, text: "kept"}},
		{name: "end of input cancels", in: "alice\n2\n",
			want: want{err: ceremony.ErrCancelled, text: "alice", sel: "b"}},
		{name: "no input at all cancels", in: "",
			want: want{err: ceremony.ErrCancelled}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testForm()
			if tc.setup != nil {
				tc.setup(f)
			}
			var out bytes.Buffer
			u := New(strings.NewReader(tc.in), &out)
			u.Echo = true
			opts, err := ceremony.FormOptions(f)
			if err != nil {
				t.Fatal(err)
			}
			err = u.Form(f, opts)
			if (tc.want.err == nil) != (err == nil) || !errors.Is(err, tc.want.err) {
				t.Fatalf("err = %v, want %v\n%s", err, tc.want.err, out.String())
			}
			if got := f.Field("text").Value; got != tc.want.text {
				t.Errorf("text = %q, want %q", got, tc.want.text)
			}
			if got := f.Field("sel").Value; got != tc.want.sel {
				t.Errorf("sel = %q, want %q", got, tc.want.sel)
			}
			if tc.want.err == nil {
				if got := f.Field("opt").Value; got != tc.want.opt {
					t.Errorf("opt = %q, want %q", got, tc.want.opt)
				}
				if got := f.Field("multi").Values; !slices.Equal(got, tc.want.multi) {
					t.Errorf("multi = %q, want %q", got, tc.want.multi)
				}
			}
			lines := strings.Split(out.String(), "\n")
			for _, w := range tc.want.output {
				if !slices.Contains(lines, w) {
					t.Errorf("no line %q in:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestFormDialogue is a whole form as a screen reader or a log reads it.
func TestFormDialogue(t *testing.T) {
	f := testForm()
	f.Field("multi").Values = []string{"a", "c"}
	var out bytes.Buffer
	u := New(strings.NewReader("alice\n9\n3\n\n"), &out)
	u.Echo = true
	u.Steps([]string{"One", "Two"}, 0)
	u.Steps([]string{"One", "Two"}, 0)
	opts, _ := ceremony.FormOptions(f)
	if err := u.Form(f, opts); err != nil {
		t.Fatal(err)
	}
	u.Steps([]string{"One", "Two"}, 1)
	u.Steps([]string{"One", "Two"}, 2)
	want := `[step 1 of 2: One; steps: One, Two]
(In forms, Enter keeps the answer shown in [brackets], and < goes back to the previous question.)
Test form
two lines
of text
  a name, not bad
Name: alice
ok: looks like alice
Pick one
  1) first
  2) second
  3) third
  4) fourth
number (1-4): 9
error: please answer with a number from 1 to 4
Pick one
  1) first
  2) second
  3) third
  4) fourth
number (1-4): 3
Pick some
  1) first
  2) second
  3) third
  4) fourth
numbers (1-4), ranges such as 1-4, or all [1 3]: 
[step 2 of 2: Two]
[all 2 steps done: One, Two]
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	// The hint is printed once.
	f.Fields = f.Fields[:1]
	out.Reset()
	u = New(strings.NewReader("\n"), &out)
	u.formHinted = true
	if err := u.Form(f, nil); err != nil || strings.Contains(out.String(), "In forms") {
		t.Fatalf("%v\n%s", err, out.String())
	}
}

// TestFormOptions: options the engine did not compute (the field was
// skipped then) are asked for; a field with nothing to choose from shows
// why and goes back.
func TestFormOptions(t *testing.T) {
	calls := 0
	f := &ceremony.Form{Fields: []*ceremony.FormField{
		{Key: "a", Title: "A"},
		{Key: "s", Title: "S", Kind: ceremony.SelectField, Options: func() ([]ceremony.Option, error) {
			calls++
			if calls == 1 {
				return nil, fmt.Errorf("no token found")
			}
			return testOpts[:2], nil
		}},
	}}
	var out bytes.Buffer
	u := New(strings.NewReader("x\ny\n2\n"), &out)
	if err := u.Form(f, nil); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if f.Fields[0].Value != "y" || f.Fields[1].Value != "b" || !strings.Contains(out.String(), "error: S\nno token found\n") {
		t.Fatalf("%q %q\n%s", f.Fields[0].Value, f.Fields[1].Value, out.String())
	}
	// From the first field, nothing to choose from goes back out of the form.
	f.Fields = f.Fields[1:]
	calls = 0
	if err := New(strings.NewReader("1\n"), &out).Form(f, nil); !errors.Is(err, ceremony.ErrBack) {
		t.Fatal(err)
	}
}

// TestFormThroughAskForm: AskForm uses the plain face's forms (back
// navigation included), and expands ~ in paths as for every face.
func TestFormThroughAskForm(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	p := &ceremony.FormField{Key: "p", Title: "Path", Kind: ceremony.PathField}
	w := &ceremony.FormField{Key: "w", Title: "Words"}
	var out bytes.Buffer
	u := New(strings.NewReader("~/x\n<\n~/y\nfour words typed here\n"), &out)
	if err := ceremony.AskForm(u, &ceremony.Form{Fields: []*ceremony.FormField{p, w}}); err != nil {
		t.Fatal(err)
	}
	if p.Value != home+"/y" || w.Value != "four words typed here" {
		t.Fatalf("%q %q\n%s", p.Value, w.Value, out.String())
	}
}

func TestNumberRanges(t *testing.T) {
	for _, tc := range []struct {
		c    []bool
		want string
	}{
		{nil, ""},
		{[]bool{false, false}, ""},
		{[]bool{true}, "1"},
		{[]bool{true, true, false, true}, "1-2 4"},
		{[]bool{false, true, true, true}, "2-4"},
	} {
		if got := numberRanges(tc.c); got != tc.want {
			t.Errorf("numberRanges(%v) = %q, want %q", tc.c, got, tc.want)
		}
		// What is printed reads back as the same choice.
		if tc.want != "" {
			opts := testOpts[:len(tc.c)]
			vs, err := ceremony.PickOptions(tc.want, opts)
			if err != nil || numberRanges(chosen(vs, opts)) != tc.want {
				t.Errorf("%q read back as %q, %v", tc.want, vs, err)
			}
		}
	}
}

// TestPick: a one-of answer is a number, or names one option by its label
// or the label's start.
func TestPick(t *testing.T) {
	labels := []string{"BYOK: export a key", "Security domain: restore", "Quorum drill", "Quit", "No, change the answers", "No, stop here"}
	for _, tc := range []struct {
		in   string
		want int // -1: refused
	}{
		{"1", 0}, {" 6 ", 5}, {"+2", 1}, {"0", -1}, {"7", -1}, {"", -1}, {"-1", -1},
		{"byok", 0}, {"BYOK: export a key", 0}, {"quit", 3}, {"Qu", -1}, {"Quo", 2},
		{"no", -1}, {"No, stop", 5}, {"x", -1}, {"\u0663", -1},
	} {
		got, err := pick(tc.in, labels)
		if tc.want < 0 {
			if err == nil {
				t.Errorf("pick(%q) = %d, want refused", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("pick(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
	if _, err := pick("no", labels); err == nil || !strings.Contains(err.Error(), "begins more than one option") {
		t.Errorf("ambiguous: %v", err)
	}
}

package ceremony

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrBack is returned (possibly wrapped) by [FormUI.Form] when the person
// asks to go back from the first field of a form: the engine then returns to
// the previous form of the flow, with its answers kept.
var ErrBack = errors.New("ceremony: back")

// FieldKind says how a form field is answered.
type FieldKind int

// Field kinds.
const (
	TextField        FieldKind = iota // one line of text
	PathField                         // a file path (a face may offer completion or a picker)
	SelectField                       // one of Options
	MultiSelectField                  // any of Options (Values)
)

// An Option is one choice of a select field.
type Option struct {
	Label string // what is shown, one line
	Value string // what is stored in the field
}

// A FormField is one question of a form. Its answer is kept in Value (or
// Values) across attempts, so that going back, or returning to the form
// after a failed action, shows what was answered before.
type FormField struct {
	Key   string // stable name, for tests and scripts
	Title string // the question
	Help  string // one or two lines under the question
	Kind  FieldKind
	// Optional fields may be left empty (and are then not checked).
	Optional bool

	Value  string   // Text, Path and Select answers
	Values []string // MultiSelect answers

	// Options lists the choices of a select field. It is called when the
	// field is reached, after the earlier fields were answered (discovery:
	// the objects of the token chosen above). An error is shown in place
	// of the list and the person can go back.
	Options func() ([]Option, error)

	// Check validates an answer (Values joined by "\n" for a multi-select).
	// Faces call it as the person types where they can, and always before
	// leaving the field. It returns a message for the person.
	Check func(string) error
	// Status, when set, describes a valid answer in one line (e.g. "RSA
	// 4096, kid …"), shown under the field.
	Status func(string) string
	// Skip, when set and true, leaves the field out (e.g. the kid, when the
	// KEK file carries it). It is called when the field would be reached.
	Skip func() bool
}

// Answer is the field's answer as Check sees it.
func (f *FormField) Answer() string {
	if f.Kind == MultiSelectField {
		return strings.Join(f.Values, "\n")
	}
	return f.Value
}

// Validate checks the field's current answer as a face must before leaving
// the field: an empty answer is an error unless the field is optional.
//
// A field skipped now (Skip says so, after an earlier answer) is valid as it
// is: a face that shows every field at once may show it anyway.
func (f *FormField) Validate() error {
	if f.Skipped() {
		return nil
	}
	a := f.Answer()
	if strings.TrimSpace(a) == "" {
		if f.Optional {
			return nil
		}
		if f.Kind == MultiSelectField {
			return errors.New("choose at least one")
		}
		return errors.New("an answer is needed")
	}
	if f.Check != nil {
		return f.Check(a)
	}
	return nil
}

// Skipped reports whether the field is left out now.
func (f *FormField) Skipped() bool { return f.Skip != nil && f.Skip() }

// A Form is one step's fields, asked together. Faces show every field,
// let the person move back to earlier fields (Shift-Tab in the TUI, "<" in
// the plain face) and return only when every field passes Validate.
type Form struct {
	Step   string // the step's short name, for the step list
	Title  string
	Text   string // an introduction, may span lines
	Fields []*FormField
}

// Field returns the field named key, or nil.
func (f *Form) Field(key string) *FormField {
	for _, fl := range f.Fields {
		if fl.Key == key {
			return fl
		}
	}
	return nil
}

// FormUI is implemented by faces that show a whole form at once.
type FormUI interface {
	// Form asks every field of f that is not skipped, storing the answers
	// in the fields; opts are the select fields' options, by key. It
	// returns ErrBack when the person goes back from the first field, and
	// ErrCancelled when they cancel.
	Form(f *Form, opts map[string][]Option) error
}

// StepsUI is implemented by faces that show the flow's step list.
type StepsUI interface {
	// Steps shows the flow's steps, current being the one under way
	// (len(steps) when all are done).
	Steps(steps []string, current int)
}

// AskForm asks f through ui: as a whole form when ui is a [FormUI], else
// one question at a time through ui's AskText and Choose (a face without
// forms then cannot go back).
//
// The select fields' options are computed first; when they cannot be had
// (no token found), the problem is shown and AskForm returns ErrBack.
func AskForm(ui UI, f *Form) error {
	opts, err := FormOptions(f)
	if err != nil {
		ui.Show(Message{Kind: Error, Title: f.Title, Text: err.Error()})
		return ErrBack
	}
	if fu, ok := ui.(FormUI); ok {
		if err := fu.Form(f, opts); err != nil {
			return err
		}
		for _, fl := range f.Fields {
			if fl.Kind == PathField {
				fl.Value = ExpandHome(fl.Value)
			}
		}
		return nil
	}
	if f.Title != "" || f.Text != "" {
		ui.Show(Message{Kind: Info, Title: f.Title, Text: f.Text})
	}
	for _, fl := range f.Fields {
		if fl.Skipped() {
			continue
		}
		if err := askField(ui, fl, opts[fl.Key]); err != nil {
			return err
		}
	}
	return nil
}

// maxFieldAttempts bounds how often a field is asked again by AskForm.
const maxFieldAttempts = 5

func askField(ui UI, fl *FormField, opts []Option) error {
	for attempt := 0; attempt < maxFieldAttempts; attempt++ {
		if err := askOnce(ui, fl, opts); err != nil {
			return err
		}
		err := fl.Validate()
		if err == nil {
			return nil
		}
		ui.Show(Message{Kind: Error, Text: err.Error()})
	}
	return fmt.Errorf("%w: %s", ErrTooManyAttempts, fl.Title)
}

func askOnce(ui UI, fl *FormField, opts []Option) error {
	switch fl.Kind {
	case SelectField, MultiSelectField:
		labels := make([]string, len(opts))
		for i, o := range opts {
			labels[i] = o.Label
		}
		if fl.Kind == SelectField {
			i, err := ui.Choose(fl.Title, labels)
			if err != nil {
				return err
			}
			fl.Value = opts[i].Value
			return nil
		}
		a, err := ui.AskText(fl.Title + " (numbers separated by spaces, or all)\n" + numbered(labels))
		if err != nil {
			return err
		}
		fl.Values, err = PickOptions(a, opts)
		if err != nil {
			ui.Show(Message{Kind: Error, Text: err.Error()})
			fl.Values = nil
		}
		return nil
	}
	a, err := ui.AskText(fl.Title)
	if err != nil {
		return err
	}
	fl.Value = strings.TrimSpace(a)
	if fl.Kind == PathField {
		fl.Value = ExpandHome(fl.Value)
	}
	return nil
}

// ExpandHome turns a leading ~ or ~/ of a path into the home directory.
func ExpandHome(p string) string {
	p = strings.TrimSpace(p)
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~"))
}

// FormOptions computes the options of f's select fields that are asked
// (not skipped), for faces that need them before showing the form. A field
// whose options cannot be had gives an error naming it.
func FormOptions(f *Form) (map[string][]Option, error) {
	out := map[string][]Option{}
	for _, fl := range f.Fields {
		if fl.Skipped() || (fl.Kind != SelectField && fl.Kind != MultiSelectField) {
			continue
		}
		opts, err := fieldOptions(fl)
		if err != nil {
			return nil, err
		}
		out[fl.Key] = opts
	}
	return out, nil
}

// fieldOptions calls fl.Options, refusing an empty list.
func fieldOptions(fl *FormField) ([]Option, error) {
	if fl.Options == nil {
		return nil, fmt.Errorf("ceremony: field %q has no options", fl.Key)
	}
	opts, err := fl.Options()
	if err != nil {
		return nil, err
	}
	if len(opts) == 0 {
		return nil, fmt.Errorf("%w: nothing to choose from for %q", ErrNothingToChoose, fl.Title)
	}
	return opts, nil
}

// ErrNothingToChoose is returned when a select field has no options.
var ErrNothingToChoose = errors.New("ceremony: nothing to choose from")

func numbered(labels []string) string {
	var b strings.Builder
	for i, l := range labels {
		fmt.Fprintf(&b, "  %d) %s\n", i+1, l)
	}
	return strings.TrimRight(b.String(), "\n")
}

// PickOptions reads a multi-select answer: option numbers from 1 separated
// by spaces or commas, ranges such as 2-4, or "all". It returns the chosen
// options' values, in the options' order, without repeats.
func PickOptions(answer string, opts []Option) ([]string, error) {
	answer = strings.TrimSpace(answer)
	if strings.EqualFold(answer, "all") {
		out := make([]string, len(opts))
		for i, o := range opts {
			out[i] = o.Value
		}
		return out, nil
	}
	chosen := make([]bool, len(opts))
	for _, tok := range strings.FieldsFunc(answer, func(r rune) bool { return r == ' ' || r == ',' }) {
		lo, hi, isRange := strings.Cut(tok, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 1 || b > len(opts) || a > b {
			return nil, fmt.Errorf("%q is not a number or range from 1 to %d", tok, len(opts))
		}
		for i := a; i <= b; i++ {
			chosen[i-1] = true
		}
	}
	var out []string
	for i, c := range chosen {
		if c {
			out = append(out, opts[i].Value)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("choose at least one")
	}
	return out, nil
}

// AskForms asks forms in order; ErrBack from a form goes back to the one
// before it (out of the sequence from the first).
func AskForms(ui UI, forms ...*Form) error {
	for i := 0; i < len(forms); {
		err := AskForm(ui, forms[i])
		switch {
		case err == nil:
			i++
		case errors.Is(err, ErrBack) && i > 0:
			i--
		default:
			return err
		}
	}
	return nil
}

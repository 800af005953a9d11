package plain

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/ceremony"
)

// maxAttempts bounds how often one field of a form is asked again after an
// answer it refused.
const maxAttempts = 5

// Answers with a meaning of their own in a form.
const (
	backAnswer  = "<" // back to the previous question
	clearAnswer = "-" // empties an optional field that holds an answer
)

// formHint is printed before the first form: how to keep an answer and how
// to go back.
const formHint = "(In forms, Enter keeps the answer shown in [brackets], and < goes back to the previous question.)"

// errPrevious is a field's answer "<": the form moves to the field before.
var errPrevious = errors.New("plain: back to the previous field")

// Form implements ceremony.FormUI, one question per line: the form's title
// and text, then each field that is not skipped, in order. A field shows
// its help and, for a select, its numbered options; its current answer is
// the default, in brackets, taken on an empty answer, so that the answers
// kept after a failure or a step back are offered again. Each answer is
// validated before the next field; a refused answer is asked again with
// the problem printed, up to maxAttempts times (then
// ceremony.ErrTooManyAttempts). "<" goes back to the previous field, and
// from the first one returns ceremony.ErrBack; end of input cancels.
func (u *UI) Form(f *ceremony.Form, opts map[string][]ceremony.Option) error {
	if !u.formHinted {
		fmt.Fprintln(u.out, formHint)
		u.formHinted = true
	}
	if f.Title != "" || f.Text != "" {
		u.Show(ceremony.Message{Kind: ceremony.Info, Title: f.Title, Text: f.Text})
	}
	for i := 0; i < len(f.Fields); {
		fl := f.Fields[i]
		if fl.Skipped() {
			i++
			continue
		}
		err := u.askField(fl, opts)
		switch {
		case err == nil:
			i++
		case errors.Is(err, errPrevious):
			j := i - 1
			for j >= 0 && f.Fields[j].Skipped() {
				j--
			}
			if j < 0 {
				return ceremony.ErrBack
			}
			i = j
		default:
			return err
		}
	}
	return nil
}

// askField asks fl until its answer passes Validate.
func (u *UI) askField(fl *ceremony.FormField, formOpts map[string][]ceremony.Option) error {
	var opts []ceremony.Option
	if fl.Kind == ceremony.SelectField || fl.Kind == ceremony.MultiSelectField {
		var err error
		if opts, err = fieldOptions(fl, formOpts); err != nil {
			// Nothing to choose from here: the problem is shown, and
			// the person is taken back to change an earlier answer.
			u.Show(ceremony.Message{Kind: ceremony.Error, Title: fl.Title, Text: err.Error()})
			return errPrevious
		}
	}
	// A refused answer does not replace the one before it, which stays
	// the default (Check runs again on it when it is kept).
	value, values := fl.Value, fl.Values
	for attempt := 0; attempt < maxAttempts; attempt++ {
		err := u.askOnce(fl, opts, attempt == 0)
		if errors.Is(err, errPrevious) || errors.Is(err, ceremony.ErrCancelled) {
			return err
		}
		if err == nil {
			err = fl.Validate()
		}
		if err != nil {
			u.Show(ceremony.Message{Kind: ceremony.Error, Text: err.Error()})
			fl.Value, fl.Values = value, values
			continue
		}
		if fl.Status != nil {
			if s := fl.Status(fl.Answer()); s != "" {
				u.Show(ceremony.Message{Kind: ceremony.Success, Text: s})
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %s", ceremony.ErrTooManyAttempts, fl.Title)
}

// fieldOptions are fl's options: those the engine computed, or, for a
// field that was skipped when it did, fl.Options now.
func fieldOptions(fl *ceremony.FormField, formOpts map[string][]ceremony.Option) ([]ceremony.Option, error) {
	if opts, ok := formOpts[fl.Key]; ok && len(opts) > 0 {
		return opts, nil
	}
	if fl.Options == nil {
		return nil, fmt.Errorf("plain: field %q has no options", fl.Key)
	}
	opts, err := fl.Options()
	if err != nil {
		return nil, err
	}
	if len(opts) == 0 {
		return nil, fmt.Errorf("%w: nothing to choose from for %q", ceremony.ErrNothingToChoose, fl.Title)
	}
	return opts, nil
}

// askOnce prints fl's question (its help the first time), reads one answer
// and stores it in fl. It returns errPrevious for "<", and an error for an
// answer that cannot be read as one (a number out of range).
func (u *UI) askOnce(fl *ceremony.FormField, opts []ceremony.Option, first bool) error {
	if fl.Kind == ceremony.SelectField || fl.Kind == ceremony.MultiSelectField {
		fmt.Fprintln(u.out, fl.Title)
	}
	if fl.Help != "" && first {
		for _, l := range strings.Split(fl.Help, "\n") {
			fmt.Fprintln(u.out, "  "+l)
		}
	}
	for i, o := range opts {
		fmt.Fprintf(u.out, "  %d) %s\n", i+1, o.Label)
	}
	def := defaultAnswer(fl, opts)
	var prompt string
	switch fl.Kind {
	case ceremony.SelectField:
		prompt = fmt.Sprintf("number (1-%d)", len(opts))
	case ceremony.MultiSelectField:
		prompt = fmt.Sprintf("numbers (1-%d), ranges such as 1-%d, or all", len(opts), len(opts))
	default:
		prompt = fl.Title
	}
	switch {
	case def != "" && fl.Optional:
		prompt += " [" + def + "; " + clearAnswer + " for none]"
	case def != "":
		prompt += " [" + def + "]"
	case fl.Optional:
		prompt += " (optional)"
	}
	fmt.Fprint(u.out, prompt+": ")
	a, err := u.line()
	if err != nil {
		return err
	}
	a = strings.TrimSpace(a)
	switch {
	case a == backAnswer:
		return errPrevious
	case a == "":
		keepDefault(fl, opts)
		return nil
	case a == clearAnswer && fl.Optional && def != "":
		fl.Value, fl.Values = "", nil
		return nil
	}
	switch fl.Kind {
	case ceremony.SelectField:
		labels := make([]string, len(opts))
		for i, o := range opts {
			labels[i] = o.Label
		}
		i, err := pick(a, labels)
		if err != nil {
			return err
		}
		fl.Value = opts[i].Value
	case ceremony.MultiSelectField:
		vs, err := ceremony.PickOptions(a, opts)
		if err != nil {
			return err
		}
		fl.Values = vs
	case ceremony.PathField:
		fl.Value = ceremony.ExpandHome(a)
	default:
		fl.Value = a
	}
	return nil
}

// defaultAnswer is fl's current answer as it would be typed: the text, the
// option's number, or the options' numbers with runs as ranges. An answer
// that is no longer among the options is no default.
func defaultAnswer(fl *ceremony.FormField, opts []ceremony.Option) string {
	switch fl.Kind {
	case ceremony.SelectField:
		for i, o := range opts {
			if o.Value == fl.Value {
				return strconv.Itoa(i + 1)
			}
		}
		return ""
	case ceremony.MultiSelectField:
		return numberRanges(chosen(fl.Values, opts))
	}
	return fl.Value
}

// keepDefault keeps fl's answer on an empty answer, dropping what is no
// longer among the options (then Validate asks for an answer).
func keepDefault(fl *ceremony.FormField, opts []ceremony.Option) {
	switch fl.Kind {
	case ceremony.SelectField:
		if defaultAnswer(fl, opts) == "" {
			fl.Value = ""
		}
	case ceremony.MultiSelectField:
		c := chosen(fl.Values, opts)
		var vs []string
		for i, ok := range c {
			if ok {
				vs = append(vs, opts[i].Value)
			}
		}
		fl.Values = vs
	}
}

// chosen marks the options whose values are in values.
func chosen(values []string, opts []ceremony.Option) []bool {
	c := make([]bool, len(opts))
	for i, o := range opts {
		for _, v := range values {
			c[i] = c[i] || v == o.Value
		}
	}
	return c
}

// numberRanges writes the marked option numbers (from 1) as PickOptions
// reads them: "1-3 5".
func numberRanges(c []bool) string {
	var parts []string
	for i := 0; i < len(c); i++ {
		if !c[i] {
			continue
		}
		j := i
		for j+1 < len(c) && c[j+1] {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", i+1, j+1))
		} else {
			parts = append(parts, strconv.Itoa(i+1))
		}
		i = j
	}
	return strings.Join(parts, " ")
}

// Steps implements ceremony.StepsUI: one line when the step changes, with
// the whole list when a flow starts.
func (u *UI) Steps(steps []string, current int) {
	var s string
	switch {
	case len(steps) == 0:
		return
	case current >= len(steps):
		s = fmt.Sprintf("[all %d steps done: %s]", len(steps), strings.Join(steps, ", "))
	case current == 0 || strings.Join(steps, "\x00") != u.lastStepList:
		s = fmt.Sprintf("[step %d of %d: %s; steps: %s]", current+1, len(steps), steps[current], strings.Join(steps, ", "))
	default:
		s = fmt.Sprintf("[step %d of %d: %s]", current+1, len(steps), steps[current])
	}
	u.lastStepList = strings.Join(steps, "\x00")
	if s != u.lastSteps {
		fmt.Fprintln(u.out, s)
		u.lastSteps = s
	}
}

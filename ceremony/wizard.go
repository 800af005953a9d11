package ceremony

import (
	"errors"
	"fmt"
	"strings"
)

// ErrStopped is returned when the person stops a flow after a failure was
// shown to them (with its hints): the faces do not show the failure again.
var ErrStopped = errors.New("ceremony: stopped after the failure shown above")

// A wizardStep is one step of a flow: it asks its forms and may act. It
// returns ErrBack to go to the previous step, or a restartAt to go to an
// earlier one.
type wizardStep struct {
	name string
	run  func() error
}

// restartAt sends the wizard back to step index, answers kept ("change the
// answers" after a failure or at the summary).
type restartAt int

func (r restartAt) Error() string { return fmt.Sprintf("ceremony: back to step %d", int(r)) }

// runWizard runs steps in order; ErrBack goes one step back (out of the flow
// from the first step), a restartAt to its step. The face's step list is
// kept current.
func (e *Engine) runWizard(steps []wizardStep) error {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.name
	}
	for i := 0; i < len(steps); {
		e.showSteps(names, i)
		err := steps[i].run()
		var to restartAt
		switch {
		case err == nil:
			i++
		case errors.As(err, &to):
			i = min(int(to), i)
		case errors.Is(err, ErrBack):
			if i == 0 {
				return err
			}
			i--
		default:
			return err
		}
	}
	e.showSteps(names, len(steps))
	return nil
}

func (e *Engine) showSteps(names []string, current int) {
	if s, ok := e.UI.(StepsUI); ok {
		s.Steps(names, current)
	}
}

// Choices after a failed action or at a summary.
const (
	choiceGo     = 0
	choiceChange = 1
	choiceStop   = 2
)

// afterFailure shows err in full, with its hints, and asks what to do:
// try again (nil), change the answers (restartAt first), or stop
// (ErrStopped).
func (e *Engine) afterFailure(title string, err error, first int) error {
	e.showFailure(title, err)
	i, aerr := e.UI.Choose("What now?", []string{
		"Try again",
		"Change the answers (back to the first form, answers kept)",
		"Stop here",
	})
	switch {
	case aerr != nil:
		return aerr
	case i == choiceChange:
		return restartAt(first)
	case i == choiceStop:
		return &StoppedError{Err: err}
	}
	return nil
}

// A StoppedError is returned when the person stops after a failure that
// was shown to them; it is ErrStopped, and keeps the failure in its chain
// (errors.Is finds hsm.ErrPINLocked in it) so that a face can choose its
// exit without showing the failure twice.
type StoppedError struct{ Err error }

func (e *StoppedError) Error() string { return ErrStopped.Error() + ": " + e.Err.Error() }

// Unwrap returns ErrStopped and the failure.
func (e *StoppedError) Unwrap() []error { return []error{ErrStopped, e.Err} }

// showFailure shows err and every hint along its chain, whole (never cut
// at the screen's width).
func (e *Engine) showFailure(title string, err error) {
	var fields []Field
	for _, h := range hints(err) {
		fields = append(fields, Field{Name: "hint", Value: h})
	}
	e.UI.Show(Message{Kind: Error, Title: title, Text: err.Error(), Fields: fields})
}

// summary shows a summary and asks whether to act: nil to act, a restartAt
// to change the answers, ErrNotConfirmed to stop.
func (e *Engine) summary(fields []Field, question, notDone string, first int) error {
	e.UI.Show(Message{Kind: Info, Title: "Summary", Fields: fields})
	i, err := e.UI.Choose(question, []string{"Yes, go ahead", "No, change the answers", "No, stop here"})
	switch {
	case err != nil:
		return err
	case i == choiceChange:
		return restartAt(first)
	case i == choiceStop:
		return fmt.Errorf("%w: %s", ErrNotConfirmed, notDone)
	}
	return nil
}

// checkWords compares the words the person typed (what the online side
// read out) with the fingerprint's words: at least min words, in order from
// the first, case and punctuation ignored.
func checkWords(typed, phrase string, minWords int) error {
	norm := func(s string) []string {
		return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
			return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
		})
	}
	got, want := norm(typed), norm(phrase)
	if len(got) < minWords {
		return fmt.Errorf("type at least the first %d words the online side reads out (%d typed)", minWords, len(got))
	}
	if len(got) > len(want) {
		return fmt.Errorf("%d words typed, but the fingerprint has %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("%w: word %d is %q here, but %q was typed: if the online side read %q, the files differ; stop and compare them",
				ErrWordsDiffer, i+1, want[i], got[i], got[i])
		}
	}
	return nil
}

// ErrWordsDiffer is returned (wrapped) when words typed back from the
// online side do not match.
var ErrWordsDiffer = errors.New("ceremony: the words differ")

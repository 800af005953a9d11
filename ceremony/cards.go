package ceremony

import (
	"errors"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/hsm"
)

// A cardWaiter finds custodians' cards one at a time in one module: each
// card must be one not seen before in the flow, so that a card left in the
// reader is not taken for the next custodian's.
type cardWaiter struct {
	e      *Engine
	module string
	seen   map[string]bool // by tokenKey
	// keepFresh leaves a card found unmarked, for the caller to mark once
	// it was used (a wrong PIN may then be tried again on the same card).
	keepFresh bool
}

func tokenKey(t TokenChoice) string { return t.Label + "\x00" + t.Serial }

// wait asks for who's card, and returns it once it is in the reader. When
// several new cards are present the person chooses; when none is, they are
// told so (and what is still inserted) and asked again.
func (w *cardWaiter) wait(who string) (TokenChoice, error) {
	for attempt := 0; attempt < w.e.maxAttempts(); attempt++ {
		i, err := w.e.UI.Choose(fmt.Sprintf("Insert %s's card, then go on", who),
			[]string{"The card is in the reader", "Stop here"})
		if err != nil {
			return TokenChoice{}, err
		}
		if i == 1 {
			return TokenChoice{}, fmt.Errorf("%w: waiting for %s's card", ErrNotConfirmed, who)
		}
		toks, err := w.e.Backends.Discovery.Tokens(w.module)
		if err != nil {
			w.e.showFailure("Listing the cards failed", err)
			continue
		}
		var fresh, old []TokenChoice
		for _, t := range toks {
			switch {
			case !t.Present:
			case w.seen[tokenKey(t)]:
				old = append(old, t)
			default:
				fresh = append(fresh, t)
			}
		}
		if t, ok, err := w.pick(who, fresh); err != nil || ok {
			return t, err
		}
		msg := "No new card is in the reader."
		if len(old) > 0 {
			msg += " Still inserted, already used in this flow: " + labels(old) + ": remove it."
		}
		w.e.UI.Show(Message{Kind: Warning, Text: msg})
	}
	return TokenChoice{}, fmt.Errorf("%w: %s's card", ErrTooManyAttempts, who)
}

// pick returns the only new card, or the one the person chooses among
// several; ok is false when there is none.
func (w *cardWaiter) pick(who string, fresh []TokenChoice) (TokenChoice, bool, error) {
	switch len(fresh) {
	case 0:
		return TokenChoice{}, false, nil
	case 1:
		return w.take(fresh[0]), true, nil
	}
	f := &FormField{Key: "card", Title: "Several new cards are present: which is " + who + "'s?", Kind: SelectField,
		Options: func() ([]Option, error) {
			var opts []Option
			for _, t := range fresh {
				opts = append(opts, Option{Label: t.String(), Value: tokenKey(t)})
			}
			return opts, nil
		}}
	if err := AskForm(w.e.UI, &Form{Title: "Card", Fields: []*FormField{f}}); err != nil {
		return TokenChoice{}, false, err
	}
	for _, t := range fresh {
		if tokenKey(t) == f.Value {
			return w.take(t), true, nil
		}
	}
	return TokenChoice{}, false, errors.New("ceremony: no such card")
}

// take shows the card found. Unless keepFresh, it is marked as used: it
// will not be taken for another custodian.
func (w *cardWaiter) take(t TokenChoice) TokenChoice {
	if !w.keepFresh {
		w.seen[tokenKey(t)] = true
	}
	w.e.UI.Show(Message{Kind: Info, Title: "Card found", Fields: []Field{
		{"token", t.Label}, {"serial", t.Serial}, {"made by", strings.TrimSpace(t.Manufacturer + " " + t.Model)}}})
	return t
}

// uri names the card's token in the waiter's module.
func (w *cardWaiter) uri(t TokenChoice) string {
	return (&hsm.URI{Token: t.Label, Serial: t.Serial, ModulePath: w.module}).String()
}

func labels(ts []TokenChoice) string {
	var s []string
	for _, t := range ts {
		s = append(s, fmt.Sprintf("%q (serial %s)", t.Label, t.Serial))
	}
	return strings.Join(s, ", ")
}

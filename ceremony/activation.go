package ceremony

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/securitydomain/sdop"
)

// activationForm holds the answers of the guided activation.
type activationForm struct {
	n, m, bits, out, module *FormField
}

func (e *Engine) newActivationForm() *activationForm {
	a := &activationForm{}
	a.n = &FormField{Key: "custodians", Title: "Number of custodians (N)", Value: "3",
		Help: fmt.Sprintf("%d to %d, each with their own card", securitydomain.MinCustodians, securitydomain.MaxCustodians),
		Check: func(s string) error {
			return checkRange(s, securitydomain.MinCustodians, securitydomain.MaxCustodians)
		}}
	a.m = &FormField{Key: "quorum", Title: "Quorum (M custodians needed to restore)", Value: "2",
		Help: "at least 2, at most N",
		Check: func(s string) error {
			n, _ := strconv.Atoi(a.n.Value)
			return checkRange(s, securitydomain.MinQuorum, max(securitydomain.MinQuorum, min(n, securitydomain.MaxQuorum)))
		}}
	a.bits = &FormField{Key: "bits", Title: "RSA key size", Kind: SelectField, Value: "2048",
		Options: func() ([]Option, error) {
			return []Option{{"RSA 2048 (what the az CLI's examples use)", "2048"}, {"RSA 3072", "3072"}, {"RSA 4096", "4096"}}, nil
		}}
	a.out = &FormField{Key: "out", Title: "Output directory (new)", Kind: PathField,
		Help:  "the certificates and the download request are written there",
		Check: func(p string) error { return newDirOutput(p) }}
	a.module = newModuleField(e, "PKCS#11 module of the custodians' cards")
	return a
}

func checkRange(s string, lo, hi int) error {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < lo || v > hi {
		return fmt.Errorf("a number from %d to %d", lo, hi)
	}
	return nil
}

// newDirOutput refuses an output directory that exists or whose parent does
// not, as the keygen does.
func newDirOutput(p string) error {
	if _, err := os.Lstat(p); err == nil {
		return fmt.Errorf("%s already exists; keyrite never overwrites: choose a new directory", p)
	}
	return checkNewOutput(p)
}

// ActivationKeys is the guided activation-key generation: N custodians'
// RSA keys made on their own cards, one card at a time ("insert custodian
// 2's card"; the card is found, its key made, never extractable, with a
// self-signed certificate; "remove the card"), then the security-domain
// download request written and recorded, as `keyrite sd keygen --token ...`
// does (package securitydomain/sdop).
func (e *Engine) ActivationKeys() error {
	if e.Backends.Discovery.Tokens == nil {
		return fmt.Errorf("%w: finding the custodians' cards", ErrNotAvailable)
	}
	e.UI.Show(Message{Kind: Heading, Title: "Activation: the custodians' keys, on their cards"})
	a := e.newActivationForm()
	var res *sdop.KeygenResult
	err := e.runWizard([]wizardStep{
		{"Custodians", func() error {
			return AskForm(e.UI, &Form{Title: "Custodians", Fields: []*FormField{a.n, a.m, a.bits, a.out, a.module}})
		}},
		{"Cards", func() error {
			if err := e.summary(a.summary(e.CeremonyDir), "Generate the keys now, card by card?", "the activation was not confirmed; nothing was done", 0); err != nil {
				return err
			}
			r, err := e.generateOnCards(a)
			res = r
			return err
		}},
	})
	if err != nil {
		return err
	}
	e.showActivation(res)
	return nil
}

func (a *activationForm) summary(ceremony string) []Field {
	return []Field{
		{"custodians", a.n.Value + " (a quorum of " + a.m.Value + " restores)"},
		{"keys", "RSA " + a.bits.Value + ", made on each custodian's card, never extractable"},
		{"module", a.module.Value},
		{"output", a.out.Value},
		{"ceremony", orNone(ceremony)},
	}
}

// generateOnCards makes each custodian's key while their card is in the
// reader, then writes and records the download request.
func (e *Engine) generateOnCards(a *activationForm) (*sdop.KeygenResult, error) {
	n, _ := strconv.Atoi(a.n.Value)
	m, _ := strconv.Atoi(a.m.Value)
	bits, _ := strconv.Atoi(a.bits.Value)
	w := &cardWaiter{e: e, module: a.module.Value, seen: map[string]bool{}}
	k, err := sdop.KeygenRequest{Custodians: n, Quorum: m, Bits: bits, OneAtATime: true,
		NextToken: func(i int) (string, error) {
			t, err := w.wait(fmt.Sprintf("custodian %d", i+1))
			return w.uri(t), err
		},
		Secrets: custodian.Options{PIN: func(prompt string) ([]byte, error) {
			return e.askSecret(strings.TrimSuffix(strings.TrimSpace(prompt), ":") + " (not shown)")
		}, Login: e.tokenLogin()},
		OutDir: a.out.Value, CeremonyDir: e.CeremonyDir, Actor: e.Actor, Guided: true, Rand: e.Rand}.Validate()
	if err != nil {
		return nil, err
	}
	defer k.Close()
	for len(k.Made()) < n {
		i := len(k.Made())
		e.UI.Progress("custodians' keys", i, n)
		e.UI.Show(Message{Kind: Heading, Title: fmt.Sprintf("Custodian %d of %d", i+1, n)})
		c, err := k.Generate()
		if err != nil {
			if err := e.afterCardFailure(err, i, len(k.Made()) > 0); err != nil {
				return nil, err
			}
			continue
		}
		e.UI.Show(Message{Kind: Success, Title: fmt.Sprintf("Custodian %d's key is on card %q", i+1, c.Token),
			Text:   "Remove the card now; the custodian reads the words below to the witness.",
			Fields: []Field{{"key", c.Key}, {"x5t#S256", c.X5T256}, {"words", WordLines(c.Words, 8)}}})
	}
	e.UI.Progress("custodians' keys", n, n)
	return k.Run()
}

// afterCardFailure shows a card's failure and asks whether to try that
// custodian again; after keys were made, stopping leaves them on their
// cards, and the person is told so.
func (e *Engine) afterCardFailure(err error, i int, made bool) error {
	if errors.Is(err, ErrCancelled) {
		return err
	}
	e.showFailure(fmt.Sprintf("Custodian %d's key was not made", i+1), err)
	stop := "Stop here"
	if made {
		stop = "Stop here (the keys made so far stay on their cards; nothing is written)"
	}
	c, aerr := e.UI.Choose("What now?", []string{fmt.Sprintf("Try custodian %d again", i+1), stop})
	switch {
	case aerr != nil:
		return aerr
	case c == 1:
		return &StoppedError{Err: err}
	}
	return nil
}

func (e *Engine) showActivation(res *sdop.KeygenResult) {
	fp := words.Sum(res.Request)
	fields := []Field{{"directory", res.OutDir}, {"request", res.RequestFile}, {"request SHA-256", fp.Hex()},
		{"request words", WordLines(fp.Short(), 8)}}
	for _, c := range res.Custodians {
		fields = append(fields, Field{fmt.Sprintf("custodian %d", c.Index+1), fmt.Sprintf("card %q, x5t#S256 %s", c.Token, c.X5T256)})
	}
	text := "Carry the directory to the online workstation for `keyrite-uploader sd download`."
	if res.Recorded {
		text += " The step is recorded in the ceremony."
	}
	e.UI.Show(Message{Kind: Success, Title: fmt.Sprintf("Activation keys made: %d custodians, quorum %d", len(res.Custodians), res.Quorum),
		Text: text, Fields: fields})
}

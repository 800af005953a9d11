package ceremony

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/internal/custody"
)

// CustodySplit is the guided custody split: a secret file split M-of-N,
// each share age-encrypted to its custodian (a recipient string, or a
// file holding one), as `keyrite custody split` does (package custody's
// SplitRequest), recorded in the ceremony.
func (e *Engine) CustodySplit() error {
	e.UI.Show(Message{Kind: Heading, Title: "Custody: split a secret to custodians"})
	in := &FormField{Key: "in", Title: "Secret file", Kind: PathField,
		Help: "its bytes exactly; it is read once and cleared from memory"}
	recips := &FormField{Key: "recipients", Title: "Recipients, one per custodian (separated by spaces)",
		Help: "age recipients (age1…), SSH public keys in files, or files holding one",
		Check: func(s string) error {
			for i, r := range strings.Fields(s) {
				if _, err := custody.LoadRecipient(r, nil); err != nil {
					return fmt.Errorf("recipient %d: %w", i+1, err)
				}
			}
			return nil
		},
		Status: func(s string) string { return fmt.Sprintf("%d recipients", len(strings.Fields(s))) }}
	m := &FormField{Key: "threshold", Title: "Threshold (M shares recombine the secret)", Value: "2",
		Check: func(s string) error {
			return checkRange(s, custody.MinThreshold, max(custody.MinThreshold, len(strings.Fields(recips.Value))))
		}}
	out := &FormField{Key: "out", Title: "Output directory for the shares (new)", Kind: PathField, Check: newDirOutput}
	return e.runWizard([]wizardStep{
		{"Split", func() error {
			return AskForm(e.UI, &Form{Title: "Split", Fields: []*FormField{in, recips, m, out}})
		}},
		{"Write", func() error {
			n := len(strings.Fields(recips.Value))
			if err := e.summary([]Field{{"secret", in.Value}, {"split", fmt.Sprintf("%s of %d", m.Value, n)},
				{"output", out.Value}, {"ceremony", orNone(e.CeremonyDir)}}, "Split now?", "the split was not confirmed; nothing was done", 0); err != nil {
				return err
			}
			t, _ := strconv.Atoi(m.Value)
			req := custody.SplitRequest{In: in.Value, Threshold: t, Recipients: strings.Fields(recips.Value),
				Out: out.Value, CeremonyDir: e.CeremonyDir, Actor: e.Actor}
			for {
				res, err := runSplit(req)
				if err == nil {
					e.showSplit(res)
					return nil
				}
				if err := e.afterFailure("The split failed; nothing was written", err, 0); err != nil {
					return err
				}
			}
		}},
	})
}

func (e *Engine) showSplit(res *custody.SplitResult) {
	fields := []Field{{"directory", res.Out}, {"split id", res.Manifest.SplitID},
		{"threshold", fmt.Sprintf("%d of %d", res.Manifest.Threshold, res.Manifest.Shares)}}
	for _, f := range res.Manifest.Files {
		fields = append(fields, Field{fmt.Sprintf("share %d", f.Index), fmt.Sprintf("%s for %s (%s)", f.File, shortRecipient(f.Recipient), f.Kind)})
	}
	text := "Hand each share file to its custodian."
	if res.Recorded {
		text += " The step is recorded in the ceremony."
	}
	e.UI.Show(Message{Kind: Success, Title: "Secret split", Text: text, Fields: fields})
}

func shortRecipient(r string) string {
	if len(r) > 24 {
		return r[:16] + "…" + r[len(r)-6:]
	}
	return r
}

// CustodyCombine is the guided custody combine: the shares a split wrote,
// opened with the custodians' identity files, recombined and checked
// against the split's commitment, written to a new file, as `keyrite
// custody combine` does (package custody's CombineRequest).
func (e *Engine) CustodyCombine() error {
	e.UI.Show(Message{Kind: Heading, Title: "Custody: recombine a split secret"})
	var manifest *custody.Manifest
	shares := &FormField{Key: "shares", Title: "Shares directory (what the split wrote)", Kind: PathField,
		Check: func(p string) error {
			mf, err := custody.ReadManifest(p)
			if err == nil {
				manifest = mf
			}
			return err
		},
		Status: func(string) string {
			if manifest == nil {
				return ""
			}
			return fmt.Sprintf("split %s: %d of %d shares recombine it", manifest.SplitID, manifest.Threshold, manifest.Shares)
		}}
	ids := &FormField{Key: "identities", Title: "Identity files of the custodians present (separated by spaces)",
		Help: "age identity files, SSH private keys, or plugin identities; encrypted ones ask their passphrase"}
	out := &FormField{Key: "out", Title: "Output file for the secret (new, mode 0600)", Kind: PathField, Check: checkNewOutput}
	pass := func(prompt string) ([]byte, error) { return e.askSecretText(prompt) }
	return e.runWizard([]wizardStep{
		{"Combine", func() error {
			return AskForm(e.UI, &Form{Title: "Combine", Fields: []*FormField{shares, ids, out}})
		}},
		{"Write", func() error {
			req := custody.CombineRequest{Shares: shares.Value, Identities: strings.Fields(ids.Value), Passphrase: pass,
				Out: out.Value, CeremonyDir: e.CeremonyDir, Actor: e.Actor}
			for {
				res, err := runCombine(req)
				if err == nil {
					e.UI.Show(Message{Kind: Success, Title: "Secret recombined and checked against the split's commitment", Fields: []Field{
						{"file", res.Out}, {"shares used", fmt.Sprint(res.Used)}, {"recorded", strconv.FormatBool(res.Recorded)}}})
					return nil
				}
				if err := e.afterFailure("The combine failed; nothing was written", err, 0); err != nil {
					return err
				}
			}
		}},
	})
}

// askSecretText asks a passphrase (not a PIN: any characters).
func (e *Engine) askSecretText(prompt string) ([]byte, error) {
	b, err := e.UI.AskSecret(strings.TrimSuffix(strings.TrimSpace(prompt), ":") + " (not shown)")
	if err != nil {
		secret.Wipe(b)
		return nil, err
	}
	return b, nil
}

func runSplit(req custody.SplitRequest) (*custody.SplitResult, error) {
	op, err := req.Validate()
	if err != nil {
		return nil, err
	}
	defer op.Close()
	return op.Run()
}

func runCombine(req custody.CombineRequest) (*custody.CombineOutcome, error) {
	op, err := req.Validate()
	if err != nil {
		return nil, err
	}
	defer op.Close()
	return op.Run()
}

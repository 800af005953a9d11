package ceremony

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/signop"
)

// Roles a signer may sign in, as the guided closing offers them.
var signRoles = []string{"operator", "witness", "custodian", "auditor"}

// CloseCeremony is the closing step: the operator and witnesses sign the
// ceremony's current state one after another (package transcripts/signop,
// which `keyrite transcript sign` runs too) until the trust policy is met,
// when the ceremony is "ready for the online side". Without a trust file
// each signature is made, and the state is shown as signed but unchecked.
func (e *Engine) CloseCeremony() error {
	if e.CeremonyDir == "" {
		return fmt.Errorf("%w: no ceremony directory to sign (start keyrite with --ceremony DIR)", ErrNotConfirmed)
	}
	e.UI.Show(Message{Kind: Heading, Title: "Close the ceremony: signatures",
		Text: "Each signer signs the ceremony's current state with their key: a PEM file, or a pkcs11: URI of a key on their token."})
	c := newCloseForm()
	return e.runWizard([]wizardStep{{"Sign", func() error { return e.signLoop(c) }}})
}

type closeForm struct {
	key, role, trust *FormField
}

func newCloseForm() *closeForm {
	c := &closeForm{}
	c.key = &FormField{Key: "sign-key", Title: "Signing key", Kind: PathField,
		Help: "a PEM file (PKCS#8 Ed25519 or ECDSA P-256), or a pkcs11: URI with module-path of a key on a token",
		Check: func(s string) error {
			if strings.HasPrefix(s, "pkcs11:") {
				return nil // checked with the token, before the PIN
			}
			_, err := readInput(s, "signing key", signop.MaxKeyFile)
			return err
		}}
	c.role = &FormField{Key: "role", Title: "Role you sign in", Kind: SelectField, Optional: true,
		Options: func() ([]Option, error) {
			opts := []Option{{Label: "the trust file's role for this key (operator without a trust file)", Value: ""}}
			for _, r := range signRoles {
				opts = append(opts, Option{Label: r, Value: r})
			}
			return opts, nil
		}}
	c.trust = &FormField{Key: "trust", Title: "Trust file (names the signers and the policy)", Kind: PathField, Optional: true,
		Help: "empty: sign without one (the online side's trust file decides)",
		Check: func(s string) error {
			_, err := transcripts.ReadTrust(s)
			return err
		}}
	return c
}

// signLoop asks for a signer, signs, and shows the policy's state; it asks
// for the next signer until the policy is met or the person is done.
func (e *Engine) signLoop(c *closeForm) error {
	for {
		e.showCeremonyState()
		if err := AskForm(e.UI, &Form{Step: "Sign", Title: "Signer", Fields: []*FormField{c.key, c.trust, c.role}}); err != nil {
			return err
		}
		res, err := e.signOnce(c)
		if err != nil {
			if errors.Is(err, ErrCancelled) {
				return err
			}
			if err := e.afterFailure("Signing failed; nothing was written", err, 0); err != nil {
				var to restartAt
				if errors.As(err, &to) {
					continue
				}
				return err
			}
			continue
		}
		e.showSigned(res)
		if res.PolicyMet {
			e.UI.Show(Message{Kind: Success, Title: "Ready for the online side",
				Text: "The trust policy is met: carry the ceremony directory to the online workstation (`keyrite-uploader`)."})
			return nil
		}
		i, err := e.UI.Choose("Next?", []string{"Another signer signs now", "Done for now (the ceremony can be signed later)"})
		if err != nil || i == 1 {
			return err
		}
		c.key.Value, c.role.Value = "", ""
	}
}

func (e *Engine) signOnce(c *closeForm) (*signop.Result, error) {
	op, err := signop.Request{Dir: e.CeremonyDir, Key: c.key.Value, Role: c.role.Value, TrustFile: c.trust.Value,
		PIN: func(prompt string) ([]byte, error) {
			return e.askSecret(strings.TrimSuffix(strings.TrimSpace(prompt), ":") + " (not shown)")
		},
		Login: e.tokenLogin()}.Validate()
	if err != nil {
		return nil, err
	}
	defer op.Close()
	return op.Run()
}

func (e *Engine) showSigned(res *signop.Result) {
	fields := []Field{
		{"signer", fmt.Sprintf("%s (%s)", res.Signer, res.Role)},
		{"state", fmt.Sprintf("%d lines, root hash %s", res.Checkpoint.Size, res.Checkpoint.RootHash)},
		{"words", res.Words},
		{"key", fmt.Sprintf("%s (%s, key id %s)", res.VerifierKey, res.KeyType, res.KeyID)},
	}
	if p := res.Policy; p != nil {
		fields = append(fields, Field{"policy", policyLine(p)})
	} else {
		fields = append(fields, Field{"policy", "not checked here (no trust file): the online side's trust file decides"})
	}
	e.UI.Show(Message{Kind: Success, Title: "Signed", Text: "Read the words aloud: every signer of this state sees the same.", Fields: fields})
}

// policyLine says, role by role, how many signatures the policy needs and
// how many the best state has.
func policyLine(p *transcripts.PolicyReport) string {
	roles := make([]string, 0, len(p.Required))
	for r := range p.Required {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	var parts []string
	for _, r := range roles {
		parts = append(parts, fmt.Sprintf("%s %d of %d", r, p.Best[r], p.Required[r]))
	}
	st := "not met yet"
	if p.Met {
		st = "met"
	}
	return st + ": " + strings.Join(parts, ", ")
}

// showCeremonyState shows what the ceremony directory holds: its steps,
// its signatures, and the steps no signature covers yet.
func (e *Engine) showCeremonyState() {
	if e.CeremonyDir == "" {
		return
	}
	if _, err := os.Lstat(filepath.Join(e.CeremonyDir, transcripts.TranscriptFile)); errors.Is(err, fs.ErrNotExist) {
		return // a new ceremony: nothing recorded yet
	}
	rep, err := transcripts.Verify(e.CeremonyDir, nil)
	if rep == nil {
		if err != nil && !errors.Is(err, transcripts.ErrNotCeremony) {
			e.showFailure("The ceremony does not verify", err)
		}
		return
	}
	e.UI.Show(ceremonyState(rep, err))
}

// ceremonyState is the message that summarises a verified ceremony.
func ceremonyState(rep *transcripts.Report, verr error) Message {
	var steps []string
	for _, ev := range rep.Events {
		steps = append(steps, fmt.Sprintf("%d %s", ev.Seq, ev.Step))
	}
	fields := []Field{{"steps", fmt.Sprintf("%d recorded", len(rep.Events))}}
	if len(steps) > 0 {
		fields = append(fields, Field{"recorded", strings.Join(lastN(steps, 6), "\n")})
	}
	for _, cp := range rep.Checkpoints {
		var who []string
		for _, s := range cp.Signatures {
			v := s.Name + " (" + s.Role + ")"
			if !s.Valid {
				v += " INVALID"
			}
			who = append(who, v)
		}
		fields = append(fields, Field{"signed", fmt.Sprintf("at %d lines by %s", cp.Size, strings.Join(who, ", "))})
	}
	msg := Message{Kind: Info, Title: "Ceremony " + rep.Dir, Fields: fields}
	last := int64(0)
	if n := len(rep.Checkpoints); n > 0 {
		last = rep.Checkpoints[n-1].Size
	}
	if len(rep.Checkpoints) > 0 && rep.Lines > last {
		msg.Kind = Warning
		msg.Text = fmt.Sprintf("%d lines were recorded after the last signature: they are not covered; the signers must sign again.", rep.Lines-last)
	}
	if verr != nil {
		msg.Kind = Warning
		msg.Text = strings.TrimSpace(msg.Text + "\n" + verr.Error())
	}
	return msg
}

func lastN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append([]string{fmt.Sprintf("… %d earlier", len(s)-n)}, s[len(s)-n:]...)
}

// checkCeremonyDir accepts a directory that does not exist yet (its parent
// does), an empty one, or a ceremony; a non-empty directory that holds no
// transcript is refused, so that no output lands among unrelated files.
func checkCeremonyDir(s string) error {
	st, err := os.Stat(s)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Dir(s)); err != nil {
			return fmt.Errorf("the parent directory of %s does not exist", s)
		}
		return nil
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s exists and is not a directory", s)
	}
	if _, err := os.Stat(filepath.Join(s, transcripts.TranscriptFile)); err == nil {
		return nil
	}
	ents, err := os.ReadDir(s)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%s holds files but no %s: it is no ceremony; choose a new or empty directory", s, transcripts.TranscriptFile)
	}
	return nil
}

package ceremony

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/securitydomain/sdop"
)

// SDRestore is the guided security-domain restore: the SD file, the
// exchange key (confirmed by its words), the output, then one custodian at a
// time ("custodian 2 of 3: insert your card"), each share opened as soon as
// its key is there so that the card can be removed; then the restore of
// package sdop, which `keyrite sd restore` runs too: the blob is checked,
// recorded, written and read back.
func (e *Engine) SDRestore() error {
	e.UI.Show(Message{Kind: Heading, Title: "Security-domain restore"})
	sdf, err := e.askSD()
	if err != nil {
		return err
	}
	sd := sdf.SD
	e.UI.Show(Message{Kind: Heading, Title: "Exchange key",
		Text: "The exchange key certificate is what `az keyvault security-domain init-recovery` wrote on the online side."})
	var exch *sdop.ExchangeKey
	_, err = e.askValid("Exchange key file (PEM certificate or transfer-key JSON)", false, func(p string) (err error) {
		exch, err = sdop.ReadExchangeKey(p)
		return err
	})
	if err != nil {
		return err
	}
	fp := words.Sum(exch.Cert.Raw)
	e.UI.Show(Message{Kind: Info, Title: "Check the exchange key with the online side",
		Text: "The person at the online workstation reads out the exchange key's words (`keyrite-uploader sd exchange-key` prints them).", Fields: []Field{
			{"subject", exch.Cert.Subject.String()},
			{"x5t#S256", securitydomain.X5T256(exch.Cert)},
			{"SHA-256", fp.Hex()},
			{"words", WordLines(fp.Words(), 8)},
		}})
	if err := e.typeBackWords("exchange-key-words", "Exchange key words", fp.Words()); err != nil {
		return err
	}
	out, err := e.askValid("Output restore blob file (.json)", false, sdop.CheckOutput)
	if err != nil {
		return err
	}
	e.UI.Show(Message{Kind: Info, Title: "Summary", Fields: []Field{
		{"security domain", fmt.Sprintf("%s (%d of %d custodians needed)", sdf.Path, sd.Required, len(sd.Shares))},
		{"exchange key", fp.Short()},
		{"output", out},
		{"ceremony", orNone(e.CeremonyDir)},
	}})
	if err := e.confirm("Call the custodians one at a time now?", "the restore was not confirmed; nothing was done"); err != nil {
		return err
	}

	op, err := sdop.RestoreRequest{SD: sdf.Path, ExchangeKey: exch.Path, Out: out, CeremonyDir: e.CeremonyDir,
		Actor: e.Actor, Guided: true, Rand: e.rand()}.Validate()
	if err != nil {
		return fmt.Errorf("ceremony: restore: %w", err)
	}
	defer op.Close()
	if err := unchanged(sdf.Path, sdf.Data, op.SD().Data); err != nil {
		return err
	}
	if err := unchanged(exch.Path, exch.Cert.Raw, op.ExchangeKey().Cert.Raw); err != nil {
		return err
	}
	if _, err := e.collectCustodians(op, sd, sd.Required, false); err != nil {
		return err
	}
	res, err := op.Run()
	if err != nil {
		e.showRunFailure(err)
		return fmt.Errorf("ceremony: restore: %w", err)
	}
	e.showRecorded(res.Recorded)
	bfp := words.Sum(res.Blob)
	fields := []Field{{"file", res.Out}, {"SHA-256", bfp.Hex()}, {"words", WordLines(bfp.Words(), 8)}}
	for _, p := range res.Payloads {
		fields = append(fields, Field{"entry", fmt.Sprintf("%s (%d bytes)", p.Tag, p.Size)})
	}
	e.UI.Show(Message{Kind: Success, Title: "Restore blob written",
		Text: "Carry it to the online workstation for `keyrite-uploader sd upload`.", Fields: fields})
	return nil
}

// unchanged refuses an input that changed on disk between the question
// that showed it and the step's own reading of it.
func unchanged(path string, shown, read []byte) error {
	if !bytes.Equal(shown, read) {
		return fmt.Errorf("ceremony: %s changed after it was shown; nothing was done: start again", path)
	}
	return nil
}

// showRunFailure tells the person what a failed run left.
func (e *Engine) showRunFailure(err error) {
	switch {
	case errors.Is(err, sdop.ErrNotWritten):
		e.UI.Show(Message{Kind: Error, Title: "the step was recorded, but its output was not written", Text: err.Error()})
	case errors.Is(err, sdop.ErrRecord):
		e.UI.Show(Message{Kind: Error, Title: "the step could not be recorded; nothing was written", Text: err.Error()})
	}
}

func (e *Engine) showRecorded(recorded bool) {
	if recorded {
		e.UI.Show(Message{Kind: Info, Text: "Recorded in the ceremony transcript (" + e.CeremonyDir + ")."})
	}
}

// Drill is the guided quorum drill: custodians come one at a time and each
// share is opened; then the drill of package sdop, which `keyrite sd verify`
// runs too, checks every quorum and every EncData entry. Nothing is written
// except, with a ceremony, the step's record.
func (e *Engine) Drill() error {
	e.UI.Show(Message{Kind: Heading, Title: "Quorum drill", Text: "Proves the custodians present can restore the security domain. Nothing secret is written."})
	sdf, err := e.askSD()
	if err != nil {
		return err
	}
	sd := sdf.SD
	if err := e.confirm(fmt.Sprintf("Call the custodians one at a time now (%d needed, up to %d)?", sd.Required, len(sd.Shares)), "the drill was not confirmed"); err != nil {
		return err
	}
	op, err := sdop.DrillRequest{SD: sdf.Path, CeremonyDir: e.CeremonyDir, Actor: e.Actor, Guided: true}.Validate()
	if err != nil {
		return fmt.Errorf("ceremony: drill: %w", err)
	}
	defer op.Close()
	if err := unchanged(sdf.Path, sdf.Data, op.SD().Data); err != nil {
		return err
	}
	failed, err := e.collectCustodians(op, sd, len(sd.Shares), true)
	if err != nil {
		return err
	}
	res, err := op.Run()
	if err != nil {
		e.showRunFailure(err)
		return fmt.Errorf("ceremony: drill: %w", err)
	}
	e.showRecorded(res.Recorded)
	rep := res.Report
	fields := drillFields(rep, failed)
	if !rep.OK {
		e.UI.Show(Message{Kind: Error, Title: "Drill FAILED", Text: strings.Join(rep.Problems, "\n"), Fields: fields})
		return fmt.Errorf("ceremony: quorum drill failed: %s", strings.Join(rep.Problems, "; "))
	}
	e.UI.Show(Message{Kind: Success, Title: "Drill passed: the security domain can be restored", Fields: fields})
	return nil
}

// drillFields shows a drill's report, with the keys that could not even be
// offered (failed).
func drillFields(rep *securitydomain.VerifyReport, failed []Field) []Field {
	var fields []Field
	for i, k := range rep.Keys {
		st := fmt.Sprintf("opened share %d (x=%d) with %s", k.Index+1, k.X, keyName(k.Custodian))
		if !k.Opened {
			st = fmt.Sprintf("NOT opened with %s: %s", keyName(k.Custodian), k.Error)
		}
		fields = append(fields, Field{fmt.Sprintf("key %d", i+1), st})
	}
	fields = append(fields, failed...)
	fields = append(fields,
		Field{"quorum", fmt.Sprintf("%d opened, %d required", rep.Opened, rep.Required)},
		Field{"subsets", fmt.Sprintf("%d checked, agree: %v", rep.Subsets, rep.Agree)})
	for _, d := range rep.Data {
		st := "authenticated"
		if !d.Authenticated {
			st = "FAILED: " + d.Error
		}
		fields = append(fields, Field{"entry " + d.Tag, st})
	}
	return fields
}

// keyName is how a report names a custodian's key: a token key by its
// token and object, not its whole URI (module path and all).
func keyName(name string) string {
	u, err := hsm.ParseURI(name)
	if err != nil {
		return name
	}
	parts := []string{}
	if u.Token != "" {
		parts = append(parts, fmt.Sprintf("token %q", u.Token))
	}
	if u.Serial != "" {
		parts = append(parts, "serial "+u.Serial)
	}
	switch {
	case u.Object != "":
		parts = append(parts, fmt.Sprintf("key %q", u.Object))
	case len(u.ID) > 0:
		parts = append(parts, fmt.Sprintf("key id %x", u.ID))
	}
	return strings.Join(parts, ", ")
}

func (e *Engine) askSD() (*sdop.SDFile, error) {
	var sdf *sdop.SDFile
	_, err := e.askValid("Security domain file (SD.json from `az keyvault security-domain download`)", false, func(p string) (err error) {
		sdf, err = sdop.ReadSD(p)
		return err
	})
	if err != nil {
		return nil, err
	}
	var tags []string
	for _, d := range sdf.SD.Data {
		tags = append(tags, d.Tag)
	}
	sum := sha256.Sum256(sdf.Data)
	e.UI.Show(Message{Kind: Info, Title: "Security domain", Fields: []Field{
		{"file", sdf.Path},
		{"SHA-256", fmt.Sprintf("%x", sum)},
		{"quorum", fmt.Sprintf("%d of %d custodians", sdf.SD.Required, len(sdf.SD.Shares))},
		{"entries", strings.Join(tags, ", ")},
	}})
	return sdf, nil
}

// A shareOpener is a validated restore or drill, taking custodians one at
// a time (sdop.Restore, sdop.Drill).
type shareOpener interface {
	Open(securitydomain.Custodian) (securitydomain.ShareStatus, error)
	Opened() int
}

// collectCustodians calls custodians one at a time until want shares are
// open (restore) or, for a drill, until the person says there are no more
// (up to want). Each share is opened while its key is present, so that a
// wrong card is caught at once and the card can be removed. It returns the
// keys that could not be offered at all (a file, password or PIN problem),
// which the drill's report does not list.
func (e *Engine) collectCustodians(op shareOpener, sd *securitydomain.SecurityDomain, want int, drill bool) ([]Field, error) {
	failedAt := map[int]Field{} // keys not offered, by custodian number; a later success clears
	failures := 0
	rc := &restoreCards{e: e, sd: sd}
	failed := func() []Field {
		var out []Field
		for n := 1; n <= want; n++ {
			if f, ok := failedAt[n]; ok {
				out = append(out, f)
			}
		}
		return out
	}
	for op.Opened() < want {
		n := op.Opened() + 1
		e.UI.Progress("custodians", op.Opened(), want)
		title := fmt.Sprintf("Custodian %d of %d: insert your card, or have your key file ready", n, want)
		if drill {
			title = fmt.Sprintf("Custodian %d (%d needed for a quorum, %d shares in all): insert your card, or have your key file ready", n, sd.Required, want)
		}
		e.UI.Show(Message{Kind: Heading, Title: title})
		st, err := e.openOne(op, rc, n)
		if err != nil {
			if errors.Is(err, ErrCancelled) || errors.Is(err, ErrNotAvailable) || errors.Is(err, ErrTooManyAttempts) {
				return failed(), err
			}
			e.showFailure(fmt.Sprintf("Custodian %d's share was not opened", n), err)
			if st.Custodian == "" { // not in the drill's report
				failedAt[n] = Field{fmt.Sprintf("custodian %d", n), "no key offered: " + err.Error()}
			}
			failures++
			if failures >= e.maxAttempts() {
				return failed(), fmt.Errorf("%w: custodian keys", ErrTooManyAttempts)
			}
			if drill {
				more, err := e.UI.Confirm("Try another key?")
				if err != nil {
					return failed(), err
				}
				if !more {
					break
				}
			}
			continue
		}
		delete(failedAt, n) // a retry that worked: no failure in the report
		e.UI.Progress("custodians", op.Opened(), want)
		e.UI.Show(Message{Kind: Success, Text: fmt.Sprintf("custodian %d: share opened (x=%d, %s); the card may be removed", n, st.X, st.Mechanism)})
		if drill && op.Opened() < want {
			more, err := e.UI.Confirm("Another custodian?")
			if err != nil {
				return failed(), err
			}
			if !more {
				break
			}
		}
	}
	return failed(), nil
}

// openOne asks for one custodian's key, opens it, and opens its share with
// op; the key is closed (the card may be removed) when it returns. A key
// that was tried and did not open a share has its status (op keeps it)
// with the error.
func (e *Engine) openOne(op shareOpener, rc *restoreCards, n int) (securitydomain.ShareStatus, error) {
	var none securitydomain.ShareStatus
	sources := []string{
		"on a smartcard or token (a pkcs11: URI with module-path)",
		"in a PEM key file, its certificate beside it (wrap_0.pem with wrap_0.cer)",
	}
	if rc.available() {
		sources = append([]string{"on a card in the reader (found for you)"}, sources...)
	}
	i, err := e.UI.Choose("Where is this custodian's wrapping key?", sources)
	if err != nil {
		return none, err
	}
	if rc.available() {
		i--
	}
	var c securitydomain.Custodian
	var closeKey func() error // ends the key's session: the card may be removed
	used := func() {}         // marks a card found in the reader as used
	if i < 0 {
		uri, markUsed, err := rc.keyOnCard(fmt.Sprintf("custodian %d", n))
		if err != nil {
			return none, err
		}
		used = markUsed
		c, closeKey, err = e.Backends.OpenCustodian(uri, e.askSecret, e.tokenLogin())
		if err != nil {
			return none, err
		}
	} else if i == 0 {
		if e.Backends.OpenCustodian == nil {
			e.UI.Show(Message{Kind: Error, Title: "smartcard and token keys are not available in this build",
				Text: "Use PEM key files, or `keyrite sd restore --wrapping-key pkcs11:...` when it is available."})
			return none, fmt.Errorf("%w: custodian keys on PKCS#11 tokens", ErrNotAvailable)
		}
		uri, err := e.askValid("PKCS#11 URI of the custodian's key", false, func(string) error { return nil })
		if err != nil {
			return none, err
		}
		c, closeKey, err = e.Backends.OpenCustodian(uri, e.askSecret, e.tokenLogin())
		if err != nil {
			return none, err
		}
	} else {
		path, err := e.askValid("Wrapping key file (PEM)", false, func(p string) error {
			if _, err := os.Stat(p); err != nil {
				return fmt.Errorf("%s: no such file", p)
			}
			if _, err := os.Stat(securitydomain.CertPathFor(p)); err != nil {
				return fmt.Errorf("its certificate %s is missing: put it beside the key", securitydomain.CertPathFor(p))
			}
			return nil
		})
		if err != nil {
			return none, err
		}
		// As `keyrite sd restore --wrapping-key FILE` loads it, the
		// password asked at once (and only if the key is encrypted).
		l := custodian.NewLoader(custodian.Options{Password: func(prompt string) ([]byte, error) {
			return e.askSecret(prompt + " (not shown)")
		}})
		closeKey = l.Close
		if c, err = l.Open(path); err != nil {
			l.Close()
			return none, err
		}
	}
	defer closeKey()
	st, err := op.Open(c)
	switch {
	case errors.Is(err, securitydomain.ErrDuplicateKey):
		return none, fmt.Errorf("%s: this custodian's share is already open (same certificate)", c.Name)
	case err != nil && st.Custodian != "":
		return st, fmt.Errorf("%s: %s", c.Name, st.Error)
	case err != nil:
		return none, fmt.Errorf("%s: %w", c.Name, err)
	}
	used()
	return st, nil
}

package ceremony

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyrite/keyrite/internal/fsx"
	"github.com/keyrite/keyrite/internal/secret"
	"github.com/keyrite/keyrite/internal/words"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
)

const maxSDFile = 8 << 20

// SDRestore is the guided security-domain restore: the SD file, the
// exchange key (confirmed by its words), the output, then one custodian at a
// time ("custodian 2 of 3: insert your card"), each share opened as soon as
// its key is there so that the card can be removed; then
// securitydomain.Restore, as `keyrite sd restore` runs it, and the blob is
// written, read back and shown.
func (e *Engine) SDRestore() error {
	e.UI.Show(Message{Kind: Heading, Title: "Security-domain restore"})
	sd, sdData, sdPath, err := e.askSD()
	if err != nil {
		return err
	}
	e.UI.Show(Message{Kind: Heading, Title: "Exchange key",
		Text: "The exchange key certificate is what `az keyvault security-domain init-recovery` wrote on the online side."})
	var exch *x509.Certificate
	_, err = e.askValid("Exchange key file (PEM certificate or transfer-key JSON)", false, func(p string) error {
		b, err := readInput(p, "exchange key file", 1<<20)
		if err != nil {
			return err
		}
		c, err := securitydomain.ParseExchangeKey(b)
		if err != nil {
			return fmt.Errorf("%s: %s", p, strings.TrimPrefix(err.Error(), "securitydomain: "))
		}
		exch = c
		return nil
	})
	if err != nil {
		return err
	}
	fp := words.Sum(exch.Raw)
	e.UI.Show(Message{Kind: Info, Title: "Check the exchange key with the online side", Fields: []Field{
		{"subject", exch.Subject.String()},
		{"x5t#S256", securitydomain.X5T256(exch)},
		{"SHA-256", fp.Hex()},
		{"words", WordLines(fp.Words(), 8)},
	}})
	if err := e.confirm("Do these words match what the online side read aloud?", "the exchange key was not confirmed; stop and check it with the online side"); err != nil {
		return err
	}
	out, err := e.askValid("Output restore blob file (.json)", false, checkNewOutput)
	if err != nil {
		return err
	}
	e.UI.Show(Message{Kind: Info, Title: "Summary", Fields: []Field{
		{"security domain", fmt.Sprintf("%s (%d of %d custodians needed)", sdPath, sd.Required, len(sd.Shares))},
		{"exchange key", fp.Short()},
		{"output", out},
		{"ceremony", orNone(e.CeremonyDir)},
	}})
	if err := e.confirm("Call the custodians one at a time now?", "the restore was not confirmed; nothing was done"); err != nil {
		return err
	}

	opened, _, err := e.collectCustodians(sd, sd.Required, false)
	defer wipeTapes(opened)
	if err != nil {
		return err
	}
	res, err := securitydomain.Restore(sd, exch, custodiansOf(opened), e.rand())
	if err != nil {
		return fmt.Errorf("ceremony: restore: %w", err)
	}
	blob := res.Blob.Marshal()
	if err := fsx.WriteNew(out, blob, 0o644); err != nil {
		return fmt.Errorf("ceremony: writing %s: %w", out, err)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, blob) {
		return fmt.Errorf("ceremony: %s read back differs from what was written", out)
	}
	if _, err := securitydomain.ParseRestoreBlob(got); err != nil {
		return fmt.Errorf("ceremony: %s read back: %w", out, err)
	}
	bfp := words.Sum(blob)
	// The same event as `keyrite sd restore --ceremony` records, so that
	// `keyrite-uploader sd upload --ceremony` finds the blob either way.
	certs := make([]*x509.Certificate, len(opened))
	for i := range opened {
		certs[i] = opened[i].c.Cert
	}
	ev := RestoreEvent(sdPath, sdData, sd, exch, certs, res, blob)
	ev.Action += " (guided)"
	if err := e.record(ev); err != nil {
		return err
	}
	fields := []Field{{"file", out}, {"SHA-256", bfp.Hex()}, {"words", WordLines(bfp.Words(), 8)}}
	for _, p := range res.Payloads {
		fields = append(fields, Field{"entry", fmt.Sprintf("%s (%d bytes)", p.Tag, p.Size)})
	}
	e.UI.Show(Message{Kind: Success, Title: "Restore blob written",
		Text: "Carry it to the online workstation for `keyrite-uploader sd upload`.", Fields: fields})
	return nil
}

// Drill is the guided quorum drill: custodians come one at a time and each
// share is opened; then securitydomain.Verify, as `keyrite sd verify` runs
// it, checks every quorum and every EncData entry. Nothing is written except
// the transcript record.
func (e *Engine) Drill() error {
	e.UI.Show(Message{Kind: Heading, Title: "Quorum drill", Text: "Proves the custodians present can restore the security domain. Nothing secret is written."})
	sd, sdData, sdPath, err := e.askSD()
	if err != nil {
		return err
	}
	if err := e.confirm(fmt.Sprintf("Call the custodians one at a time now (%d needed, up to %d)?", sd.Required, len(sd.Shares)), "the drill was not confirmed"); err != nil {
		return err
	}
	opened, failed, err := e.collectCustodians(sd, len(sd.Shares), true)
	defer wipeTapes(opened)
	if err != nil {
		return err
	}
	rep, err := securitydomain.Verify(sd, custodiansOf(opened))
	if err != nil {
		return fmt.Errorf("ceremony: verify: %w", err)
	}
	var fields []Field
	for _, k := range rep.Keys {
		st := "opened"
		if !k.Opened {
			st = "NOT opened: " + k.Error
		}
		fields = append(fields, Field{k.Custodian, st})
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
	result := "ok"
	if !rep.OK {
		result = "failed: " + strings.Join(rep.Problems, "; ")
	}
	rb, _ := jsonReport(rep)
	if err := e.record(transcripts.Event{
		Step:    "sd.verify",
		Action:  fmt.Sprintf("quorum drill: %d of %d shares opened, %d required", rep.Opened, rep.Shares, rep.Required),
		Inputs:  []transcripts.Artifact{transcripts.NewArtifact(filepath.Base(sdPath), transcripts.KindSecurityDomain, sdData)},
		Outputs: []transcripts.Artifact{transcripts.NewArtifact("drill_report_"+time.Now().UTC().Format("20060102T150405.000Z")+".json", transcripts.KindReport, rb)},
		Result:  result,
	}); err != nil {
		return err
	}
	if !rep.OK {
		e.UI.Show(Message{Kind: Error, Title: "Drill FAILED", Text: strings.Join(rep.Problems, "\n"), Fields: fields})
		return fmt.Errorf("ceremony: quorum drill failed: %s", strings.Join(rep.Problems, "; "))
	}
	e.UI.Show(Message{Kind: Success, Title: "Drill passed: the security domain can be restored", Fields: fields})
	return nil
}

func (e *Engine) askSD() (*securitydomain.SecurityDomain, []byte, string, error) {
	var sd *securitydomain.SecurityDomain
	var data []byte
	path, err := e.askValid("Security domain file (SD.json from `az keyvault security-domain download`)", false, func(p string) error {
		b, err := readInput(p, "security domain file", maxSDFile)
		if err != nil {
			return err
		}
		s, err := securitydomain.ParseSD(b)
		if err != nil {
			return fmt.Errorf("%s: %s", p, strings.TrimPrefix(err.Error(), "securitydomain: "))
		}
		sd, data = s, b
		return nil
	})
	if err != nil {
		return nil, nil, "", err
	}
	var tags []string
	for _, d := range sd.Data {
		tags = append(tags, d.Tag)
	}
	sum := sha256.Sum256(data)
	e.UI.Show(Message{Kind: Info, Title: "Security domain", Fields: []Field{
		{"file", path},
		{"SHA-256", fmt.Sprintf("%x", sum)},
		{"quorum", fmt.Sprintf("%d of %d custodians", sd.Required, len(sd.Shares))},
		{"entries", strings.Join(tags, ", ")},
	}})
	return sd, data, path, nil
}

// opened is one custodian whose share has been opened: the custodian as
// Restore and Verify will see it, replaying the decryption done while the
// card was present.
type opened struct {
	c    securitydomain.Custodian
	tape *tape
}

func custodiansOf(o []opened) []securitydomain.Custodian {
	cs := make([]securitydomain.Custodian, len(o))
	for i := range o {
		cs[i] = o[i].c
	}
	return cs
}

func wipeTapes(o []opened) {
	for _, x := range o {
		x.tape.wipe()
	}
}

// collectCustodians calls custodians one at a time until want shares are
// open (restore) or, for a drill, until the person says there are no more
// (up to want). Each share is opened while its key is present,
// with the securitydomain package's own share opening, so that a wrong card
// is caught at once and the card can be removed.
func (e *Engine) collectCustodians(sd *securitydomain.SecurityDomain, want int, drill bool) ([]opened, []Field, error) {
	var got []opened
	var failed []Field
	seen := map[string]bool{}
	failures := 0
	for len(got) < want {
		n := len(got) + 1
		e.UI.Progress("custodians", len(got), want)
		title := fmt.Sprintf("Custodian %d of %d: insert your card, or have your key file ready", n, want)
		if drill {
			title = fmt.Sprintf("Custodian %d (%d needed for a quorum, %d shares in all): insert your card, or have your key file ready", n, sd.Required, want)
		}
		e.UI.Show(Message{Kind: Heading, Title: title})
		o, err := e.openOne(sd, seen)
		if err != nil {
			if errors.Is(err, ErrCancelled) || errors.Is(err, ErrNotAvailable) || errors.Is(err, ErrTooManyAttempts) {
				return got, failed, err
			}
			e.UI.Show(Message{Kind: Error, Text: err.Error()})
			failed = append(failed, Field{fmt.Sprintf("custodian %d", n), "NOT opened: " + err.Error()})
			failures++
			if failures >= e.maxAttempts() {
				return got, failed, fmt.Errorf("%w: custodian keys", ErrTooManyAttempts)
			}
			if drill {
				more, err := e.UI.Confirm("Try another key?")
				if err != nil {
					return got, failed, err
				}
				if !more {
					break
				}
			}
			continue
		}
		got = append(got, *o)
		e.UI.Progress("custodians", len(got), want)
		e.UI.Show(Message{Kind: Success, Text: fmt.Sprintf("custodian %d: share opened (x=%d, %s); the card may be removed", n, o.tape.x, o.tape.mech)})
		if drill && len(got) < want {
			more, err := e.UI.Confirm("Another custodian?")
			if err != nil {
				return got, failed, err
			}
			if !more {
				break
			}
		}
	}
	return got, failed, nil
}

// openOne asks for one custodian's key, opens it, and opens its share.
func (e *Engine) openOne(sd *securitydomain.SecurityDomain, seen map[string]bool) (*opened, error) {
	i, err := e.UI.Choose("Where is this custodian's wrapping key?", []string{
		"on a smartcard or token (a pkcs11: URI with module-path)",
		"in a PEM key file, its certificate beside it (wrap_0.pem with wrap_0.cer)",
	})
	if err != nil {
		return nil, err
	}
	var c securitydomain.Custodian
	closeKey := func() error { return nil }
	if i == 0 {
		if e.Backends.OpenCustodian == nil {
			e.UI.Show(Message{Kind: Error, Title: "smartcard and token keys are not available in this build",
				Text: "Use PEM key files, or `keyrite sd restore --wrapping-key pkcs11:...` when it is available."})
			return nil, fmt.Errorf("%w: custodian keys on PKCS#11 tokens", ErrNotAvailable)
		}
		uri, err := e.askValid("PKCS#11 URI of the custodian's key", false, func(string) error { return nil })
		if err != nil {
			return nil, err
		}
		c, closeKey, err = e.Backends.OpenCustodian(uri, e.askSecret, e.tokenLogin())
		if err != nil {
			return nil, err
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
			return nil, err
		}
		c, err = e.softCustodian(path)
		if err != nil {
			return nil, err
		}
	}
	defer closeKey()
	x5t := securitydomain.X5T256(c.Cert)
	if seen[x5t] {
		return nil, fmt.Errorf("%s: this custodian's share is already open (same certificate)", c.Name)
	}
	t := &tape{}
	rec := securitydomain.Custodian{Name: c.Name, Cert: c.Cert, Key: recorder{c.Key, t}}
	o, err := sd.OpenShares([]securitydomain.Custodian{rec}, true)
	if o == nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	if len(o.Status) != 1 || !o.Status[0].Opened {
		o.Wipe()
		why := "no share opened"
		if len(o.Status) == 1 && o.Status[0].Error != "" {
			why = o.Status[0].Error
		}
		return nil, fmt.Errorf("%s: %s", c.Name, why)
	}
	t.x = o.Status[0].X
	t.mech = o.Status[0].Mechanism
	o.Wipe()
	seen[x5t] = true
	return &opened{c: securitydomain.Custodian{Name: c.Name, Cert: c.Cert, Key: replay{pub: c.Key.Public(), t: t}}, tape: t}, nil
}

// softCustodian reads a PEM wrapping key and its certificate as `keyrite sd
// restore --wrapping-key FILE` does, asking for a password only if the key
// is encrypted.
func (e *Engine) softCustodian(path string) (securitydomain.Custodian, error) {
	kb, err := readInput(path, "wrapping key", 1<<20)
	if err != nil {
		return securitydomain.Custodian{}, err
	}
	defer secret.Wipe(kb)
	cb, err := readInput(securitydomain.CertPathFor(path), "certificate", 1<<20)
	if err != nil {
		return securitydomain.Custodian{}, err
	}
	cert, err := securitydomain.ParseCertificate(cb)
	if err != nil {
		return securitydomain.Custodian{}, fmt.Errorf("%s: %w", securitydomain.CertPathFor(path), err)
	}
	key, err := securitydomain.ParsePrivateKeyPEM(kb, func() ([]byte, error) {
		return e.askSecret(fmt.Sprintf("Password for %s (not shown)", path))
	})
	if err != nil {
		return securitydomain.Custodian{}, fmt.Errorf("%s: %w", path, err)
	}
	if !securitydomain.SameRSAKey(cert.PublicKey, &key.PublicKey) {
		return securitydomain.Custodian{}, fmt.Errorf("%s: the key does not match its certificate %s", path, securitydomain.CertPathFor(path))
	}
	return securitydomain.Custodian{Name: path, Cert: cert, Key: securitydomain.SoftwareKey(key)}, nil
}

// A tape holds the one decryption a custodian's key did while present:
// the share's content-encryption key. It is secret; wipe clears it.
type tape struct {
	ct, pt []byte
	x      int
	mech   string
}

func (t *tape) wipe() {
	if t != nil {
		clear(t.pt)
	}
}

// recorder decrypts with the real key and keeps the result on the tape.
type recorder struct {
	d securitydomain.Decrypter
	t *tape
}

func (r recorder) Public() crypto.PublicKey { return r.d.Public() }
func (r recorder) Mechanism() string        { return securitydomain.MechanismOf(r.d) }
func (r recorder) DecryptOAEPSHA256(ct []byte) ([]byte, error) {
	pt, err := r.d.DecryptOAEPSHA256(ct)
	if err == nil {
		r.t.wipe()
		r.t.ct = bytes.Clone(ct)
		r.t.pt = bytes.Clone(pt)
	}
	return pt, err
}

// replay answers the same decryption again once the card is gone; any other
// ciphertext fails as a wrong key would.
type replay struct {
	pub crypto.PublicKey
	t   *tape
}

func (r replay) Public() crypto.PublicKey { return r.pub }
func (r replay) Mechanism() string        { return r.t.mech }
func (r replay) DecryptOAEPSHA256(ct []byte) ([]byte, error) {
	if r.t.pt == nil || !bytes.Equal(ct, r.t.ct) {
		return nil, fmt.Errorf("%w: this key was used for another share while present", securitydomain.ErrDecryption)
	}
	return bytes.Clone(r.t.pt), nil
}

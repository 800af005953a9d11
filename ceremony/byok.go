package ceremony

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
)

// Backends are the binary's PKCS#11 code paths, handed to the engine so that
// the guided flows run exactly what the subcommands run. A nil member makes
// the corresponding choice report "not available in this build".
type Backends struct {
	// Export exports a key as `keyrite byok export` does, for both key
	// sources (PKCS#11 URI or soft file), writing req.Out; the binary
	// passes [RunExport], which is also what a nil Export means.
	Export func(req ExportRequest) (*ExportResult, error)

	// OpenCustodian opens a custodian's wrapping key on a token named by a
	// PKCS#11 URI, as `keyrite sd restore --wrapping-key pkcs11:...` does
	// (package securitydomain/custodian); pin is called once, before the
	// login (after the certificate is read, unless the certificate can only
	// be found through the private key's CKA_ID), unless the URI has a
	// pin-source; login says how the token's PIN counter is treated (the
	// engine's: warnings shown, the final try asked as a second question).
	// An error of pin or of login's question itself (ErrCancelled) is
	// returned as it is. The returned close function ends the session (the
	// card may then be removed).
	OpenCustodian func(uri string, pin func(prompt string) ([]byte, error), login hsm.LoginOptions) (securitydomain.Custodian, func() error, error)
}

// ExportRequest is a validated BYOK export, ready to run.
type ExportRequest struct {
	KEK    *byok.KEK
	Source string // a PKCS#11 URI or a soft key file path
	PIN    []byte // for a PKCS#11 source; the backend clears it
	Out    string // the .byok path; does not exist
	Name   string // the key name in the vault ("" for the default)
	// CeremonyDir is where the backend records the step ("" for none).
	CeremonyDir string
	// Actor is recorded with the step (zero: the transcript's default).
	Actor transcripts.Actor
	// Login says how the token's PIN counter is treated (the engine's:
	// warnings shown, the final try asked as a second question).
	Login hsm.LoginOptions
}

// ExportResult is what an export produced.
type ExportResult struct {
	Blob   []byte // the .byok file as written
	Target string // e.g. "RSA-2048"
	Detail []Field
}

// BYOKExport is the guided BYOK export: KEK intake, key source, output,
// summary, PIN, export, read-back.
func (e *Engine) BYOKExport() error {
	e.UI.Show(Message{Kind: Heading, Title: "BYOK export"})
	steps := 5
	e.UI.Progress("BYOK export", 0, steps)
	kek, err := e.IntakeKEK()
	if err != nil {
		return err
	}
	e.UI.Progress("BYOK export", 1, steps)

	src, err := e.UI.Choose("Where is the key to export?", []string{
		"on a PKCS#11 HSM (a pkcs11: URI with module-path)",
		"in a key file (PEM private key, or raw AES key bytes)",
	})
	if err != nil {
		return err
	}
	var source, what, defName string
	var uri *hsm.URI
	var target *byok.Target
	defer func() {
		if target != nil {
			target.Wipe()
		}
	}()
	if src == 0 {
		source, err = e.askValid("PKCS#11 URI of the key, e.g. pkcs11:token=vendor;object=app-key?module-path=/usr/lib/softhsm/libsofthsm2.so", false, func(s string) error {
			u, err := hsm.ParseURI(s)
			if err != nil {
				return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "hsm: "))
			}
			if u.ModulePath == "" {
				return errors.New("the URI needs ?module-path=/path/to/the/pkcs11/module.so")
			}
			if u.PINSource != "" {
				return errors.New("pin-source is not used here: the PIN is asked for after the summary")
			}
			if _, err := os.Stat(u.ModulePath); err != nil {
				return fmt.Errorf("PKCS#11 module %s: no such file", u.ModulePath)
			}
			uri = u
			return nil
		})
		if err != nil {
			return err
		}
		what = fmt.Sprintf("key %q on token %q", uri.Object, uri.Token)
		defName = uri.Object
	} else {
		source, err = e.askValid("Key file", false, func(path string) error {
			b, err := readInput(path, "key file", 1<<20)
			if err != nil {
				return err
			}
			defer secret.Wipe(b)
			t, err := byok.ParseTargetFile(b)
			if err != nil {
				return fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "byok: "))
			}
			target = t
			return nil
		})
		if err != nil {
			return err
		}
		what = target.String() + " key from " + source
		defName = strings.TrimSuffix(filepath.Base(source), filepath.Ext(source))
	}
	e.UI.Progress("BYOK export", 2, steps)

	out, err := e.askValid("Output file (.byok)", false, func(p string) error {
		if !strings.HasSuffix(p, ".byok") {
			return errors.New("the output file name must end in .byok")
		}
		return checkNewOutput(p)
	})
	if err != nil {
		return err
	}
	name, err := e.askValid(fmt.Sprintf("Name of the key in the vault (empty: %s)", defName), true, func(s string) error {
		return checkKeyName(s)
	})
	if err != nil {
		return err
	}
	if name == "" {
		name = defName
	}
	e.UI.Progress("BYOK export", 3, steps)

	e.UI.Show(Message{Kind: Info, Title: "Summary", Fields: []Field{
		{"KEK", kek.Kid},
		{"KEK words", kek.Fingerprint().Short()},
		{"key", what},
		{"name", name},
		{"output", out},
		{"ceremony", orNone(e.CeremonyDir)},
	}})
	if err := e.confirm("Export now?", "the export was not confirmed; nothing was done"); err != nil {
		return err
	}

	run := e.Backends.Export
	if run == nil {
		run = RunExport
	}
	req := ExportRequest{KEK: kek, Source: source, Out: out, Name: name, CeremonyDir: e.CeremonyDir, Actor: e.Actor, Login: e.tokenLogin()}
	if uri != nil {
		pin, err := e.askSecret(fmt.Sprintf("PIN for token %q (not shown)", uri.Token))
		if err != nil {
			return err
		}
		req.PIN = pin
	}
	res, err := run(req)
	secret.Wipe(req.PIN)
	if err != nil {
		return fmt.Errorf("ceremony: export: %w", err)
	}
	e.UI.Progress("BYOK export", 4, steps)

	// Read back what was written and check it against the KEK.
	got, err := os.ReadFile(out)
	if err != nil {
		return fmt.Errorf("ceremony: reading back %s: %w", out, err)
	}
	if res.Blob != nil && !bytes.Equal(got, res.Blob) {
		return fmt.Errorf("ceremony: %s read back differs from what was written", out)
	}
	blob, err := byok.ParseBlob(got)
	if err != nil {
		return fmt.Errorf("ceremony: %s read back: %w", out, err)
	}
	if blob.Kid != kek.Kid {
		return fmt.Errorf("ceremony: %s read back: it names KEK %s, not %s", out, blob.Kid, kek.Kid)
	}
	d := blob.Describe(kek)
	if len(d.Problems) > 0 {
		// The export itself checked the ciphertext against the key it
		// wrapped; what `keyrite byok inspect` would say is shown too.
		e.UI.Show(Message{Kind: Warning, Title: "byok inspect reports", Text: strings.Join(d.Problems, "\n")})
	}
	e.UI.Progress("BYOK export", 5, steps)
	fields := []Field{
		{"file", out},
		{"SHA-256", d.Digest.Hex()},
		{"words", WordLines(d.Digest.Words(), 8)},
		{"KEK", blob.Kid},
	}
	fields = append(fields, res.Detail...)
	e.UI.Show(Message{Kind: Success, Title: "Exported " + res.Target,
		Text: "Carry the .byok file to the online workstation; read these words to the person there.", Fields: fields})
	return nil
}

// RunExport is a [Backends.Export] that runs the export of `keyrite byok
// export` (package byok/export) for one key, from a PKCS#11 URI or a soft
// key file: req.PIN, when set, is handed to it as a PIN read before the
// module is loaded (as --pin-file is), and cleared. Deviations (a
// rehearsal's) come back as "warning" details; an error carries its hints
// in its text, as "(hint: ...)".
func RunExport(req ExportRequest) (*ExportResult, error) {
	pin := req.PIN
	defer secret.Wipe(pin)
	xr := export.Request{KEK: req.KEK, Keys: []string{req.Source}, Out: req.Out, Name: req.Name,
		CeremonyDir: req.CeremonyDir, Actor: req.Actor, Login: req.Login}
	if pin != nil {
		xr.PINEarly = true
		xr.PIN = func(string) ([]byte, error) { return bytes.Clone(pin), nil }
	}
	res, err := export.Run(xr)
	if err != nil {
		if h := hints(err); len(h) > 0 {
			return nil, fmt.Errorf("%w (hint: %s)", err, strings.Join(h, "; "))
		}
		return nil, err
	}
	r := res.Keys[0]
	out := &ExportResult{Blob: r.Blob, Target: r.Target, Detail: []Field{
		{Name: "key", Value: r.Key},
		{Name: "name", Value: r.Name},
		{Name: "key_ops", Value: strings.Join(r.Ops, ",")},
		{Name: "mechanism", Value: r.Mechanism},
	}}
	if r.HSM != nil {
		out.Detail = append(out.Detail, Field{Name: "token", Value: fmt.Sprintf("%s (%s %s, serial %s)",
			r.HSM.Token.Label, r.HSM.Token.Manufacturer, r.HSM.Token.Model, r.HSM.Token.Serial)})
	}
	if r.Preflight != nil {
		st := "passed"
		if !r.Preflight.Passed {
			st = "FAILED (rehearsal): " + r.Preflight.Reason
		}
		out.Detail = append(out.Detail, Field{Name: "pre-flight", Value: st})
	}
	for _, d := range r.Deviations {
		out.Detail = append(out.Detail, Field{Name: "warning", Value: d})
	}
	return out, nil
}

// hints collects the hints attached along err's chain, outermost first
// (what the command line prints as "hint:" lines).
func hints(err error) []string {
	var out []string
	for ; err != nil; err = errors.Unwrap(err) {
		if h, ok := err.(interface{ Hints() []string }); ok {
			out = append(out, h.Hints()...)
		}
	}
	return out
}

func checkKeyName(s string) error {
	if len(s) < 1 || len(s) > 127 {
		return errors.New("a key name has 1 to 127 characters")
	}
	for _, c := range s {
		if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return fmt.Errorf("a key name has only letters, digits and hyphens; %q is not allowed", c)
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(not recorded)"
	}
	return s
}

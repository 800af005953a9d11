package ceremony

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/internal/base/words"
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
	// Discovery lists modules, tokens and objects to choose from.
	Discovery Discovery

	OpenCustodian func(uri string, pin func(prompt string) ([]byte, error), login hsm.LoginOptions) (securitydomain.Custodian, func() error, error)
}

// ExportRequest is a validated BYOK export, ready to run.
type ExportRequest struct {
	KEK *byok.KEK
	// Sources are PKCS#11 URIs (one token) or soft key file paths.
	Sources []string
	PIN     []byte // for PKCS#11 sources; the backend clears it
	// Out is the .byok path for one key, OutDir the directory (which does
	// not exist) for several, with one NAME.byok per key.
	Out, OutDir string
	Name        string // the key name in the vault, one key only ("" for the default)
	// CeremonyDir is where the backend records the step ("" for none).
	CeremonyDir string
	// Actor is recorded with the step (zero: the transcript's default).
	Actor transcripts.Actor
	// Login says how the token's PIN counter is treated (the engine's:
	// warnings shown, the final try asked as a second question).
	Login hsm.LoginOptions
	// Progress, when set, is called after each key is wrapped.
	Progress func(done, total int)
}

// ExportResult is what an export produced: one entry per key.
type ExportResult struct {
	Keys []ExportedKey
}

// An ExportedKey is one .byok file an export wrote.
type ExportedKey struct {
	Out    string
	Blob   []byte // the .byok file as written
	Target string // e.g. "RSA-2048"
	Detail []Field
}

// RunExport is a [Backends.Export] that runs the export of `keyrite byok
// export` (package byok/export), from PKCS#11 URIs or soft key files:
// req.PIN, when set, is handed to it as a PIN read before the module is
// loaded (as --pin-file is), and cleared. Deviations (a rehearsal's) come
// back as "warning" details. Errors keep their chain, hints included.
func RunExport(req ExportRequest) (*ExportResult, error) {
	pin := req.PIN
	defer secret.Wipe(pin)
	xr := export.Request{KEK: req.KEK, Keys: req.Sources, Out: req.Out, OutDir: req.OutDir, Name: req.Name,
		CeremonyDir: req.CeremonyDir, Actor: req.Actor, Login: req.Login, Progress: req.Progress}
	if pin != nil {
		xr.PINEarly = true
		xr.PIN = func(string) ([]byte, error) { return bytes.Clone(pin), nil }
	}
	res, err := export.Run(xr)
	if err != nil {
		return nil, err
	}
	out := &ExportResult{}
	for _, r := range res.Keys {
		out.Keys = append(out.Keys, ExportedKey{Out: r.Out, Blob: r.Blob, Target: r.Target, Detail: keyDetail(r)})
	}
	return out, nil
}

// keyDetail is what the result shows of one exported key: with the KCV of
// an AES key and the public key's fingerprint of an RSA or EC key, which
// the online side compares after the import.
func keyDetail(r export.KeyResult) []Field {
	d := []Field{
		{Name: "key", Value: r.Key},
		{Name: "name", Value: r.Name},
		{Name: "key_ops", Value: strings.Join(r.Ops, ",")},
		{Name: "mechanism", Value: r.Mechanism},
	}
	switch {
	case r.KCV != "":
		d = append(d, Field{Name: "KCV", Value: r.KCV})
	case r.KCVNote != "":
		d = append(d, Field{Name: "KCV", Value: r.KCVNote})
	}
	if r.PublicKey != nil {
		fp := words.Sum(r.PublicKey)
		d = append(d, Field{Name: "public key", Value: "SPKI SHA-256 " + fp.Hex()},
			Field{Name: "public words", Value: WordLines(fp.Short(), 8)})
	} else if r.PublicKeyNote != "" {
		d = append(d, Field{Name: "public key", Value: r.PublicKeyNote})
	}
	if r.HSM != nil {
		d = append(d, Field{Name: "token", Value: fmt.Sprintf("%s (%s %s, serial %s)",
			r.HSM.Token.Label, r.HSM.Token.Manufacturer, r.HSM.Token.Model, r.HSM.Token.Serial)})
	}
	if r.Preflight != nil {
		st := "passed"
		if !r.Preflight.Passed {
			st = "FAILED (rehearsal): " + r.Preflight.Reason
		}
		d = append(d, Field{Name: "pre-flight", Value: st})
	}
	for _, dv := range r.Deviations {
		d = append(d, Field{Name: "warning", Value: dv})
	}
	return d
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

func orNone(s string) string {
	if s == "" {
		return "(not recorded)"
	}
	return s
}

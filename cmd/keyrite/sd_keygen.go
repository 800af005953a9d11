package main

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

const sdKeygenHelp = `usage: keyrite sd keygen --quorum M --out-dir DIR (--token URI [--token URI]... [--custodians N] | --custodians N)
                        [--size 2048|3072|4096] [--label PREFIX] [--pin-env NAME | --pin-file PATH]
                        [--final-pin-try] [--ceremony DIR] [--json]

Activation: makes the custodians' RSA wrapping keys and self-signed
certificates, and the body of the security-domain download request, exactly as
'az keyvault security-domain download --sd-wrapping-keys ... --sd-quorum M'
builds it.

  --token URI        one custodian's token or smartcard, repeated once per custodian
                     (3..10), e.g. 'pkcs11:token=custodian1?module-path=/usr/lib/softhsm/libsofthsm2.so'.
                     The key pair is generated ON the token (sensitive, never
                     extractable, decrypt-only), its certificate is signed on the
                     token and stored there with the key's CKA_ID. object=LABEL in the
                     URI sets the key's label (default PREFIX-<n>). Each token's PIN is
                     asked on the terminal in turn (or --pin-env/--pin-file for all).
  --final-pin-try    try the PIN even on a token that reports that the next wrong PIN
                     locks it (else refused before any PIN is tried)
  --custodians N     the number of custodians. With --token, a check: it must equal
                     the number of --token given. Without --token: a rehearsal with
                     N (3..10) software keys, written as PEM files (PKCS#8, mode
                     0600). Not for production.
  --quorum M         shares needed to restore: 2..10, at most the number of custodians
  --size BITS        RSA modulus size: 2048 (default), 3072 or 4096
  --label PREFIX     key labels and certificate names: PREFIX-1 ... PREFIX-N
                     (default keyrite-sd-custodian)
  --out-dir DIR      new directory to write (must not exist), holding
                       wrap_<i>.cer            custodian i's certificate (PEM), i = 0..N-1
                       wrap_<i>.pem            custodian i's private key (rehearsals only)
                       custodians.txt          each custodian's key: file or PKCS#11 URI
                       download_request.json   the body for POST /securitydomain/download
  --ceremony DIR     record the step, the certificates and the request in DIR's transcript;
                     checked before any key is made, and recorded before --out-dir is
                     written (if it cannot be recorded, nothing is written)
  --json             print one JSON object describing the result

Next: download the security domain with the certificates, e.g.
  az keyvault security-domain download --hsm-name HSM --sd-wrapping-keys DIR/wrap_0.cer DIR/wrap_1.cer DIR/wrap_2.cer --sd-quorum M --security-domain-file SD.json
or keyrite-uploader sd download --hsm URL --cert DIR/wrap_0.cer --cert ... --quorum M --out SD.json
`

type keygenCustodian struct {
	Index   int    `json:"index"`
	Key     string `json:"key"` // PEM file or PKCS#11 URI of the private key
	Cert    string `json:"cert"`
	X5T256  string `json:"x5t_256"`
	Words   string `json:"cert_words"`
	Token   string `json:"token,omitempty"`
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
}

func runSDKeygen(e *env, args []string) error {
	fset := flag.NewFlagSet("sd keygen", flag.ContinueOnError)
	n := fset.Int("custodians", 0, "number of custodians `N` (3..10)")
	m := fset.Int("quorum", 0, "quorum `M` (2..10, at most N)")
	outDir := fset.String("out-dir", "", "output `DIR` (must not exist)")
	size := fset.Int("size", 2048, "RSA key size in `BITS`: 2048, 3072 or 4096")
	label := fset.String("label", "keyrite-sd-custodian", "key label and certificate name `PREFIX`")
	var tokens cli.Strings
	fset.Var(&tokens, "token", "custodian token PKCS#11 `URI` (repeatable)")
	ceremony := fset.String("ceremony", "", "ceremony `DIR` to record the step in")
	asJSON := fset.Bool("json", false, "print one JSON object")
	pin := secret.Register(fset, "pin", "PIN")
	finalTry := registerFinalPINTry(fset)
	if err := parseSDFlags(e, fset, args, sdKeygenHelp); err != nil {
		return err
	}
	usage := "usage: keyrite sd keygen --quorum M --out-dir DIR (--token URI ... | --custodians N) [--size BITS]"
	if len(tokens) > 0 {
		if *n != 0 && *n != len(tokens) {
			return cli.WithHint(cli.Usagef("sd keygen: --custodians %d but %d --token given", *n, len(tokens)), "give one --token per custodian, and leave out --custodians")
		}
		*n = len(tokens)
	}
	switch {
	case *n == 0:
		return cli.WithHint(cli.Usagef("sd keygen: give --token once per custodian, or --custodians N for a rehearsal with software keys"), usage)
	case *n < securitydomain.MinCustodians || *n > securitydomain.MaxCustodians:
		return cli.WithHint(cli.Usagef("sd keygen: %d custodians, want %d..%d", *n, securitydomain.MinCustodians, securitydomain.MaxCustodians), "the service takes 3 to 10 wrapping certificates")
	case *m == 0:
		return cli.WithHint(cli.Usagef("sd keygen: --quorum is required"), usage)
	case *m < securitydomain.MinQuorum || *m > securitydomain.MaxQuorum || *m > *n:
		return cli.WithHint(cli.Usagef("sd keygen: quorum %d for %d custodians, want 2..10 and at most %d", *m, *n, *n), "the quorum is how many custodians must come together to restore")
	case !securitydomain.ValidKeySize(*size):
		return cli.WithHint(cli.Usagef("sd keygen: --size %d, want 2048, 3072 or 4096", *size), "2048 is what the service and most smartcards support")
	case *outDir == "":
		return cli.WithHint(cli.Usagef("sd keygen: --out-dir is required"), usage)
	case *label == "" || strings.ContainsAny(*label, "/\\\x00"):
		return cli.WithHint(cli.Usagef("sd keygen: --label %q is not a usable label", *label), "use letters, digits and dashes")
	}
	if _, err := os.Lstat(*outDir); err == nil {
		return cli.WithHint(fmt.Errorf("output directory %s already exists", *outDir), "keyrite never overwrites: choose a new --out-dir")
	}

	onTokens := len(tokens) > 0
	loader := newCustodianLoader(nil, pin, loginOptions(e, *finalTry))
	defer loader.Close()
	// Every token is found (no PIN yet), then, with --ceremony, the step is
	// checked and the ceremony held open: nothing is generated that could
	// not be recorded.
	var plans []tokenPlan
	if onTokens {
		var err error
		if plans, err = planTokens(loader, tokens); err != nil {
			return err
		}
	}
	var cer *transcripts.Ceremony
	if *ceremony != "" {
		var err error
		if cer, err = openKeygenCeremony(*ceremony, previewKeygen(*n, *outDir, *label, plans), *m, *size, onTokens, loader); err != nil {
			return err
		}
		defer cer.Close()
	}
	var cs []*keygenCustodian
	var err error
	if onTokens {
		cs, err = keygenOnTokens(plans, *size, *label)
	} else {
		cs, err = keygenSoftware(*n, *size, *label)
	}
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range cs {
			clear(c.keyPEM)
		}
	}()
	var certs []*x509.Certificate
	for _, c := range cs {
		certs = append(certs, c.cert)
	}
	req, err := securitydomain.DownloadRequest(certs, *m)
	if err != nil {
		return fmt.Errorf("building the download request: %s", sdMsg(err))
	}

	tmp, err := fsx.TempDirFor(*outDir)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return cli.WithHint(fmt.Errorf("output directory %s already exists", *outDir), "keyrite never overwrites: choose a new --out-dir")
		}
		return fmt.Errorf("creating %s: %w", *outDir, fsx.UnwrapPathErr(err))
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()
	var list bytes.Buffer
	for _, c := range cs {
		certName := steps.CertificateFileName(c.Index)
		c.Cert = filepath.Join(*outDir, certName)
		if err := fsx.WriteNew(filepath.Join(tmp, certName), c.certPEM, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", c.Cert, fsx.UnwrapPathErr(err))
		}
		if c.keyPEM != nil {
			keyName := fmt.Sprintf("wrap_%d.pem", c.Index)
			c.Key = filepath.Join(*outDir, keyName)
			if err := fsx.WriteNew(filepath.Join(tmp, keyName), c.keyPEM, 0o600); err != nil {
				return fmt.Errorf("writing %s: %w", c.Key, fsx.UnwrapPathErr(err))
			}
		}
		fmt.Fprintf(&list, "%d %s %s\n", c.Index, c.X5T256, c.Key)
	}
	if err := fsx.WriteNew(filepath.Join(tmp, "custodians.txt"), list.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(*outDir, "custodians.txt"), fsx.UnwrapPathErr(err))
	}
	if err := fsx.WriteNew(filepath.Join(tmp, "download_request.json"), req, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(*outDir, "download_request.json"), fsx.UnwrapPathErr(err))
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	// The step is recorded before the outputs are published: if it cannot
	// be, nothing is left at --out-dir.
	if cer != nil {
		if err := cer.Record(keygenEvent(cs, req, *m, *size, onTokens, loader)); err != nil {
			return keygenRecordError(*ceremony, *outDir, cs, onTokens, err)
		}
	}
	if err := fsx.CommitDir(tmp, *outDir); err != nil {
		if cer != nil {
			// Recorded: the outputs are whole in tmp, and the only copy of
			// the rehearsal keys; keep them.
			committed = true
			return cli.WithHint(fmt.Errorf("the step is recorded in ceremony %s, but %s could not be written: %v; the outputs are complete in %s", *ceremony, *outDir, err, tmp),
				fmt.Sprintf("move %s to %s (mv), then go on; do not generate new keys", tmp, *outDir))
		}
		if errors.Is(err, fs.ErrExist) {
			return cli.WithHint(fmt.Errorf("output directory %s already exists", *outDir), "keyrite never overwrites: choose a new --out-dir")
		}
		return fmt.Errorf("writing %s: %w", *outDir, fsx.UnwrapPathErr(err))
	}
	committed = true
	fp := words.Sum(req)

	if *asJSON {
		return cli.PrintJSON(e.stdout, struct {
			OutDir          string             `json:"out_dir"`
			Custodians      []*keygenCustodian `json:"custodians"`
			Quorum          int                `json:"quorum"`
			Size            int                `json:"size"`
			OnTokens        bool               `json:"on_tokens"`
			DownloadRequest string             `json:"download_request"`
			SHA256          string             `json:"download_request_sha256"`
			Words           string             `json:"download_request_words"`
		}{*outDir, cs, *m, *size, onTokens, filepath.Join(*outDir, "download_request.json"), fp.Hex(), fp.Words()})
	}
	w := e.stdout
	where := "software keys (REHEARSAL ONLY: private keys are files)"
	if onTokens {
		where = "keys generated on the custodians' tokens (never extractable)"
	}
	fmt.Fprintf(w, "%d custodians, quorum %d, RSA-%d, %s\n", len(cs), *m, *size, where)
	for _, c := range cs {
		fmt.Fprintf(w, "custodian %d: %s\n  key:  %s\n  x5t#S256 %s\n  words: %s\n", c.Index, c.Cert, c.Key, c.X5T256, c.Words)
	}
	fmt.Fprintf(w, "download request: %s\n  sha256: %s\n  words:  %s\n", filepath.Join(*outDir, "download_request.json"), fp.Hex(), fp.Words())
	var certArgs []string
	for _, c := range cs {
		certArgs = append(certArgs, "--cert "+c.Cert)
	}
	fmt.Fprintf(w, "next: keyrite-uploader sd download --hsm URL %s --quorum %d --out SD.json\n", strings.Join(certArgs, " "), *m)
	return nil
}

func describeCustodian(i int, cert *x509.Certificate) *keygenCustodian {
	return &keygenCustodian{Index: i, cert: cert, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		X5T256: securitydomain.X5T256(cert), Words: words.Sum(cert.Raw).Short()}
}

// tokenKeyLabel is the label of custodian i's new key: the URI's object=,
// else PREFIX-<i+1>.
func tokenKeyLabel(u *hsm.URI, prefix string, i int) string {
	if u.Object != "" {
		return u.Object
	}
	return fmt.Sprintf("%s-%d", prefix, i+1)
}

// tokenKeyURI names the new private key on the token u names.
func tokenKeyURI(u *hsm.URI, label string, id []byte) string {
	ku := *u
	ku.Object, ku.ID, ku.Type = label, id, "private"
	return ku.String()
}

func keygenSoftware(n, size int, label string) ([]*keygenCustodian, error) {
	var cs []*keygenCustodian
	for i := range n {
		k, err := securitydomain.GenerateSoftwareKey(size, rand.Reader)
		if err != nil {
			return nil, err
		}
		cert, err := securitydomain.SelfSignedCertificate(k, fmt.Sprintf("%s-%d", label, i+1), time.Now(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("custodian %d: %s", i, sdMsg(err))
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		c := describeCustodian(i, cert)
		c.keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		clear(der)
		cs = append(cs, c)
	}
	return cs, nil
}

// tokenPlan is one custodian's token, found and checked before any PIN is
// asked for.
type tokenPlan struct {
	u   *hsm.URI
	tok *custodian.Token
}

// planTokens checks every token (URIs, modules, tokens present and
// distinct) without asking any PIN.
func planTokens(l *custodian.Loader, uris []string) ([]tokenPlan, error) {
	var plans []tokenPlan
	for i, s := range uris {
		u, err := hsm.ParseURI(s)
		if err != nil {
			return nil, cli.WithHint(cli.Usagef("--token %d: %s", i+1, sdMsg(err)), "name each custodian's token: 'pkcs11:token=LABEL?module-path=/path/to/module.so'")
		}
		if u.Type != "" || len(u.ID) > 0 {
			return nil, cli.WithHint(cli.Usagef("--token %s: give only the token (and optionally object=LABEL for the new key), not type= or id=", u.Redacted()), "keyrite chooses a fresh random CKA_ID for each new key")
		}
		if u.Token == "" && u.Serial == "" {
			return nil, cli.WithHint(cli.Usagef("--token %s names no token: add token=LABEL (or serial=...)", u.Redacted()), "one custodian, one token: name each by its label")
		}
		tok, err := l.Token(u)
		if err != nil {
			return nil, custodianError(err, true)
		}
		for j, p := range plans {
			if p.tok == tok {
				return nil, cli.WithHint(cli.Usagef("--token %d and --token %d name the same token %q", j+1, i+1, tok.Label()), "one custodian, one token: each custodian's key must live on their own card")
			}
		}
		plans = append(plans, tokenPlan{u, tok})
	}
	return plans, nil
}

// keygenOnTokens, token by token, asks the PIN, generates the key pair,
// signs and stores the certificate and makes the key decrypt-only.
func keygenOnTokens(plans []tokenPlan, size int, label string) ([]*keygenCustodian, error) {
	var cs []*keygenCustodian
	var made []string
	fail := func(err error) error {
		if len(made) == 0 {
			return err
		}
		return cli.WithHint(sdErrorf(err, "%v (keys already generated on: %s)", err, strings.Join(made, ", ")),
			"remove those new keys and certificates from their tokens (or use new labels) before running keygen again")
	}
	for i, p := range plans {
		if err := p.tok.Login(); err != nil {
			return nil, fail(custodianError(err, true))
		}
		keyLabel := tokenKeyLabel(p.u, label, i)
		id := make([]byte, 16)
		rand.Read(id)
		s := p.tok.Session()
		k, err := s.GenerateRSAKeyPair(hsm.RSAKeyPairOptions{Bits: size, Label: keyLabel, ID: id, Sign: true})
		if err != nil {
			return nil, fail(cli.WithHint(sdErrorf(err, "token %q: %s", s.Token().Label, sdMsg(err)), "check that the token can generate RSA-"+fmt.Sprint(size)+" keys and has room"))
		}
		made = append(made, fmt.Sprintf("%q (label %q)", s.Token().Label, keyLabel))
		cert, err := securitydomain.SelfSignedCertificate(k, keyLabel, time.Now(), rand.Reader)
		if err != nil {
			return nil, fail(sdErrorf(err, "token %q: %s", s.Token().Label, sdMsg(err)))
		}
		if err := k.DisableSign(); err != nil {
			return nil, fail(sdErrorf(err, "token %q: %s", s.Token().Label, sdMsg(err)))
		}
		if _, err := s.StoreCertificate(cert, keyLabel, id); err != nil {
			return nil, fail(sdErrorf(err, "token %q: %s", s.Token().Label, sdMsg(err)))
		}
		c := describeCustodian(i, cert)
		c.Key = tokenKeyURI(p.u, keyLabel, id)
		c.Token = s.Token().Label
		cs = append(cs, c)
	}
	return cs, nil
}

// keygenEvent is the step as the transcript records it.
func keygenEvent(cs []*keygenCustodian, req []byte, m, size int, onTokens bool, l *custodian.Loader) transcripts.Event {
	x := steps.SDKeygen{
		Common:  steps.Common{Result: "ok", Mechanism: steps.KeygenMechanismToken},
		Request: steps.File{Name: steps.DownloadRequestFile, Data: req},
		Quorum:  m, RSABits: size,
	}
	if !onTokens {
		x.Mechanism, x.Deviations = steps.KeygenMechanismSoftware, []string{steps.KeygenDeviationSoftware}
	}
	for _, c := range cs {
		x.Custodians = append(x.Custodians, steps.KeygenCustodian{Index: c.Index, X5T256: c.X5T256, Key: c.Key,
			Certificate: steps.File{Name: steps.CertificateFileName(c.Index), Data: c.certPEM}})
	}
	x.HSM, x.Tokens = l.HSMInfo()
	return x.Event()
}

// previewKeygen stands in for the n custodians before their keys exist:
// the names and parameters the step will record, with placeholder
// certificates and thumbprints, for the check before any key is made.
func previewKeygen(n int, outDir, label string, plans []tokenPlan) []*keygenCustodian {
	var cs []*keygenCustodian
	for i := range n {
		c := &keygenCustodian{Index: i, certPEM: []byte("placeholder certificate"), X5T256: strings.Repeat("x", 43)}
		if i < len(plans) {
			c.Key = tokenKeyURI(plans[i].u, tokenKeyLabel(plans[i].u, label, i), make([]byte, 16))
		} else {
			c.Key = filepath.Join(outDir, fmt.Sprintf("wrap_%d.pem", i))
		}
		cs = append(cs, c)
	}
	return cs
}

// openKeygenCeremony opens (and locks) the ceremony before any key is made,
// and checks that the step could be recorded there: its event, with the
// preview's stand-ins, passes the transcript's checks, and no output name
// is recorded already (a second keygen into one ceremony).
func openKeygenCeremony(dir string, preview []*keygenCustodian, m, size int, onTokens bool, l *custodian.Loader) (*transcripts.Ceremony, error) {
	const hint = "nothing was generated"
	ev := keygenEvent(preview, []byte("placeholder request"), m, size, onTokens, l)
	if err := transcripts.CheckEvent(ev); err != nil {
		return nil, cli.WithHint(&cli.Reworded{Msg: fmt.Sprintf("ceremony %s could not record this step: %s", dir, strings.ReplaceAll(err.Error(), "transcripts: ", "")), Err: err}, hint)
	}
	c, err := transcripts.Open(dir)
	if err != nil {
		return nil, cli.WithHint(transcriptErr(dir, err), hint)
	}
	for _, a := range ev.Outputs {
		if e, ok := c.BoundBy(a.Name); ok {
			c.Close()
			return nil, cli.WithHint(fmt.Errorf("ceremony %s already records %s (event %d, %s): one activation per ceremony", dir, a.Name, e.Seq, e.Step),
				"record this keygen in a new ceremony directory; "+hint)
		}
	}
	return c, nil
}

// keygenRecordError is a failure to record the step after the keys were
// made: the outputs were not published.
func keygenRecordError(dir, outDir string, cs []*keygenCustodian, onTokens bool, err error) error {
	msg := fmt.Sprintf("recording the step in ceremony %s: %s; nothing was written to %s", dir, strings.ReplaceAll(err.Error(), "transcripts: ", ""), outDir)
	if !onTokens {
		return cli.WithHint(&cli.Reworded{Msg: msg + " (the software keys were discarded)", Err: err},
			"fix the ceremony directory (`keyrite transcript verify "+dir+"` shows its problems), then run keygen again")
	}
	var keys []string
	for _, c := range cs {
		keys = append(keys, c.Key)
	}
	return cli.WithHint(&cli.Reworded{Msg: msg, Err: err},
		"the keys and certificates generated on the tokens remain there: "+strings.Join(keys, ", "),
		"remove them from the tokens (or use new labels), fix the ceremony directory, then run keygen again")
}

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
	"github.com/keyrite/keyrite/internal/cli"
	"github.com/keyrite/keyrite/internal/fsx"
	"github.com/keyrite/keyrite/internal/secret"
	"github.com/keyrite/keyrite/internal/words"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/transcripts"
)

const sdKeygenHelp = `usage: keyrite sd keygen --quorum M --out-dir DIR (--token URI [--token URI]... | --custodians N)
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
  --custodians N     without --token: a rehearsal with N (3..10) software keys,
                     written as PEM files (PKCS#8, mode 0600). Not for production.
  --quorum M         shares needed to restore: 2..10, at most the number of custodians
  --size BITS        RSA modulus size: 2048 (default), 3072 or 4096
  --label PREFIX     key labels and certificate names: PREFIX-1 ... PREFIX-N
                     (default keyrite-sd-custodian)
  --out-dir DIR      new directory to write (must not exist), holding
                       wrap_<i>.cer            custodian i's certificate (PEM), i = 0..N-1
                       wrap_<i>.pem            custodian i's private key (rehearsals only)
                       custodians.txt          each custodian's key: file or PKCS#11 URI
                       download_request.json   the body for POST /securitydomain/download
  --ceremony DIR     record the step, the certificates and the request in DIR's transcript
  --json             print one JSON object describing the result

Next: download the security domain with the certificates, e.g.
  az keyvault security-domain download --hsm-name HSM --sd-wrapping-keys DIR/wrap_0.cer DIR/wrap_1.cer DIR/wrap_2.cer --sd-quorum M --security-domain-file SD.json
or keyrite-uploader sd download --hsm URL --cert DIR/wrap_0.cer --cert ... --quorum M --out SD.json
`

type keygenCustodian struct {
	Index  int    `json:"index"`
	Key    string `json:"key"` // PEM file or PKCS#11 URI of the private key
	Cert   string `json:"cert"`
	X5T256 string `json:"x5t_256"`
	Words  string `json:"cert_words"`
	Token  string `json:"token,omitempty"`
	cert   *x509.Certificate
	keyPEM []byte
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

	var cs []*keygenCustodian
	loader := newCustodianLoader(nil, pin, loginOptions(e, *finalTry))
	defer loader.Close()
	var err error
	if len(tokens) > 0 {
		cs, err = keygenOnTokens(loader, tokens, *size, *label)
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
		return fmt.Errorf("creating %s: %v", *outDir, err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()
	var list bytes.Buffer
	for _, c := range cs {
		certName := fmt.Sprintf("wrap_%d.cer", c.Index)
		c.Cert = filepath.Join(*outDir, certName)
		if err := fsx.WriteNew(filepath.Join(tmp, certName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}), 0o644); err != nil {
			return fmt.Errorf("writing %s: %v", c.Cert, err)
		}
		if c.keyPEM != nil {
			keyName := fmt.Sprintf("wrap_%d.pem", c.Index)
			c.Key = filepath.Join(*outDir, keyName)
			if err := fsx.WriteNew(filepath.Join(tmp, keyName), c.keyPEM, 0o600); err != nil {
				return fmt.Errorf("writing %s: %v", c.Key, err)
			}
		}
		fmt.Fprintf(&list, "%d %s %s\n", c.Index, c.X5T256, c.Key)
	}
	if err := fsx.WriteNew(filepath.Join(tmp, "custodians.txt"), list.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing custodians.txt: %v", err)
	}
	if err := fsx.WriteNew(filepath.Join(tmp, "download_request.json"), req, 0o644); err != nil {
		return fmt.Errorf("writing download_request.json: %v", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := fsx.CommitDir(tmp, *outDir); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return cli.WithHint(fmt.Errorf("output directory %s already exists", *outDir), "keyrite never overwrites: choose a new --out-dir")
		}
		return fmt.Errorf("writing %s: %v", *outDir, err)
	}
	committed = true
	fp := words.Sum(req)

	if *ceremony != "" {
		if err := recordKeygen(*ceremony, cs, req, *m, *size, len(tokens) > 0, loader); err != nil {
			return cli.WithHint(fmt.Errorf("recording the step in ceremony %s: %v (the keys and %s were made)", *ceremony, err, *outDir),
				"fix the ceremony directory, then record the certificates and download request by hand; do not generate new keys")
		}
	}
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
		}{*outDir, cs, *m, *size, len(tokens) > 0, filepath.Join(*outDir, "download_request.json"), fp.Hex(), fp.Words()})
	}
	w := e.stdout
	where := "software keys (REHEARSAL ONLY: private keys are files)"
	if len(tokens) > 0 {
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
	return &keygenCustodian{Index: i, cert: cert, X5T256: securitydomain.X5T256(cert), Words: words.Sum(cert.Raw).Short()}
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

// keygenOnTokens checks every token first (URIs, modules, tokens present and
// distinct) without asking any PIN, then, token by token, asks the PIN,
// generates the key pair, signs and stores the certificate and makes the key
// decrypt-only.
func keygenOnTokens(l *custodian.Loader, uris []string, size int, label string) ([]*keygenCustodian, error) {
	type plan struct {
		u   *hsm.URI
		tok *custodian.Token
	}
	var plans []plan
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
		plans = append(plans, plan{u, tok})
	}
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
		keyLabel := p.u.Object
		if keyLabel == "" {
			keyLabel = fmt.Sprintf("%s-%d", label, i+1)
		}
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
		ku := *p.u
		ku.Object, ku.ID, ku.Type = keyLabel, id, "private"
		c.Key = ku.String()
		c.Token = s.Token().Label
		cs = append(cs, c)
	}
	return cs, nil
}

func recordKeygen(dir string, cs []*keygenCustodian, req []byte, m, size int, onTokens bool, l *custodian.Loader) error {
	ev := transcripts.Event{
		Step:    "sd.keygen",
		Action:  fmt.Sprintf("generated %d security-domain custodian keys (RSA-%d, quorum %d) and the download request", len(cs), size, m),
		Outputs: []transcripts.Artifact{transcripts.NewArtifact("download_request.json", transcripts.KindDownloadRequest, req)},
		Params: []transcripts.Param{
			{Name: "custodians", Value: fmt.Sprint(len(cs))},
			{Name: "quorum", Value: fmt.Sprint(m)},
			{Name: "rsa_bits", Value: fmt.Sprint(size)},
		},
		Result: "ok",
	}
	if onTokens {
		ev.Mechanism = "CKM_RSA_PKCS_KEY_PAIR_GEN; certificate signed with CKM_RSA_PKCS (SHA-256); CKA_SIGN cleared after"
	} else {
		ev.Mechanism = "software crypto/rsa"
		ev.Deviations = []string{"rehearsal: custodian private keys generated in software and written as PEM files"}
	}
	for _, c := range cs {
		ev.Outputs = append(ev.Outputs, transcripts.NewArtifact(fmt.Sprintf("wrap_%d.cer", c.Index), transcripts.KindCertificate,
			pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})))
		v := c.X5T256 + " " + c.Key
		ev.Params = append(ev.Params, transcripts.Param{Name: fmt.Sprintf("custodian_%d", c.Index), Value: v})
	}
	info, all := l.HSMInfo()
	ev.HSM = info
	for i, t := range all {
		ev.Params = append(ev.Params, transcripts.Param{Name: fmt.Sprintf("token_%d", i), Value: t})
	}
	return transcripts.RecordStep(dir, ev)
}

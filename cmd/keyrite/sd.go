package main

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/internal/cli"
	"github.com/keyrite/keyrite/internal/fsx"
	"github.com/keyrite/keyrite/internal/secret"
	"github.com/keyrite/keyrite/internal/words"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/transcripts"
)

const sdRestoreHelp = `usage: keyrite sd restore --sd SD.json --exchange-key FILE --wrapping-key SRC [--wrapping-key SRC]... --out BLOB.json
                         [--password-env NAME | --password-file PATH] [--pin-env NAME | --pin-file PATH]
                         [--final-pin-try] [--ceremony DIR] [--json]

Builds the restore blob for a Managed HSM security domain from a quorum of
custodian keys, offline. The blob is what
'az keyvault security-domain upload --restore-blob' (or 'keyrite-uploader sd
upload --blob') sends to the HSM being recovered.

  --sd SD.json          the security domain, as 'az keyvault security-domain download'
                        wrote it (plain JSON; base64 of the JSON is accepted too)
  --exchange-key FILE   the HSM's exchange key: the certificate PEM that
                        'az keyvault security-domain init-recovery' writes, or the
                        transfer-key JSON response
  --wrapping-key SRC    one custodian's key, repeated; keys are used in the order
                        given until the quorum is reached (later ones are not touched):
                          KEY.pem              PEM private key (PKCS#1 or PKCS#8, may be
                                               encrypted); certificate KEY.cer beside it
                                               (az CLI convention), PEM or DER
                          KEY.pem:CERT.cer     the same with the certificate named
                                               (split at the last ':')
                          pkcs11:token=...;object=...?module-path=...
                                               a key on a smartcard or token; its
                                               certificate is read from the token (same CKA_ID)
  --out BLOB.json       the restore blob to write; must not exist
  --password-env/-file  password for encrypted PEM keys (else asked on the terminal per key)
  --pin-env/-file       PIN for every token (else asked on the terminal once per token)
  --final-pin-try       try the PIN even on a token that reports that the next wrong
                        PIN locks it (else refused before any PIN is tried)
  --ceremony DIR        record the step and its public inputs/outputs in DIR's transcript
  --json                print one JSON object describing the result
`

const sdVerifyHelp = `usage: keyrite sd verify --sd SD.json --wrapping-key SRC [--wrapping-key SRC]...
                        [--password-env NAME | --password-file PATH] [--pin-env NAME | --pin-file PATH]
                        [--final-pin-try] [--json]

Quorum drill: proves, before a disaster, that a security domain can be restored
with the custodian keys at hand. Every key given is tried; the report says
which shares open (and why others do not), whether every quorum-size subset of
the opened shares gives the same master key, and whether every EncData entry
authenticates and decrypts. Nothing secret is written or shown. Exit 0 only if
a quorum opened and every check passed. SRC is as for 'keyrite sd restore'; a
single custodian may check their own key alone (exit 1: no quorum).
`

// parseSDFlags parses args, printing help for -h/--help.
func parseSDFlags(e *env, fset *flag.FlagSet, args []string, help string) error {
	pos, err := cli.Parse(fset, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, help)
		return flag.ErrHelp // this help replaces the generic flag list
	}
	if err != nil {
		return cli.WithHint(err, "run with --help for the flags")
	}
	if len(pos) > 0 {
		return cli.WithHint(cli.Usagef("%s: unexpected argument %q", fset.Name(), pos[0]), "run with --help for the flags")
	}
	return nil
}

// loadSD reads and parses the security-domain file.
func loadSD(path string) (*securitydomain.SecurityDomain, []byte, error) {
	data, err := sdReadFile(path, "security domain", maxInputFileSize)
	if err != nil {
		return nil, nil, cli.WithHint(err, "give the file 'az keyvault security-domain download' wrote at activation")
	}
	sd, err := securitydomain.ParseSD(data)
	if err != nil {
		return nil, nil, cli.WithHint(sdErrorf(err, "security domain %s: %s", path, sdMsg(err)),
			"this is not an intact security domain file: use the file 'az keyvault security-domain download' wrote at activation, or a verified copy")
	}
	return sd, data, nil
}

func runSDRestore(e *env, args []string) error {
	fset := flag.NewFlagSet("sd restore", flag.ContinueOnError)
	sdPath := fset.String("sd", "", "security domain `FILE`")
	exPath := fset.String("exchange-key", "", "exchange key certificate PEM or transfer-key JSON `FILE`")
	var keys cli.Strings
	fset.Var(&keys, "wrapping-key", "custodian key `SRC` (repeatable)")
	out := fset.String("out", "", "restore blob `FILE` to write")
	ceremony := fset.String("ceremony", "", "ceremony `DIR` to record the step in")
	asJSON := fset.Bool("json", false, "print one JSON object")
	pw := secret.Register(fset, "password", "password")
	pin := secret.Register(fset, "pin", "PIN")
	finalTry := registerFinalPINTry(fset)
	if err := parseSDFlags(e, fset, args, sdRestoreHelp); err != nil {
		return err
	}
	switch {
	case *sdPath == "":
		return cli.WithHint(cli.Usagef("sd restore: --sd is required"), "usage: "+strings.TrimPrefix(strings.SplitN(sdRestoreHelp, "\n", 2)[0], "usage: "))
	case *exPath == "":
		return cli.WithHint(cli.Usagef("sd restore: --exchange-key is required"), "get it with 'az keyvault security-domain init-recovery --hsm-name HSM --sd-exchange-key exchange.pem' (or keyrite-uploader sd exchange-key) on the online side")
	case len(keys) == 0:
		return cli.WithHint(cli.Usagef("sd restore: at least one --wrapping-key is required"), hintWrappingKey)
	case *out == "":
		return cli.WithHint(cli.Usagef("sd restore: --out is required"), "name the restore blob to write, e.g. --out restore_blob.json")
	}
	// Refuse an existing output before anyone types a PIN.
	if _, err := os.Lstat(*out); err == nil {
		return cli.WithHint(fmt.Errorf("output %s already exists", *out), "keyrite never overwrites: choose a new --out or move the old file away")
	}

	sd, sdData, err := loadSD(*sdPath)
	if err != nil {
		return err
	}
	exData, err := sdReadFile(*exPath, "exchange key", maxCertFileSize)
	if err != nil {
		return cli.WithHint(err, "give the certificate 'az keyvault security-domain init-recovery' wrote, or the transfer-key JSON")
	}
	exCert, err := securitydomain.ParseExchangeKey(exData)
	if err != nil {
		return cli.WithHint(sdErrorf(err, "exchange key %s: %s", *exPath, sdMsg(err)),
			"give the certificate 'az keyvault security-domain init-recovery' wrote, or the transfer-key JSON")
	}
	if len(keys) < sd.Required {
		return cli.WithHint(sdErrorf(securitydomain.ErrTooFewKeys, "the security domain needs %d wrapping keys (its quorum), %d given", sd.Required, len(keys)),
			fmt.Sprintf("bring at least %d custodians' keys, each with --wrapping-key", sd.Required))
	}

	loader := newCustodianLoader(pw, pin, loginOptions(e, *finalTry))
	defer loader.Close()
	custodians, err := loadCustodians(loader, keys)
	if err != nil {
		return err
	}
	res, err := securitydomain.Restore(sd, exCert, custodians, rand.Reader)
	if err != nil {
		return restoreError(err, *sdPath)
	}
	blob := res.Blob.Marshal()
	if err := fsx.WriteNew(*out, blob, 0o644); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return cli.WithHint(fmt.Errorf("output %s already exists", *out), "keyrite never overwrites: choose a new --out or move the old file away")
		}
		return fmt.Errorf("writing %s: %w", *out, fsx.UnwrapPathErr(err))
	}
	fp := words.Sum(blob)

	if *ceremony != "" {
		if err := recordRestore(*ceremony, *sdPath, sdData, sd, exCert, custodians, res, blob, loader); err != nil {
			os.Remove(*out) // no output without its transcript record
			return cli.WithHint(fmt.Errorf("recording the step in ceremony %s: %v (the restore blob was not kept)", *ceremony, err), "fix the ceremony directory and run the restore again")
		}
	}

	var used []securitydomain.ShareStatus
	for _, s := range res.Shares {
		if s.Opened {
			used = append(used, s)
		}
	}
	if *asJSON {
		return cli.PrintJSON(e.stdout, struct {
			Out         string                       `json:"out"`
			Size        int                          `json:"size"`
			SHA256      string                       `json:"sha256"`
			Words       string                       `json:"words"`
			Required    int                          `json:"required"`
			SharesInSD  int                          `json:"shares_in_sd"`
			Shares      []securitydomain.ShareStatus `json:"keys"`
			Entries     []securitydomain.PayloadInfo `json:"entries"`
			ExchangeKey string                       `json:"exchange_key_x5t_256"`
		}{*out, len(blob), fp.Hex(), fp.Words(), sd.Required, len(sd.Shares), res.Shares, res.Payloads, securitydomain.X5T256(exCert)})
	}
	w := e.stdout
	fmt.Fprintf(w, "security domain:  %s (%d shares, quorum %d, %d entries)\n", *sdPath, len(sd.Shares), sd.Required, len(sd.Data))
	fmt.Fprintf(w, "exchange key:     x5t#S256 %s\n", securitydomain.X5T256(exCert))
	for _, s := range used {
		fmt.Fprintf(w, "share x=%d opened with %s [%s]\n", s.X, s.Custodian, s.Mechanism)
	}
	var ents []string
	for _, p := range res.Payloads {
		ents = append(ents, fmt.Sprintf("%s (%d bytes)", p.Tag, p.Size))
	}
	fmt.Fprintf(w, "entries:          %s: all authenticated, re-encrypted to the exchange key\n", strings.Join(ents, ", "))
	fmt.Fprintf(w, "wrote %s (%d bytes)\n", *out, len(blob))
	fmt.Fprintf(w, "sha256:           %s\n", fp.Hex())
	fmt.Fprintf(w, "words:            %s\n", fp.Words())
	fmt.Fprintf(w, "next: upload it with 'az keyvault security-domain upload --hsm-name HSM --sd-file %s --restore-blob' or 'keyrite-uploader sd upload --blob %s --hsm URL'\n", *out, *out)
	return nil
}

// restoreError adds the hint for a failed restore.
func restoreError(err error, sdPath string) error {
	msg := sdMsg(err)
	var hint string
	var share *securitydomain.ShareError
	switch {
	case errors.Is(err, securitydomain.ErrTooFewKeys):
		hint = "bring at least the quorum of custodians' keys, each with --wrapping-key"
	case errors.Is(err, securitydomain.ErrDuplicateKey):
		hint = "give each custodian's key once"
	case errors.Is(err, securitydomain.ErrInsufficientShares):
		hint = "bring keys of other custodians named in the security domain; 'keyrite sd verify' shows which keys open a share"
	case errors.As(err, &share):
		if len(cli.Hints(share.Err)) > 0 {
			// The key itself could not be used (password, PIN, token):
			// that error says it all, with its own hint.
			return sdErrorf(err, "%s", sdMsg(share.Err))
		}
		hint = "this key does not open its share: the key is not the one the certificate names, or the security domain was altered; leave it out and bring another custodian's key"
	case errors.Is(err, securitydomain.ErrAuthentication), errors.Is(err, securitydomain.ErrShare):
		msg = "security domain " + sdPath + ": " + msg
		hint = "the security domain is damaged or was altered: use the file downloaded at activation, or a verified copy"
	case len(cli.Hints(err)) > 0:
		return sdErrorf(err, "%s", msg)
	default:
		hint = "nothing was written; check the inputs named above"
	}
	return cli.WithHint(sdErrorf(err, "%s", msg), hint)
}

func recordRestore(dir, sdPath string, sdData []byte, sd *securitydomain.SecurityDomain, exCert *x509.Certificate, cs []securitydomain.Custodian, res *securitydomain.RestoreResult, blob []byte, l *custodian.Loader) error {
	certs := make([]*x509.Certificate, len(cs))
	for i := range cs {
		certs[i] = cs[i].Cert
	}
	ev := ceremony.RestoreEvent(sdPath, sdData, sd, exCert, certs, res, blob)
	info, all := l.HSMInfo()
	ev.HSM = info
	for i, t := range all {
		ev.Params = append(ev.Params, transcripts.Param{Name: fmt.Sprintf("token_%d", i), Value: t})
	}
	return transcripts.RecordStep(dir, ev)
}

func runSDVerify(e *env, args []string) error {
	fset := flag.NewFlagSet("sd verify", flag.ContinueOnError)
	sdPath := fset.String("sd", "", "security domain `FILE`")
	var keys cli.Strings
	fset.Var(&keys, "wrapping-key", "custodian key `SRC` (repeatable)")
	asJSON := fset.Bool("json", false, "print one JSON object")
	pw := secret.Register(fset, "password", "password")
	pin := secret.Register(fset, "pin", "PIN")
	finalTry := registerFinalPINTry(fset)
	if err := parseSDFlags(e, fset, args, sdVerifyHelp); err != nil {
		return err
	}
	switch {
	case *sdPath == "":
		return cli.WithHint(cli.Usagef("sd verify: --sd is required"), "usage: "+strings.TrimPrefix(strings.SplitN(sdVerifyHelp, "\n", 2)[0], "usage: "))
	case len(keys) == 0:
		return cli.WithHint(cli.Usagef("sd verify: at least one --wrapping-key is required"), hintWrappingKey)
	}
	sd, _, err := loadSD(*sdPath)
	if err != nil {
		return err
	}
	loader := newCustodianLoader(pw, pin, loginOptions(e, *finalTry))
	defer loader.Close()
	custodians, err := loadCustodians(loader, keys)
	if err != nil {
		return err
	}
	r, err := securitydomain.Verify(sd, custodians)
	if err != nil {
		return restoreError(err, *sdPath)
	}
	// A key that could not even be used (PIN, password) is an error of its
	// own, with its hint, rather than a drill result.
	for _, k := range r.Keys {
		if k.Err != nil && len(cli.Hints(k.Err)) > 0 {
			return sdErrorf(k.Err, "%s", sdMsg(k.Err))
		}
	}
	if *asJSON {
		if err := cli.PrintJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		printVerify(e.stdout, *sdPath, r)
	}
	if !r.OK {
		var why string
		switch {
		case !r.Quorum:
			why = fmt.Sprintf("only %d of the %d required shares opened", r.Opened, r.Required)
		case !r.Agree:
			why = "the opened shares do not all give the same master key"
		default:
			why = "not every EncData entry authenticates"
		}
		hint := "the security domain cannot be restored with these keys as it stands: bring more custodians' keys, or investigate the problems listed"
		if r.Quorum {
			hint = "the security domain is damaged or was altered: use the file downloaded at activation, or a verified copy"
		}
		return cli.WithHint(fmt.Errorf("quorum drill failed: %s", why), hint)
	}
	return nil
}

// kidFormText says what a security domain's share kids tell about it.
func kidFormText(form string) string {
	switch form {
	case securitydomain.KidFormLegacy:
		return `"not used" (the service's form before 2025)`
	case securitydomain.KidFormPerShare:
		return "one UUID per share (the service's form since 2025)"
	}
	return "mixed (neither form the service is known to write; restores work the same)"
}

func printVerify(w io.Writer, path string, r *securitydomain.VerifyReport) {
	fmt.Fprintf(w, "security domain: %s (%d shares, quorum %d)\n", path, r.Shares, r.Required)
	fmt.Fprintf(w, "share kids: %s\n", kidFormText(r.KidForm))
	for _, k := range r.Keys {
		switch {
		case k.Opened:
			kid := ""
			if k.ShareKid != securitydomain.LegacyShareKid {
				kid = fmt.Sprintf(", kid %q", k.ShareKid)
			}
			fmt.Fprintf(w, "  ok    %s: share x=%d (enc_shares[%d]%s) opened [%s]\n", k.Custodian, k.X, k.Index, kid, k.Mechanism)
		default:
			fmt.Fprintf(w, "  FAIL  %s: %s\n", k.Custodian, k.Error)
		}
	}
	fmt.Fprintf(w, "shares opened: %d of %d required\n", r.Opened, r.Required)
	if r.Quorum {
		if r.Agree {
			fmt.Fprintf(w, "master key: all %d quorum subsets agree\n", r.Subsets)
		} else {
			fmt.Fprintf(w, "master key: SUBSETS DISAGREE (%d of %d)\n", len(r.Disagree), r.Subsets)
		}
	}
	for _, d := range r.Data {
		if d.Authenticated {
			fmt.Fprintf(w, "  ok    %s: %d bytes, authenticated\n", d.Tag, d.Size)
		} else {
			fmt.Fprintf(w, "  FAIL  %s: %s\n", d.Tag, d.Error)
		}
	}
	if r.OK {
		fmt.Fprintln(w, "result: RESTORABLE with these keys")
	} else {
		fmt.Fprintln(w, "result: NOT RESTORABLE with these keys")
	}
}

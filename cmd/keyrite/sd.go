package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/sdop"
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
  --ceremony DIR        record the step and its public inputs/outputs in DIR's transcript;
                        the blob is recorded before it is written, so a failed recording
                        leaves none (a second restore into one ceremony is refused)
  --json                print one JSON object describing the result
`

const sdVerifyHelp = `usage: keyrite sd verify --sd SD.json --wrapping-key SRC [--wrapping-key SRC]...
                        [--password-env NAME | --password-file PATH] [--pin-env NAME | --pin-file PATH]
                        [--final-pin-try] [--ceremony DIR] [--json]

Quorum drill: proves, before a disaster, that a security domain can be restored
with the custodian keys at hand. Every key given is tried; the report says
which shares open (and why others do not), whether every quorum-size subset of
the opened shares gives the same master key, and whether every EncData entry
authenticates and decrypts. Nothing secret is written or shown. Exit 0 only if
a quorum opened and every check passed. SRC is as for 'keyrite sd restore'; a
single custodian may check their own key alone (exit 1: no quorum).

  --ceremony DIR        record the drill in DIR's transcript (the security domain
                        and the report), whatever its result
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

func runSDRestore(e *env, args []string) error {
	fset := flag.NewFlagSet("sd restore", flag.ContinueOnError)
	sdPath := fset.String("sd", "", "security domain `FILE`")
	exPath := fset.String("exchange-key", "", "exchange key certificate PEM or transfer-key JSON `FILE`")
	var keys cli.Strings
	fset.Var(&keys, "wrapping-key", "custodian key `SRC` (repeatable)")
	out := fset.String("out", "", "restore blob `FILE` to write")
	cerDir := fset.String("ceremony", "", "ceremony `DIR` to record the step in")
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
	loader := newCustodianLoader(pw, pin, loginOptions(e, *finalTry))
	defer loader.Close()
	op, err := sdop.RestoreRequest{SD: *sdPath, ExchangeKey: *exPath, Out: *out, Keys: keys, Loader: loader,
		CeremonyDir: *cerDir, Rand: rand.Reader}.Validate()
	if err != nil {
		return restoreError(err, *sdPath, *cerDir)
	}
	defer op.Close()
	res, err := op.Run()
	if err != nil {
		return restoreError(err, *sdPath, *cerDir)
	}
	return printRestore(e.stdout, res, *asJSON)
}

func printRestore(w io.Writer, res *sdop.RestoreResult, asJSON bool) error {
	sd, exch := res.SD.SD, securitydomain.X5T256(res.Exchange.Cert)
	fp := words.Sum(res.Blob)
	if asJSON {
		return cli.PrintJSON(w, struct {
			Out         string                       `json:"out"`
			Size        int                          `json:"size"`
			SHA256      string                       `json:"sha256"`
			Words       string                       `json:"words"`
			Required    int                          `json:"required"`
			SharesInSD  int                          `json:"shares_in_sd"`
			Shares      []securitydomain.ShareStatus `json:"keys"`
			Entries     []securitydomain.PayloadInfo `json:"entries"`
			ExchangeKey string                       `json:"exchange_key_x5t_256"`
		}{res.Out, len(res.Blob), fp.Hex(), fp.Words(), sd.Required, len(sd.Shares), res.Shares, res.Payloads, exch})
	}
	fmt.Fprintf(w, "security domain:  %s (%d shares, quorum %d, %d entries)\n", res.SD.Path, len(sd.Shares), sd.Required, len(sd.Data))
	fmt.Fprintf(w, "exchange key:     x5t#S256 %s\n", exch)
	for _, s := range res.Shares {
		if s.Opened {
			fmt.Fprintf(w, "share x=%d opened with %s [%s]\n", s.X, s.Custodian, s.Mechanism)
		}
	}
	var ents []string
	for _, p := range res.Payloads {
		ents = append(ents, fmt.Sprintf("%s (%d bytes)", p.Tag, p.Size))
	}
	fmt.Fprintf(w, "entries:          %s: all authenticated, re-encrypted to the exchange key\n", strings.Join(ents, ", "))
	fmt.Fprintf(w, "wrote %s (%d bytes)\n", res.Out, len(res.Blob))
	fmt.Fprintf(w, "sha256:           %s\n", fp.Hex())
	fmt.Fprintf(w, "words:            %s\n", fp.Words())
	fmt.Fprintf(w, "next: upload it with 'az keyvault security-domain upload --hsm-name HSM --sd-file %s --restore-blob' or 'keyrite-uploader sd upload --blob %s --hsm URL'\n", res.Out, res.Out)
	return nil
}

// restoreError adds the hint for a refused or failed restore or drill.
// Errors of the key sources and of a key's first use read as
// custodianError has them; the others are chosen by their sentinels.
func restoreError(err error, sdPath, cerDir string) error {
	var (
		share *securitydomain.ShareError
		key   *sdop.KeyError
		quo   *sdop.QuorumError
	)
	switch {
	case errors.As(err, &key):
		return custodianError(key.Err, hsm.IsURI(key.Source))
	case errors.As(err, &quo):
		return cli.WithHint(err, fmt.Sprintf("bring at least %d custodians' keys, each with --wrapping-key", quo.Required))
	case errors.Is(err, sdop.ErrCeremony):
		return ceremonyRefused(err, cerDir, "step", "done")
	case errors.Is(err, sdop.ErrRecord):
		return cli.WithHint(transcriptErr(cerDir, err), "fix the ceremony directory (`keyrite transcript verify "+cerDir+"` shows its problems), then run the step again")
	case errors.Is(err, sdop.ErrNotWritten):
		return cli.WithHint(transcriptErr(cerDir, err), "copy the recorded blob named above to --out, then go on: the ceremony records it; do not restore again")
	case errors.As(err, &share) && isCustodianError(share.Err):
		// The key itself could not be used (password, PIN, token):
		// that error says it all, with its own hint.
		return custodianError(share.Err, hsm.IsURI(share.Custodian))
	case errors.As(err, &share):
		return cli.WithHint(err, "this key does not open its share: the key is not the one the certificate names, or the security domain was altered; leave it out and bring another custodian's key")
	case errors.Is(err, securitydomain.ErrAuthentication), errors.Is(err, securitydomain.ErrShare):
		return cli.WithHint(cli.Reword(err, "security domain %s: %v", sdPath, err), "the security domain is damaged or was altered: use the file downloaded at activation, or a verified copy")
	}
	return cli.WithHint(err, restoreHint(err))
}

// ceremonyRefused gives a step the ceremony refused (sdop.ErrCeremony)
// its hint: nothing was done, and a second step of its kind wants a new
// ceremony directory.
func ceremonyRefused(err error, cerDir, step, nothing string) error {
	hint := "nothing was " + nothing
	if errors.Is(err, sdop.ErrRecordedAlready) {
		hint = "record this " + step + " in a new ceremony directory; " + hint
	}
	return cli.WithHint(transcriptErr(cerDir, err), hint)
}

// restoreHint is the hint for an error of a restore or drill's inputs.
func restoreHint(err error) string {
	switch {
	case errors.Is(err, sdop.ErrOutputExists):
		return "keyrite never overwrites: choose a new --out or move the old file away"
	case errors.Is(err, sdop.ErrOutputDir):
		return "create the directory first, or choose another --out"
	case errors.Is(err, sdop.ErrSDFile):
		return "give the file 'az keyvault security-domain download' wrote at activation"
	case errors.Is(err, securitydomain.ErrInvalidSD):
		return "this is not an intact security domain file: use the file 'az keyvault security-domain download' wrote at activation, or a verified copy"
	case errors.Is(err, sdop.ErrExchangeKeyFile), errors.Is(err, securitydomain.ErrInvalidExchangeKey):
		return "give the certificate 'az keyvault security-domain init-recovery' wrote, or the transfer-key JSON"
	case errors.Is(err, securitydomain.ErrDuplicateKey):
		return "give each custodian's key once"
	case errors.Is(err, securitydomain.ErrInsufficientShares):
		return "bring keys of other custodians named in the security domain; 'keyrite sd verify' shows which keys open a share"
	case errors.Is(err, sdop.ErrReadBack):
		return "the written blob was removed; check the disk, then run the restore again"
	}
	return "nothing was written; check the inputs named above"
}

func runSDVerify(e *env, args []string) error {
	fset := flag.NewFlagSet("sd verify", flag.ContinueOnError)
	sdPath := fset.String("sd", "", "security domain `FILE`")
	var keys cli.Strings
	fset.Var(&keys, "wrapping-key", "custodian key `SRC` (repeatable)")
	cerDir := fset.String("ceremony", "", "ceremony `DIR` to record the drill in")
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
	loader := newCustodianLoader(pw, pin, loginOptions(e, *finalTry))
	defer loader.Close()
	op, err := sdop.DrillRequest{SD: *sdPath, Keys: keys, Loader: loader, CeremonyDir: *cerDir}.Validate()
	if err != nil {
		return restoreError(err, *sdPath, *cerDir)
	}
	defer op.Close()
	res, err := op.Run()
	if err != nil {
		return restoreError(err, *sdPath, *cerDir)
	}
	r := res.Report
	// A key that could not even be used (PIN, password) is an error of its
	// own, with its hint, rather than a drill result.
	for _, k := range r.Keys {
		if isCustodianError(k.Err) {
			return custodianError(k.Err, hsm.IsURI(k.Custodian))
		}
	}
	if *asJSON {
		if err := cli.PrintJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		printVerify(e.stdout, *sdPath, r)
		if res.Recorded {
			fmt.Fprintf(e.stdout, "recorded in ceremony %s (report %s)\n", *cerDir, res.Name)
		}
	}
	return drillResult(r)
}

// drillResult is the error of a drill that found the security domain not
// restorable with the keys given.
func drillResult(r *securitydomain.VerifyReport) error {
	if r.OK {
		return nil
	}
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

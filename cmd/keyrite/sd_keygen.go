package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/sdop"
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

func runSDKeygen(e *env, args []string) error {
	fset := flag.NewFlagSet("sd keygen", flag.ContinueOnError)
	n := fset.Int("custodians", 0, "number of custodians `N` (3..10)")
	m := fset.Int("quorum", 0, "quorum `M` (2..10, at most N)")
	outDir := fset.String("out-dir", "", "output `DIR` (must not exist)")
	size := fset.Int("size", 2048, "RSA key size in `BITS`: 2048, 3072 or 4096")
	label := fset.String("label", sdop.DefaultKeygenLabel, "key label and certificate name `PREFIX`")
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
	switch {
	case len(tokens) > 0 && *n != 0 && *n != len(tokens):
		return cli.WithHint(cli.Usagef("sd keygen: --custodians %d but %d --token given", *n, len(tokens)), "give one --token per custodian, and leave out --custodians")
	case *n == 0 && len(tokens) == 0:
		return cli.WithHint(cli.Usagef("sd keygen: give --token once per custodian, or --custodians N for a rehearsal with software keys"), usage)
	case *m == 0:
		return cli.WithHint(cli.Usagef("sd keygen: --quorum is required"), usage)
	case *outDir == "":
		return cli.WithHint(cli.Usagef("sd keygen: --out-dir is required"), usage)
	case *label == "":
		return cli.WithHint(cli.Usagef("sd keygen: --label %q is not a usable label", *label), "use letters, digits and dashes")
	}
	op, err := sdop.KeygenRequest{Custodians: *n, Quorum: *m, Bits: *size, Label: *label, Tokens: tokens,
		Secrets: custodianOptions(nil, pin, loginOptions(e, *finalTry)), OutDir: *outDir, CeremonyDir: *ceremony}.Validate()
	if err != nil {
		return keygenError(err, *ceremony)
	}
	defer op.Close()
	res, err := op.Run()
	if err != nil {
		return keygenError(err, *ceremony)
	}
	return printKeygen(e, res, *asJSON)
}

func printKeygen(e *env, res *sdop.KeygenResult, asJSON bool) error {
	fp := words.Sum(res.Request)
	if asJSON {
		return cli.PrintJSON(e.stdout, struct {
			OutDir          string                  `json:"out_dir"`
			Custodians      []*sdop.KeygenCustodian `json:"custodians"`
			Quorum          int                     `json:"quorum"`
			Size            int                     `json:"size"`
			OnTokens        bool                    `json:"on_tokens"`
			DownloadRequest string                  `json:"download_request"`
			SHA256          string                  `json:"download_request_sha256"`
			Words           string                  `json:"download_request_words"`
		}{res.OutDir, res.Custodians, res.Quorum, res.Bits, res.OnTokens, res.RequestFile, fp.Hex(), fp.Words()})
	}
	w := e.stdout
	where := "software keys (REHEARSAL ONLY: private keys are files)"
	if res.OnTokens {
		where = "keys generated on the custodians' tokens (never extractable)"
	}
	fmt.Fprintf(w, "%d custodians, quorum %d, RSA-%d, %s\n", len(res.Custodians), res.Quorum, res.Bits, where)
	var certArgs []string
	for _, c := range res.Custodians {
		fmt.Fprintf(w, "custodian %d: %s\n  key:  %s\n  x5t#S256 %s\n  words: %s\n", c.Index, c.Cert, c.Key, c.X5T256, c.Words)
		certArgs = append(certArgs, "--cert "+c.Cert)
	}
	fmt.Fprintf(w, "download request: %s\n  sha256: %s\n  words:  %s\n", res.RequestFile, fp.Hex(), fp.Words())
	fmt.Fprintf(w, "next: keyrite-uploader sd download --hsm URL %s --quorum %d --out SD.json\n", strings.Join(certArgs, " "), res.Quorum)
	return nil
}

// keygenError gives a refused or failed keygen its hints, chosen by the
// error's types and sentinels; parameter errors are reworded in the
// flags' terms from their fields (usage errors, exit 2).
func keygenError(err error, cerDir string) error {
	var (
		pe   *sdop.KeygenParamError
		te   *sdop.TokenSourceError
		made *sdop.MadeError
		nw   *sdop.NotWrittenError
		tk   *sdop.TokenKeyError
	)
	switch {
	case errors.As(err, &pe):
		return keygenParamError(pe)
	case errors.As(err, &te):
		return tokenSourceError(te)
	case errors.As(err, &nw):
		return cli.WithHint(err, fmt.Sprintf("move %s to %s (mv), then go on; do not generate new keys", nw.Temp, nw.OutDir))
	case errors.As(err, &made):
		hints := cli.Hints(keygenError(made.Err, cerDir))
		return cli.WithHint(err, append(hints, "remove those new keys and certificates from their tokens (or use new labels) before running keygen again")...)
	case errors.As(err, &tk):
		return cli.WithHint(err, fmt.Sprintf("check that the token can generate RSA-%d keys and has room", tk.Bits))
	case errors.Is(err, sdop.ErrOutputExists):
		return cli.WithHint(err, "keyrite never overwrites: choose a new --out-dir")
	case errors.Is(err, sdop.ErrOutputDir):
		return cli.WithHint(err, "create the parent directory first, or choose another --out-dir")
	case errors.Is(err, sdop.ErrCeremony):
		return ceremonyRefused(err, cerDir, "keygen", "generated")
	}
	return restoreError(err, "", cerDir)
}

// keygenParamError says what is out of range in the flags' terms.
func keygenParamError(pe *sdop.KeygenParamError) error {
	switch pe.Param {
	case "custodians":
		return cli.WithHint(cli.Usagef("sd keygen: %d custodians, want %d..%d", pe.Custodians, securitydomain.MinCustodians, securitydomain.MaxCustodians), "the service takes 3 to 10 wrapping certificates")
	case "quorum":
		return cli.WithHint(cli.Usagef("sd keygen: quorum %d for %d custodians, want 2..10 and at most %d", pe.Quorum, pe.Custodians, pe.Custodians), "the quorum is how many custodians must come together to restore")
	case "bits":
		return cli.WithHint(cli.Usagef("sd keygen: --size %d, want 2048, 3072 or 4096", pe.Bits), "2048 is what the service and most smartcards support")
	}
	return cli.WithHint(cli.Usagef("sd keygen: --label %q is not a usable label", pe.Label), "use letters, digits and dashes")
}

// tokenSourceError says which --token is unusable (usage errors, exit 2).
func tokenSourceError(te *sdop.TokenSourceError) error {
	switch {
	case errors.Is(te.Err, sdop.ErrSameToken):
		return cli.WithHint(cli.Usagef("--token %d and --token %d name the same token %s", te.Other+1, te.Index+1, te.URI), "one custodian, one token: each custodian's key must live on their own card")
	case errors.Is(te.Err, hsm.ErrURI) && te.URI == "":
		return cli.WithHint(&usageChain{cli.Reword(te, "--token %d: %v", te.Index+1, te.Err)}, "name each custodian's token: 'pkcs11:token=LABEL?module-path=/path/to/module.so'")
	case errors.Is(te.Err, hsm.ErrURI):
		return cli.WithHint(custodianError(te.Err, true), "add ?module-path=/path/to/the/vendor/pkcs11-module.so to the URI")
	}
	return cli.WithHint(&usageChain{cli.Reword(te, "--token %s: %v", te.URI, te.Err)}, "keyrite chooses a fresh random CKA_ID for each new key; name each custodian's token by its label")
}

// usageChain is a usage error (exit 2) that keeps its chain.
type usageChain struct{ err error }

func (u *usageChain) Error() string { return u.err.Error() }
func (u *usageChain) Unwrap() []error {
	return []error{u.err, &cli.UsageError{Msg: u.err.Error()}}
}

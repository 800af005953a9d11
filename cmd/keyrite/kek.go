package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/fsx"
)

// Hints shared by the KEK and BYOK commands.
const (
	hintKEKFile = "give the KEK's public key as `az keyvault key download --vault-name VAULT --name KEK --encoding PEM --file kek.pem` writes it, or the JSON of `az keyvault key show`"
	hintKEKMake = "create a KEK with `az keyvault key create --vault-name VAULT --name KEK --kty RSA-HSM --size 4096 --ops import`"
	hintKEKOps  = "a KEK must be usable only for import: create a dedicated one with `--ops import` and nothing else"
	hintKid     = "use the kid exactly as `az keyvault key show --vault-name VAULT --name KEK --query key.kid -o tsv` prints it: https://VAULT.vault.azure.net/keys/NAME/VERSION"
)

// readLimited is fsx.ReadLimited for key files.
func readLimited(path, what string, limit int64) ([]byte, error) {
	data, err := fsx.ReadLimited(path, what, limit)
	if errors.Is(err, fsx.ErrTooLarge) {
		return nil, fmt.Errorf("%w; expected a small key file", err)
	}
	return data, err
}

// fileErr names the file a library error is about.
func fileErr(path string, err error) error { return cli.Reword(err, "%s: %v", path, err) }

// loadKEK takes in a KEK file (and kid, when not empty) through the intake
// step, with hints for every refusal. byok export and byok inspect use it
// too.
func loadKEK(path, kid string) (*byok.KEK, error) {
	in, err := byok.KEKRequest{File: path, Kid: kid}.Validate()
	if err != nil {
		return nil, kekError(err)
	}
	res, err := in.Run()
	if err != nil {
		return nil, kekError(err)
	}
	return res.KEK, nil
}

// kekError gives a refused KEK its hint, chosen by the error's type and
// sentinels; the request's kid is named as the flag it came from.
func kekError(err error) error {
	var ke *byok.KidError
	switch {
	case errors.As(err, &ke):
		return cli.WithHint(cli.Reword(err, "--kid: %v", ke.Err), hintKid)
	case errors.Is(err, byok.ErrKEKFile):
		return cli.WithHint(err, hintKEKFile)
	case errors.Is(err, byok.ErrKidMismatch):
		return cli.WithHint(err, "leave out --kid (the file's kid is used), or check that the file and the kid name the same KEK version")
	case errors.Is(err, byok.ErrKid):
		return cli.WithHint(err, hintKid)
	case errors.Is(err, byok.ErrKEKOps):
		return cli.WithHint(err, hintKEKOps)
	case errors.Is(err, byok.ErrKEKType):
		return cli.WithHint(err, hintKEKMake)
	}
	return cli.WithHint(err, hintKEKFile)
}

// kekJSON is the --json form of a KEK.
type kekJSON struct {
	File       string  `json:"file"`
	Kid        *string `json:"kid"`
	Service    string  `json:"service,omitempty"`
	Cloud      string  `json:"cloud,omitempty"`
	Kty        string  `json:"kty"`
	Bits       int     `json:"bits"`
	Source     string  `json:"source"`
	SHA256     string  `json:"sha256"`
	Words      string  `json:"words"`
	ShortWords string  `json:"short_words"`
}

func describeKEK(path string, k *byok.KEK) kekJSON {
	fp := k.Fingerprint()
	out := kekJSON{File: path, Kty: "RSA", Bits: k.Bits(), Source: k.Source, SHA256: fp.Hex(), Words: fp.Words(), ShortWords: fp.Short()}
	if k.Kid != "" {
		kid := k.Kid
		out.Kid = &kid
		if p, err := byok.ParseKid(kid); err == nil {
			out.Service, out.Cloud = string(p.Service), p.Cloud
		}
	}
	return out
}

var sourceNames = map[string]string{
	"pem-spki":  "PEM SubjectPublicKeyInfo",
	"pem-pkcs1": "PEM PKCS#1",
	"der-spki":  "DER SubjectPublicKeyInfo",
	"der-pkcs1": "DER PKCS#1",
	"jwk":       "JWK",
}

func runKEKInspect(e *env, args []string) error {
	fset := flag.NewFlagSet("kek inspect", flag.ContinueOnError)
	kekPath := fset.String("kek", "", "KEK public key `FILE` (PEM, or JSON of az keyvault key show)")
	kid := fset.String("kid", "", "the KEK's key identifier `URL`, with version")
	asJSON := fset.Bool("json", false, "print one JSON object")
	pos, err := cli.Parse(fset, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.WithHint(cli.Usagef("kek inspect: unexpected argument %q", pos[0]), "usage: keyrite kek inspect --kek FILE [--kid URL] [--json]")
	}
	if *kekPath == "" {
		return cli.WithHint(cli.Usagef("kek inspect: --kek is required"), "usage: keyrite kek inspect --kek FILE [--kid URL] [--json]")
	}
	k, err := loadKEK(*kekPath, *kid)
	if err != nil {
		return err
	}
	d := describeKEK(*kekPath, k)
	if *asJSON {
		return cli.PrintJSON(e.stdout, d)
	}
	kidText := "none (the file carries no kid; give --kid URL)"
	if d.Kid != nil {
		kidText = *d.Kid
	}
	fmt.Fprintf(e.stdout, "file:    %s\n", d.File)
	fmt.Fprintf(e.stdout, "kid:     %s\n", kidText)
	fmt.Fprintf(e.stdout, "size:    RSA %d bits (read as %s)\n", d.Bits, sourceNames[d.Source])
	fmt.Fprintf(e.stdout, "sha256:  %s\n", d.SHA256)
	fmt.Fprintf(e.stdout, "words:   %s\n", d.Words)
	return nil
}

package main

import (
	"errors"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
)

// Hints for custodian keys.
const (
	hintWrappingKey = "give each custodian's key as --wrapping-key KEY.pem (certificate KEY.cer beside it), --wrapping-key KEY.pem:CERT.cer, or a PKCS#11 URI such as 'pkcs11:token=custodian1;object=sd-wrap?module-path=/usr/lib/softhsm/libsofthsm2.so'"
	hintCertBeside  = "put the custodian's certificate beside the key under the same name with .cer (the az CLI convention: wrap_0.pem -> wrap_0.cer), or name it explicitly: --wrapping-key KEY.pem:CERT.cer"
	hintPasswordSrc = "give the password with --password-env NAME or --password-file PATH, or run keyrite on a terminal to be asked"
	hintPINSrc      = "give the PIN with --pin-env NAME or --pin-file PATH, or run keyrite on a terminal to be asked for each token's PIN"
	hintTokenCert   = "store the custodian's certificate on the token with the key's CKA_ID (keyrite sd keygen does), e.g. pkcs11-tool --write-object CERT.der --type cert --id ID --label LABEL"
)

// newCustodianLoader returns the loader for --wrapping-key and --token:
// passwords from --password-env/--password-file and PINs from
// --pin-env/--pin-file, else asked on the terminal (a nil source asks the
// terminal); login says how the token's PIN counter is treated
// (loginOptions).
func newCustodianLoader(password, pin *secret.Source, login hsm.LoginOptions) *custodian.Loader {
	return custodian.NewLoader(custodianOptions(password, pin, login))
}

// custodianOptions are the secrets newCustodianLoader's loader asks for.
func custodianOptions(password, pin *secret.Source, login hsm.LoginOptions) custodian.Options {
	return custodian.Options{
		Password: func(prompt string) ([]byte, error) { return password.Read(prompt + ": ") },
		PIN:      func(prompt string) ([]byte, error) { return pin.Read(prompt + ": ") },
		Login:    login,
	}
}

// isCustodianError reports whether err is package custodian's: a key
// source, or a key's first use (password, PIN, token), that failed.
func isCustodianError(err error) bool {
	for _, kind := range []error{custodian.ErrSource, custodian.ErrKeyFile, custodian.ErrCertificate, custodian.ErrNoSecret,
		custodian.ErrKey, custodian.ErrKeyNotFound, custodian.ErrMismatch, custodian.ErrModule, custodian.ErrToken,
		custodian.ErrSession, custodian.ErrLogin} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}

// custodianError turns an error of package custodian into the command
// line's message and hint (a malformed source is a usage error, exit 2).
// onToken says whether the key source was a PKCS#11 URI. Other errors (a
// decryption's own) are returned as they are.
func custodianError(err error, onToken bool) error {
	var hint string
	pick := func(file, token string) string {
		if onToken {
			return token
		}
		return file
	}
	switch {
	case errors.Is(err, custodian.ErrSource):
		return cli.WithHint(&usageChain{cli.Reword(err, "--wrapping-key: %v", err)}, hintWrappingKey)
	case errors.Is(err, custodian.ErrKeyFile):
		hint = hintWrappingKey
	case errors.Is(err, custodian.ErrCertificate):
		hint = pick(hintCertBeside, hintTokenCert)
	case errors.Is(err, custodian.ErrNoSecret):
		hint = pick(hintPasswordSrc, hintPINSrc)
		var fe *secret.FormError
		if errors.As(err, &fe) {
			hint = fe.Hints()[0]
		}
	case errors.Is(err, custodian.ErrKey):
		if !onToken {
			hint = "give the custodian's RSA private key in PEM (PKCS#1 or PKCS#8), as the az CLI uses it"
			if errors.Is(err, securitydomain.ErrPassword) {
				hint = "check the password for this key (--password-env / --password-file apply to every encrypted key)"
			}
		}
	case errors.Is(err, custodian.ErrKeyNotFound):
		hint = "the URI must name the custodian's private key; its certificate must carry the same CKA_ID"
	case errors.Is(err, custodian.ErrMismatch):
		hint = pick(hintCertBeside, hintTokenCert)
	case errors.Is(err, custodian.ErrModule):
		hint = "add ?module-path=/path/to/the/vendor/pkcs11-module.so to the URI"
		if errors.Is(err, hsm.ErrModuleLoad) {
			hint = "check the module-path in the URI: it must be the token vendor's PKCS#11 library"
		}
	case errors.Is(err, custodian.ErrToken):
		hint = "insert the custodian's card or token, and check token= in the URI"
	case errors.Is(err, custodian.ErrSession):
	case errors.Is(err, custodian.ErrLogin):
		switch {
		case errors.Is(err, hsm.ErrPINLocked):
			hint = hintPINLocked
		case errors.Is(err, hsm.ErrPINFinalTry):
			hint = hintPINFinalTry
		default:
			hint = "check the PIN of this custodian's token; every failed login counts towards the token's lockout"
		}
	default:
		return err
	}
	if hint == "" {
		return err
	}
	return cli.WithHint(err, hint)
}

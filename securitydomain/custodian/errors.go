package custodian

import (
	"errors"
	"fmt"
)

// Sentinel errors: every error from a [Loader], or from a custodian key it
// made when the key is first used, matches one of these with errors.Is.
var (
	// ErrSource: a key source is malformed: an empty key or certificate
	// path, an invalid PKCS#11 URI, or a URI that names no private key.
	ErrSource = errors.New("custodian: invalid key source")
	// ErrKeyFile: a PEM key file cannot be read.
	ErrKeyFile = errors.New("custodian: cannot read the key file")
	// ErrCertificate: the custodian's certificate cannot be read or parsed
	// (a file), or found or read on the token.
	ErrCertificate = errors.New("custodian: certificate not usable")
	// ErrNoSecret: a password or PIN could not be obtained (the callback
	// failed or is nil, or a URI's pin-source file cannot be read or is
	// refused for its form: a *secret.FormError). The callback's own error
	// is wrapped.
	ErrNoSecret = errors.New("custodian: no password or PIN")
	// ErrKey: the private key is not a usable RSA key: a PEM file that does
	// not parse (a wrong password also matches
	// securitydomain.ErrPassword), or a token object that is not an RSA
	// private key with a readable public half.
	ErrKey = errors.New("custodian: not a usable RSA private key")
	// ErrKeyNotFound: the private key a URI names is not on the token (or
	// several match).
	ErrKeyNotFound = errors.New("custodian: private key not found on the token")
	// ErrMismatch: the private key does not match the certificate.
	ErrMismatch = errors.New("custodian: private key and certificate differ")
	// ErrModule: a URI has no module-path, or the PKCS#11 module cannot be
	// loaded (hsm.ErrModuleLoad is wrapped).
	ErrModule = errors.New("custodian: PKCS#11 module not usable")
	// ErrToken: the token a URI names is not found (or several match).
	ErrToken = errors.New("custodian: token not found")
	// ErrSession: a session on the token could not be opened.
	ErrSession = errors.New("custodian: cannot open a session on the token")
	// ErrLogin: the token refused the PIN, or the login was refused before
	// any PIN was tried because the token's PIN is locked or at its final
	// try without a confirmation (an *hsm.PINError is wrapped, matching
	// hsm.ErrPINIncorrect, hsm.ErrPINFinalTry or hsm.ErrPINLocked as the
	// token says).
	ErrLogin = errors.New("custodian: login refused")
)

// keyError is an error of this package: its text is "custodian: " + msg,
// and it matches kind and err.
type keyError struct {
	kind error
	msg  string
	err  error
}

func (e *keyError) Error() string { return "custodian: " + e.msg }

func (e *keyError) Unwrap() []error {
	if e.err == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.err}
}

// errorf makes a keyError of kind wrapping err, with a formatted message.
func errorf(kind, err error, format string, args ...any) error {
	return &keyError{kind: kind, msg: fmt.Sprintf(format, args...), err: err}
}

// wrap makes a keyError of kind whose text is err's.
func wrap(kind, err error) error {
	return &keyError{kind: kind, msg: err.Error(), err: err}
}

// isOurs reports whether err came from this package.
func isOurs(err error) bool {
	var ke *keyError
	return errors.As(err, &ke)
}

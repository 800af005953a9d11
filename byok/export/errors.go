package export

import (
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/hsm"
)

// ErrNoKeys is returned (wrapped) when a request names no key source.
var ErrNoKeys = errors.New("export: no key to export")

// An Error is an export refusal or failure, worded for the person running
// the export: it names the key source and the request field it concerns
// (as the `keyrite byok export` flag that sets it: --key, --ops, --out,
// --out-dir), and carries hints saying what to do. The library's own
// package prefixes ("hsm: ", "byok: ") are dropped from the text; Unwrap
// keeps the whole chain, so errors.Is still finds the hsm and byok
// sentinels.
type Error struct {
	// Msg is the message, without the package prefixes of its cause.
	Msg string
	// Hint lists what to do about it (possibly none).
	Hint []string
	// Usage reports that the request itself is malformed (a source that is
	// not a valid PKCS#11 URI, a batch over two tokens), rather than an
	// input or the HSM refusing it.
	Usage bool
	// Err is the cause, or nil.
	Err error
}

func (e *Error) Error() string   { return e.Msg }
func (e *Error) Unwrap() error   { return e.Err }
func (e *Error) Hints() []string { return e.Hint }

// IsUsage reports whether err is an [Error] marking a malformed request.
func IsUsage(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Usage
}

func hinted(err error, hint ...string) error {
	if err == nil {
		return nil
	}
	return &Error{Msg: err.Error(), Hint: hint, Err: err}
}

func usagef(hint string, format string, args ...any) error {
	e := &Error{Msg: fmt.Sprintf(format, args...), Usage: true}
	if hint != "" {
		e.Hint = []string{hint}
	}
	return e
}

// libErr drops the "hsm: " and "byok: " package prefixes from a library
// error, keeping the chain for errors.Is.
func libErr(err error) *Error {
	msg := err.Error()
	return &Error{Msg: msg, Err: err}
}

// keyErr is libErr naming the key source it concerns.
func keyErr(src string, err error) *Error {
	e := libErr(err)
	e.Msg = "--key " + src + ": " + e.Msg
	return e
}

// Hints for a token's PIN counter.
const (
	hintPINLocked   = "the token's security officer must unlock or reset the user PIN with the vendor's tool (e.g. pkcs11-tool --login --login-type so --init-pin); no PIN can be tried until then"
	hintPINFinalTry = "the next wrong PIN locks the token: make sure of the PIN, then confirm the last try (keyrite: --final-pin-try; the guided ceremony asks), or have the security officer reset the PIN first"
)

// hsmHint attaches what to do to an HSM or export error.
func hsmHint(e *Error, u *hsm.URI) error {
	err := e.Err
	var hint string
	switch {
	case errors.Is(err, hsm.ErrModuleLoad):
		hint = "check module-path in the URI: it must be the vendor's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so"
	case errors.Is(err, hsm.ErrTokenNotFound):
		hint = "check token= in the URI against the labels listed (labels are case-sensitive; percent-encode spaces as %20)"
	case errors.Is(err, hsm.ErrPINLocked):
		hint = hintPINLocked
	case errors.Is(err, hsm.ErrPINFinalTry):
		hint = hintPINFinalTry
	case errors.Is(err, hsm.ErrPINIncorrect):
		hint = "check the PIN; every failed login counts towards the token's lockout"
	case errors.Is(err, hsm.ErrObjectNotFound):
		hint = fmt.Sprintf("list the token's objects: pkcs11-tool --module %s --token-label %q --login --list-objects", u.ModulePath, u.Token)
	case errors.Is(err, hsm.ErrAmbiguous):
		hint = "add id=%XX or type=private / type=secret-key to the URI so that it names exactly one object"
	case errors.Is(err, ErrPreflight):
		hint = "this HSM's wrap would not give the service the exact key encoding; use an HSM or mechanism that wraps without padding (see --kwp-mechanism), or, in a rehearsal only, pass --rehearsal to proceed and record the deviation"
	case errors.Is(err, hsm.ErrNotExtractable):
		hint = "BYOK can only export keys created with CKA_EXTRACTABLE=true; generate a new exportable key in the HSM for import"
	case errors.Is(err, hsm.ErrKeyNotWrappable):
		hint = "the key demands a trusted wrapping key; ask the security officer, or generate the key without CKA_WRAP_WITH_TRUSTED"
	case errors.Is(err, byok.ErrUnsupported):
		hint = "the service imports RSA 2048/3072/4096, EC P-256/P-384/P-521 and (Managed HSM) AES 128/192/256"
	case errors.Is(err, ErrHSMTarget):
		hint = "name the private key (type=private) or secret key (type=secret-key) to export"
	case errors.Is(err, hsm.ErrMechanismInvalid):
		hint = "the HSM lacks a mechanism BYOK needs, or rejects its parameters: try --two-step, and --kwp-mechanism 0x210A or 0x210B"
	case errors.Is(err, hsm.ErrTokenNotRecognized):
		hint = "initialise the token, or check that the module is the right vendor's"
	case errors.Is(err, hsm.ErrGeneral):
		hint = "check the module's configuration (for SoftHSM, the file SOFTHSM2_CONF names and its tokendir)"
	}
	if hint != "" {
		e.Hint = append(e.Hint, hint)
	}
	return e
}

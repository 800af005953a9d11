package hsm

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Sentinel errors. Errors returned by this package wrap one of these where a
// caller may want to react (errors.Is); *Error values from failed PKCS#11
// calls match the sentinel of their CKR_ code too.
var (
	// ErrModuleLoad: the PKCS#11 library could not be loaded (wrong path,
	// not a PKCS#11 module, missing dependency).
	ErrModuleLoad = errors.New("hsm: cannot load PKCS#11 module")
	// ErrTokenNotFound: no initialised token matches the label (or URI).
	ErrTokenNotFound = errors.New("hsm: token not found")
	// ErrObjectNotFound: no object matches the template or URI.
	ErrObjectNotFound = errors.New("hsm: object not found")
	// ErrAmbiguous: several tokens or objects match where exactly one is needed.
	ErrAmbiguous = errors.New("hsm: several matches")
	// ErrNotExtractable: CKR_KEY_UNEXTRACTABLE, or CKA_EXTRACTABLE is false.
	ErrNotExtractable = errors.New("hsm: key not extractable")
	// ErrPINIncorrect: CKR_PIN_INCORRECT.
	ErrPINIncorrect = errors.New("hsm: PIN incorrect")
	// ErrPINLocked: CKR_PIN_LOCKED.
	ErrPINLocked = errors.New("hsm: PIN locked")
	// ErrMechanismInvalid: CKR_MECHANISM_INVALID or CKR_MECHANISM_PARAM_INVALID.
	ErrMechanismInvalid = errors.New("hsm: mechanism not supported")
	// ErrKeyFunctionNotPermitted: CKR_KEY_FUNCTION_NOT_PERMITTED.
	ErrKeyFunctionNotPermitted = errors.New("hsm: key function not permitted")
	// ErrKeyNotWrappable: CKR_KEY_NOT_WRAPPABLE.
	ErrKeyNotWrappable = errors.New("hsm: key not wrappable")
	// ErrTokenNotRecognized: CKR_TOKEN_NOT_RECOGNIZED, CKR_TOKEN_NOT_PRESENT.
	ErrTokenNotRecognized = errors.New("hsm: token not recognized")
	// ErrGeneral: CKR_GENERAL_ERROR (often a broken module configuration).
	ErrGeneral = errors.New("hsm: general error")
	// ErrNotLoggedIn: CKR_USER_NOT_LOGGED_IN.
	ErrNotLoggedIn = errors.New("hsm: not logged in")
	// ErrURI: a PKCS#11 URI is malformed or asks for something refused.
	ErrURI = errors.New("hsm: invalid PKCS#11 URI")
)

// Error is a failed PKCS#11 call. Its message names the call, the CKR_ code
// and what a person can do about it. It unwraps to the pkcs11.Error code and
// matches the package sentinel for that code with errors.Is.
type Error struct {
	Op   string // the PKCS#11 function, e.g. "C_WrapKey"
	Code uint   // the CKR_ value
	// Context is what was being done, e.g. `wrapping "app-key"`; optional.
	Context string
}

func (e *Error) Error() string {
	s := "hsm: " + e.Op
	if e.Context != "" {
		s += " (" + e.Context + ")"
	}
	s += ": " + CodeName(e.Code)
	if m := advice(e.Code); m != "" {
		s += ": " + m
	}
	return s
}

// Unwrap returns the underlying pkcs11.Error.
func (e *Error) Unwrap() error { return pkcs11.Error(e.Code) }

// Is matches the package sentinel for the code.
func (e *Error) Is(target error) bool {
	s := sentinel(e.Code)
	return s != nil && s == target
}

// Code returns the CKR_ code carried by err, if any.
func Code(err error) (uint, bool) {
	var he *Error
	if errors.As(err, &he) {
		return he.Code, true
	}
	var pe pkcs11.Error
	if errors.As(err, &pe) {
		return uint(pe), true
	}
	return 0, false
}

// CodeName is the CKR_ name of a return value ("CKR_PIN_INCORRECT"), or its
// hex value for vendor codes.
func CodeName(code uint) string {
	if n, ok := ckrNames[code]; ok {
		return n
	}
	return fmt.Sprintf("CKR 0x%X", code)
}

// wrapErr turns an error from a PKCS#11 call into an *Error. Errors that are
// not pkcs11.Error (from fakes, for instance) are wrapped as they are.
func wrapErr(op, context string, err error) error {
	if err == nil {
		return nil
	}
	var pe pkcs11.Error
	if errors.As(err, &pe) {
		return &Error{Op: op, Code: uint(pe), Context: context}
	}
	if context != "" {
		return fmt.Errorf("hsm: %s (%s): %w", op, context, err)
	}
	return fmt.Errorf("hsm: %s: %w", op, err)
}

func sentinel(code uint) error {
	switch code {
	case pkcs11.CKR_KEY_UNEXTRACTABLE:
		return ErrNotExtractable
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
		return ErrPINIncorrect
	case pkcs11.CKR_PIN_LOCKED:
		return ErrPINLocked
	case pkcs11.CKR_MECHANISM_INVALID, pkcs11.CKR_MECHANISM_PARAM_INVALID:
		return ErrMechanismInvalid
	case pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED:
		return ErrKeyFunctionNotPermitted
	case pkcs11.CKR_KEY_NOT_WRAPPABLE:
		return ErrKeyNotWrappable
	case pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_TOKEN_NOT_PRESENT:
		return ErrTokenNotRecognized
	case pkcs11.CKR_GENERAL_ERROR:
		return ErrGeneral
	case pkcs11.CKR_USER_NOT_LOGGED_IN:
		return ErrNotLoggedIn
	}
	return nil
}

// advice says what a code means for the person running the ceremony.
func advice(code uint) string {
	switch code {
	case pkcs11.CKR_KEY_UNEXTRACTABLE:
		return "the key is not extractable; BYOK needs CKA_EXTRACTABLE=true, set when the key was generated (it cannot be turned on later)"
	case pkcs11.CKR_PIN_INCORRECT:
		return "the PIN was not accepted; check it and retry (each failure counts towards the token's lockout)"
	case pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
		return "the PIN has characters or a length the token does not accept"
	case pkcs11.CKR_PIN_LOCKED:
		return "the user PIN is locked after too many failures; the security officer must unlock or reset it"
	case pkcs11.CKR_PIN_EXPIRED:
		return "the PIN has expired; set a new one with the vendor's tool"
	case pkcs11.CKR_TOKEN_NOT_PRESENT:
		return "no token is present in the slot; insert or connect it"
	case pkcs11.CKR_TOKEN_NOT_RECOGNIZED:
		return "the module does not recognise the token; it may be uninitialised or from another vendor"
	case pkcs11.CKR_MECHANISM_INVALID:
		return "the token does not support this mechanism"
	case pkcs11.CKR_MECHANISM_PARAM_INVALID:
		return "the token rejected the mechanism's parameters"
	case pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED:
		return "the key's attributes forbid this use (e.g. a wrapping key without CKA_WRAP=true)"
	case pkcs11.CKR_KEY_NOT_WRAPPABLE:
		return "the key may only be wrapped by a trusted key (CKA_WRAP_WITH_TRUSTED=true) and the wrapping key is not CKA_TRUSTED; only the security officer can mark a key trusted"
	case pkcs11.CKR_KEY_SIZE_RANGE:
		return "the key size is outside what the mechanism accepts"
	case pkcs11.CKR_KEY_TYPE_INCONSISTENT:
		return "the key type does not fit the mechanism"
	case pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_OBJECT_HANDLE_INVALID:
		return "the object handle is no longer valid (handles change after logout/login); look the object up again"
	case pkcs11.CKR_GENERAL_ERROR:
		return "the module failed without saying why; this is often a bad module configuration (check the vendor's configuration file and its environment variable, e.g. SOFTHSM2_CONF)"
	case pkcs11.CKR_USER_NOT_LOGGED_IN:
		return "log in with the user PIN first"
	case pkcs11.CKR_USER_PIN_NOT_INITIALIZED:
		return "the token's user PIN was never set; the security officer must initialise it"
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED:
		return "the session was closed (token removed or module reset); start again"
	case pkcs11.CKR_DEVICE_REMOVED:
		return "the device was removed during the operation"
	case pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_DEVICE_MEMORY:
		return "the device reported a hardware or memory fault"
	case pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:
		return "the module was not initialised (internal error)"
	case pkcs11.CKR_TEMPLATE_INCONSISTENT, pkcs11.CKR_TEMPLATE_INCOMPLETE, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID:
		return "the token rejected the attributes asked for"
	case pkcs11.CKR_ATTRIBUTE_SENSITIVE:
		return "the attribute is sensitive and cannot be read"
	case pkcs11.CKR_WRAPPING_KEY_TYPE_INCONSISTENT, pkcs11.CKR_WRAPPING_KEY_SIZE_RANGE:
		return "the wrapping key does not fit the mechanism"
	case pkcs11.CKR_FUNCTION_NOT_SUPPORTED:
		return "the module does not implement this function"
	case pkcs11.CKR_SESSION_READ_ONLY:
		return "the session is read-only"
	case pkcs11.CKR_TOKEN_WRITE_PROTECTED:
		return "the token is write-protected"
	}
	return ""
}

var ckrNames = map[uint]string{
	pkcs11.CKR_OK:                             "CKR_OK",
	pkcs11.CKR_CANCEL:                         "CKR_CANCEL",
	pkcs11.CKR_HOST_MEMORY:                    "CKR_HOST_MEMORY",
	pkcs11.CKR_SLOT_ID_INVALID:                "CKR_SLOT_ID_INVALID",
	pkcs11.CKR_GENERAL_ERROR:                  "CKR_GENERAL_ERROR",
	pkcs11.CKR_FUNCTION_FAILED:                "CKR_FUNCTION_FAILED",
	pkcs11.CKR_ARGUMENTS_BAD:                  "CKR_ARGUMENTS_BAD",
	pkcs11.CKR_ATTRIBUTE_READ_ONLY:            "CKR_ATTRIBUTE_READ_ONLY",
	pkcs11.CKR_ATTRIBUTE_SENSITIVE:            "CKR_ATTRIBUTE_SENSITIVE",
	pkcs11.CKR_ATTRIBUTE_TYPE_INVALID:         "CKR_ATTRIBUTE_TYPE_INVALID",
	pkcs11.CKR_ATTRIBUTE_VALUE_INVALID:        "CKR_ATTRIBUTE_VALUE_INVALID",
	pkcs11.CKR_DATA_INVALID:                   "CKR_DATA_INVALID",
	pkcs11.CKR_DATA_LEN_RANGE:                 "CKR_DATA_LEN_RANGE",
	pkcs11.CKR_DEVICE_ERROR:                   "CKR_DEVICE_ERROR",
	pkcs11.CKR_DEVICE_MEMORY:                  "CKR_DEVICE_MEMORY",
	pkcs11.CKR_DEVICE_REMOVED:                 "CKR_DEVICE_REMOVED",
	pkcs11.CKR_ENCRYPTED_DATA_INVALID:         "CKR_ENCRYPTED_DATA_INVALID",
	pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE:       "CKR_ENCRYPTED_DATA_LEN_RANGE",
	pkcs11.CKR_FUNCTION_NOT_SUPPORTED:         "CKR_FUNCTION_NOT_SUPPORTED",
	pkcs11.CKR_KEY_HANDLE_INVALID:             "CKR_KEY_HANDLE_INVALID",
	pkcs11.CKR_KEY_SIZE_RANGE:                 "CKR_KEY_SIZE_RANGE",
	pkcs11.CKR_KEY_TYPE_INCONSISTENT:          "CKR_KEY_TYPE_INCONSISTENT",
	pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED:     "CKR_KEY_FUNCTION_NOT_PERMITTED",
	pkcs11.CKR_KEY_NOT_WRAPPABLE:              "CKR_KEY_NOT_WRAPPABLE",
	pkcs11.CKR_KEY_UNEXTRACTABLE:              "CKR_KEY_UNEXTRACTABLE",
	pkcs11.CKR_MECHANISM_INVALID:              "CKR_MECHANISM_INVALID",
	pkcs11.CKR_MECHANISM_PARAM_INVALID:        "CKR_MECHANISM_PARAM_INVALID",
	pkcs11.CKR_OBJECT_HANDLE_INVALID:          "CKR_OBJECT_HANDLE_INVALID",
	pkcs11.CKR_OPERATION_ACTIVE:               "CKR_OPERATION_ACTIVE",
	pkcs11.CKR_OPERATION_NOT_INITIALIZED:      "CKR_OPERATION_NOT_INITIALIZED",
	pkcs11.CKR_PIN_INCORRECT:                  "CKR_PIN_INCORRECT",
	pkcs11.CKR_PIN_INVALID:                    "CKR_PIN_INVALID",
	pkcs11.CKR_PIN_LEN_RANGE:                  "CKR_PIN_LEN_RANGE",
	pkcs11.CKR_PIN_EXPIRED:                    "CKR_PIN_EXPIRED",
	pkcs11.CKR_PIN_LOCKED:                     "CKR_PIN_LOCKED",
	pkcs11.CKR_SESSION_CLOSED:                 "CKR_SESSION_CLOSED",
	pkcs11.CKR_SESSION_COUNT:                  "CKR_SESSION_COUNT",
	pkcs11.CKR_SESSION_HANDLE_INVALID:         "CKR_SESSION_HANDLE_INVALID",
	pkcs11.CKR_SESSION_READ_ONLY:              "CKR_SESSION_READ_ONLY",
	pkcs11.CKR_TEMPLATE_INCOMPLETE:            "CKR_TEMPLATE_INCOMPLETE",
	pkcs11.CKR_TEMPLATE_INCONSISTENT:          "CKR_TEMPLATE_INCONSISTENT",
	pkcs11.CKR_TOKEN_NOT_PRESENT:              "CKR_TOKEN_NOT_PRESENT",
	pkcs11.CKR_TOKEN_NOT_RECOGNIZED:           "CKR_TOKEN_NOT_RECOGNIZED",
	pkcs11.CKR_TOKEN_WRITE_PROTECTED:          "CKR_TOKEN_WRITE_PROTECTED",
	pkcs11.CKR_USER_ALREADY_LOGGED_IN:         "CKR_USER_ALREADY_LOGGED_IN",
	pkcs11.CKR_USER_NOT_LOGGED_IN:             "CKR_USER_NOT_LOGGED_IN",
	pkcs11.CKR_USER_PIN_NOT_INITIALIZED:       "CKR_USER_PIN_NOT_INITIALIZED",
	pkcs11.CKR_USER_TYPE_INVALID:              "CKR_USER_TYPE_INVALID",
	pkcs11.CKR_WRAPPED_KEY_INVALID:            "CKR_WRAPPED_KEY_INVALID",
	pkcs11.CKR_WRAPPED_KEY_LEN_RANGE:          "CKR_WRAPPED_KEY_LEN_RANGE",
	pkcs11.CKR_WRAPPING_KEY_HANDLE_INVALID:    "CKR_WRAPPING_KEY_HANDLE_INVALID",
	pkcs11.CKR_WRAPPING_KEY_SIZE_RANGE:        "CKR_WRAPPING_KEY_SIZE_RANGE",
	pkcs11.CKR_WRAPPING_KEY_TYPE_INCONSISTENT: "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
	pkcs11.CKR_BUFFER_TOO_SMALL:               "CKR_BUFFER_TOO_SMALL",
	pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:       "CKR_CRYPTOKI_NOT_INITIALIZED",
	pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED:   "CKR_CRYPTOKI_ALREADY_INITIALIZED",
}

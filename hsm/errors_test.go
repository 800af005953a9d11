package hsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/miekg/pkcs11"
)

// TestErrorMapping: every CKR_ code a ceremony meets becomes an *Error that
// names the call and the code, says what to do, and matches its sentinel.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		code     uint
		sentinel error
		advice   string
	}{
		{pkcs11.CKR_KEY_UNEXTRACTABLE, hsm.ErrNotExtractable, "the key is not extractable; BYOK needs CKA_EXTRACTABLE=true, set when the key was generated"},
		{pkcs11.CKR_PIN_INCORRECT, hsm.ErrPINIncorrect, "the PIN was not accepted"},
		{pkcs11.CKR_PIN_LOCKED, hsm.ErrPINLocked, "the security officer must unlock or reset it"},
		{pkcs11.CKR_TOKEN_NOT_PRESENT, hsm.ErrTokenNotRecognized, "no token is present"},
		{pkcs11.CKR_TOKEN_NOT_RECOGNIZED, hsm.ErrTokenNotRecognized, "uninitialised"},
		{pkcs11.CKR_MECHANISM_INVALID, hsm.ErrMechanismInvalid, "does not support this mechanism"},
		{pkcs11.CKR_MECHANISM_PARAM_INVALID, hsm.ErrMechanismInvalid, "parameters"},
		{pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, hsm.ErrKeyFunctionNotPermitted, "CKA_WRAP=true"},
		{pkcs11.CKR_KEY_NOT_WRAPPABLE, hsm.ErrKeyNotWrappable, "only the security officer can mark a key trusted"},
		{pkcs11.CKR_GENERAL_ERROR, hsm.ErrGeneral, "bad module configuration"},
		{pkcs11.CKR_USER_NOT_LOGGED_IN, hsm.ErrNotLoggedIn, "log in"},
		{pkcs11.CKR_KEY_HANDLE_INVALID, nil, "look the object up again"},
		{pkcs11.CKR_DEVICE_ERROR, nil, "hardware or memory fault"},
	}
	for _, tt := range tests {
		name := hsm.CodeName(tt.code)
		t.Run(name, func(t *testing.T) {
			err := hsm.WrapError("C_WrapKey", `wrapping "app-key"`, pkcs11.Error(tt.code))
			msg := err.Error()
			if !strings.HasPrefix(msg, `hsm: C_WrapKey (wrapping "app-key"): `+name+": ") || !strings.Contains(msg, tt.advice) {
				t.Errorf("message %q", msg)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("does not match %v", tt.sentinel)
			}
			if !errors.Is(err, pkcs11.Error(tt.code)) {
				t.Error("does not unwrap to the pkcs11.Error")
			}
			if c, ok := hsm.Code(err); !ok || c != tt.code {
				t.Errorf("Code = %x, %v", c, ok)
			}
		})
	}
	if got := hsm.CodeName(0x80001234); got != "CKR 0x80001234" {
		t.Errorf("vendor code name %q", got)
	}
	if hsm.WrapError("C_Login", "", nil) != nil {
		t.Error("WrapError(nil) != nil")
	}
	other := errors.New("boom")
	if err := hsm.WrapError("C_Login", "", other); !errors.Is(err, other) || err.Error() != "hsm: C_Login: boom" {
		t.Errorf("non-PKCS#11 error: %v", err)
	}
}

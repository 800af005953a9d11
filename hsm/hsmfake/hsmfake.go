// Package hsmfake decorates a real PKCS#11 module (normally a SoftHSM token
// from hsm/softhsmtest) for tests: it injects failures into chosen calls,
// records the mechanisms used and counts logins, reports the PIN-counter
// flags a test asks for (TokenFlags), and can emulate CKM_RSA_AES_KEY_WRAP on a
// module that lacks it (SoftHSM 2.6.1), so that the single-mechanism BYOK
// path can be exercised end to end.
//
// Use it with hsm.LoadWith:
//
//	ctx := pkcs11.New(tok.Module)
//	f := &hsmfake.Fake{PKCS11: ctx, RSAAESKeyWrap: true}
//	m, err := hsm.LoadWith(f, tok.Module)
package hsmfake

import (
	"sync"

	"github.com/keyrite/keyrite/hsm"
	"github.com/miekg/pkcs11"
)

// Fake is an hsm.PKCS11 that forwards to the embedded one, except where its
// fields say otherwise.
type Fake struct {
	hsm.PKCS11

	// Fail makes the named method ("WrapKey", "Login", "GenerateKey",
	// "CreateObject", "DestroyObject", "GetMechanismInfo", "GetTokenInfo")
	// fail with the error
	// (use pkcs11.Error(code) to simulate a CKR_ value).
	Fail map[string]error

	// RSAAESKeyWrap makes the module list CKM_RSA_AES_KEY_WRAP with CKF_WRAP
	// and implement it in C_WrapKey as the token's own two steps (ephemeral
	// AES-256, CKM_AES_KEY_WRAP_PAD, CKM_RSA_PKCS_OAEP SHA-1).
	RSAAESKeyWrap bool

	// TokenFlags, when set, rewrites the token flags C_GetTokenInfo
	// reports (it is given the real token's): to play a token whose PIN
	// counter is low (pkcs11.CKF_USER_PIN_COUNT_LOW), at its final try
	// (CKF_USER_PIN_FINAL_TRY) or locked (CKF_USER_PIN_LOCKED). It may
	// look at Logins to move on after a failed login.
	TokenFlags func(flags uint) uint

	mu sync.Mutex
	// logins counts the C_Login calls that reached this decorator.
	logins int
	// WrapMechanisms lists the mechanisms passed to C_WrapKey, in order.
	WrapMechanisms []uint
	// Live counts session objects made through CreateObject/GenerateKey and
	// not yet destroyed (to check that ephemeral keys are cleaned up).
	Live map[pkcs11.ObjectHandle]bool
}

func (f *Fake) fail(name string) error {
	if f.Fail == nil {
		return nil
	}
	return f.Fail[name]
}

func (f *Fake) track(h pkcs11.ObjectHandle, live bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Live == nil {
		f.Live = map[pkcs11.ObjectHandle]bool{}
	}
	if live {
		f.Live[h] = true
	} else {
		delete(f.Live, h)
	}
}

// LiveObjects is the number of objects created and not destroyed.
func (f *Fake) LiveObjects() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Live)
}

// Logins is the number of C_Login calls made so far (each may have cost
// a try of the token's PIN counter).
func (f *Fake) Logins() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins
}

// GetTokenInfo reports the flags TokenFlags makes of the real ones.
func (f *Fake) GetTokenInfo(slotID uint) (pkcs11.TokenInfo, error) {
	if err := f.fail("GetTokenInfo"); err != nil {
		return pkcs11.TokenInfo{}, err
	}
	ti, err := f.PKCS11.GetTokenInfo(slotID)
	if err == nil && f.TokenFlags != nil {
		ti.Flags = f.TokenFlags(ti.Flags)
	}
	return ti, err
}

// Login is counted, and may fail on request.
func (f *Fake) Login(sh pkcs11.SessionHandle, userType uint, pin string) error {
	f.mu.Lock()
	f.logins++
	f.mu.Unlock()
	if err := f.fail("Login"); err != nil {
		return err
	}
	return f.PKCS11.Login(sh, userType, pin)
}

// GetMechanismInfo adds CKM_RSA_AES_KEY_WRAP when emulated.
func (f *Fake) GetMechanismInfo(slotID uint, m []*pkcs11.Mechanism) (pkcs11.MechanismInfo, error) {
	if err := f.fail("GetMechanismInfo"); err != nil {
		return pkcs11.MechanismInfo{}, err
	}
	if f.RSAAESKeyWrap && len(m) == 1 && m[0].Mechanism == pkcs11.CKM_RSA_AES_KEY_WRAP {
		return pkcs11.MechanismInfo{MinKeySize: 2048, MaxKeySize: 4096, Flags: pkcs11.CKF_WRAP | pkcs11.CKF_UNWRAP}, nil
	}
	return f.PKCS11.GetMechanismInfo(slotID, m)
}

// CreateObject tracks the object made.
func (f *Fake) CreateObject(sh pkcs11.SessionHandle, temp []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	if err := f.fail("CreateObject"); err != nil {
		return 0, err
	}
	h, err := f.PKCS11.CreateObject(sh, temp)
	if err == nil {
		f.track(h, true)
	}
	return h, err
}

// GenerateKey tracks the key made.
func (f *Fake) GenerateKey(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, temp []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	if err := f.fail("GenerateKey"); err != nil {
		return 0, err
	}
	h, err := f.PKCS11.GenerateKey(sh, m, temp)
	if err == nil {
		f.track(h, true)
	}
	return h, err
}

// DestroyObject untracks the object.
func (f *Fake) DestroyObject(sh pkcs11.SessionHandle, oh pkcs11.ObjectHandle) error {
	if err := f.fail("DestroyObject"); err != nil {
		return err
	}
	err := f.PKCS11.DestroyObject(sh, oh)
	if err == nil {
		f.track(oh, false)
	}
	return err
}

// WrapKey records the mechanism, may fail on request, and emulates
// CKM_RSA_AES_KEY_WRAP when asked to.
func (f *Fake) WrapKey(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, wrapping, key pkcs11.ObjectHandle) ([]byte, error) {
	if len(m) == 1 {
		f.mu.Lock()
		f.WrapMechanisms = append(f.WrapMechanisms, m[0].Mechanism)
		f.mu.Unlock()
	}
	if err := f.fail("WrapKey"); err != nil {
		return nil, err
	}
	if !(f.RSAAESKeyWrap && len(m) == 1 && m[0].Mechanism == pkcs11.CKM_RSA_AES_KEY_WRAP) {
		return f.PKCS11.WrapKey(sh, m, wrapping, key)
	}
	aes, err := f.PKCS11.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
	})
	if err != nil {
		return nil, err
	}
	defer f.PKCS11.DestroyObject(sh, aes)
	kwp, err := f.PKCS11.WrapKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, aes, key)
	if err != nil {
		return nil, err
	}
	rsaPart, err := f.PKCS11.WrapKey(sh, []*pkcs11.Mechanism{hsm.OAEPSHA1()}, wrapping, aes)
	if err != nil {
		return nil, err
	}
	return append(rsaPart, kwp...), nil
}

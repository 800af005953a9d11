package hsm

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

// ImportRSAPublicKey creates a session (CKA_TOKEN false) RSA public key
// object from pub, usable for wrapping (CKA_WRAP) and encryption, labelled
// label. It disappears when the session closes; destroy it earlier with
// Destroy. This is how a KEK enters the HSM.
func (s *Session) ImportRSAPublicKey(pub *rsa.PublicKey, label string) (pkcs11.ObjectHandle, error) {
	if pub == nil || pub.N == nil {
		return 0, fmt.Errorf("hsm: no RSA public key to import")
	}
	t := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS, pub.N.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(pub.E)).Bytes()),
	}
	h, err := s.p.CreateObject(s.h, t)
	if err != nil {
		return 0, wrapErr("C_CreateObject", "importing the RSA public key "+label, err)
	}
	return h, nil
}

// SecretKeyOptions are the attributes of a session secret key made by
// GenerateSessionAES or ImportSessionAES.
type SecretKeyOptions struct {
	Label       string
	Extractable bool // CKA_EXTRACTABLE
	Sensitive   bool // CKA_SENSITIVE
	Wrap        bool // CKA_WRAP: may wrap other keys
}

func (o SecretKeyOptions) template() []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, o.Label),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, o.Extractable),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, o.Sensitive),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, o.Wrap),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
	}
}

// GenerateSessionAES generates a session AES key of bits (128, 192, 256) on
// the token. The caller must Destroy it (defer) when done.
func (s *Session) GenerateSessionAES(bits int, o SecretKeyOptions) (pkcs11.ObjectHandle, error) {
	if bits != 128 && bits != 192 && bits != 256 {
		return 0, fmt.Errorf("hsm: AES key size %d bits: want 128, 192 or 256", bits)
	}
	t := append(o.template(), pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, bits/8))
	h, err := s.p.GenerateKey(s.h, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, t)
	if err != nil {
		return 0, wrapErr("C_GenerateKey", fmt.Sprintf("AES-%d session key", bits), err)
	}
	return h, nil
}

// ImportSessionAES creates a session AES key object holding value (16, 24 or
// 32 bytes). Some HSMs refuse plaintext secret-key import (FIPS mode); use
// GenerateSessionAES there. The caller must Destroy it when done.
func (s *Session) ImportSessionAES(value []byte, o SecretKeyOptions) (pkcs11.ObjectHandle, error) {
	if n := len(value); n != 16 && n != 24 && n != 32 {
		return 0, fmt.Errorf("hsm: AES key of %d bytes: want 16, 24 or 32", n)
	}
	t := append(o.template(), pkcs11.NewAttribute(pkcs11.CKA_VALUE, value))
	h, err := s.p.CreateObject(s.h, t)
	if err != nil {
		return 0, wrapErr("C_CreateObject", "importing a session AES key", err)
	}
	return h, nil
}

// ImportSessionPrivateKey creates an extractable session private-key object
// from an *rsa.PrivateKey or *ecdsa.PrivateKey (P-256, P-384, P-521). It is
// meant for throwaway keys (the BYOK pre-flight check); the caller must
// Destroy it when done.
func (s *Session) ImportSessionPrivateKey(key any, label string) (pkcs11.ObjectHandle, error) {
	t := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if len(k.Primes) != 2 {
			return 0, fmt.Errorf("hsm: RSA key with %d primes: only two-prime keys can be imported", len(k.Primes))
		}
		k.Precompute()
		t = append(t,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, k.N.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(k.E)).Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE_EXPONENT, k.D.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PRIME_1, k.Primes[0].Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PRIME_2, k.Primes[1].Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_1, k.Precomputed.Dp.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_2, k.Precomputed.Dq.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_COEFFICIENT, k.Precomputed.Qinv.Bytes()),
		)
	case *ecdsa.PrivateKey:
		params, err := ECParamsFor(k.Curve.Params().Name)
		if err != nil {
			return 0, err
		}
		d, err := k.Bytes() // the fixed-length big-endian scalar
		if err != nil {
			return 0, fmt.Errorf("hsm: cannot encode the EC private key: %w", err)
		}
		defer clear(d)
		t = append(t,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, d),
		)
	default:
		return 0, fmt.Errorf("hsm: cannot import a %T as a private key", key)
	}
	h, err := s.p.CreateObject(s.h, t)
	if err != nil {
		return 0, wrapErr("C_CreateObject", "importing session private key "+label, err)
	}
	return h, nil
}

// WrapKey runs C_WrapKey with mech, wrapping key under wrapping. context
// names what is wrapped, for error messages (`"app-key"`).
func (s *Session) WrapKey(mech *pkcs11.Mechanism, wrapping, key pkcs11.ObjectHandle, context string) ([]byte, error) {
	out, err := s.p.WrapKey(s.h, []*pkcs11.Mechanism{mech}, wrapping, key)
	if err != nil {
		c := MechanismName(mech.Mechanism)
		if context != "" {
			c = context + " with " + c
		}
		return nil, wrapErr("C_WrapKey", c, err)
	}
	return out, nil
}

// OAEPSHA1 is the CKM_RSA_PKCS_OAEP mechanism BYOK uses: SHA-1, MGF1-SHA-1,
// empty label.
func OAEPSHA1() *pkcs11.Mechanism {
	return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_OAEP,
		pkcs11.NewOAEPParams(pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1, pkcs11.CKZ_DATA_SPECIFIED, nil))
}

// RSAAESKeyWrap256 is CKM_RSA_AES_KEY_WRAP with a 256-bit ephemeral AES key
// and OAEP SHA-1/MGF1-SHA-1, empty label: the BYOK single mechanism.
func RSAAESKeyWrap256() *pkcs11.Mechanism {
	return pkcs11.NewMechanism(pkcs11.CKM_RSA_AES_KEY_WRAP, &pkcs11.RSAAESKeyWrapParams{
		AESKeyBits: 256,
		OAEPParams: *pkcs11.NewOAEPParams(pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1, pkcs11.CKZ_DATA_SPECIFIED, nil),
	})
}

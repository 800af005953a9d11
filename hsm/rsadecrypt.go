package hsm

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

// RSAPrivateKey is an RSA private key object on a token, used through the
// session that found it: decryption here, signing in keygen.go. The public
// half comes from the object's CKA_MODULUS and CKA_PUBLIC_EXPONENT.
type RSAPrivateKey struct {
	s   *Session
	obj *Object
	pub *rsa.PublicKey
}

// RSAPrivateKey wraps obj, which must be an RSA private key with a readable
// modulus and public exponent.
func (s *Session) RSAPrivateKey(obj *Object) (*RSAPrivateKey, error) {
	if obj.Class != pkcs11.CKO_PRIVATE_KEY || obj.KeyType != pkcs11.CKK_RSA {
		return nil, fmt.Errorf("hsm: %s is not an RSA private key", obj.Summary())
	}
	if len(obj.Modulus) == 0 || len(obj.PublicExponent) == 0 {
		return nil, fmt.Errorf("hsm: %s: the token does not show its modulus and public exponent", obj.Summary())
	}
	e := new(big.Int).SetBytes(obj.PublicExponent)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("hsm: %s: unsupported public exponent", obj.Summary())
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(obj.Modulus), E: int(e.Int64())}
	return &RSAPrivateKey{s: s, obj: obj, pub: pub}, nil
}

// Public returns the *rsa.PublicKey.
func (k *RSAPrivateKey) Public() crypto.PublicKey { return k.pub }

// Object returns the key's description.
func (k *RSAPrivateKey) Object() *Object { return k.obj }

// Mechanism names for transcripts.
const (
	MechRSAOAEPSHA256 = "CKM_RSA_PKCS_OAEP(SHA-256, MGF1-SHA-256)"
	MechRSAX509       = "CKM_RSA_X_509"
)

// OAEPSHA256 is CKM_RSA_PKCS_OAEP with SHA-256, MGF1-SHA-256 and no label.
func OAEPSHA256() *pkcs11.Mechanism {
	return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_OAEP,
		pkcs11.NewOAEPParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, pkcs11.CKZ_DATA_SPECIFIED, nil))
}

// DecryptOAEPSHA256 decrypts ct with CKM_RSA_PKCS_OAEP (SHA-256,
// MGF1-SHA-256, empty label). When the token does not list the mechanism for
// decryption, or refuses it with these parameters (SoftHSM 2.6.1 answers
// CKR_ARGUMENTS_BAD: it only does SHA-1), the error wraps
// errors.ErrUnsupported, so that the caller can fall back to DecryptRaw.
func (k *RSAPrivateKey) DecryptOAEPSHA256(ct []byte) ([]byte, error) {
	ok, err := k.s.Supports(pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.CKF_DECRYPT)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("hsm: token %q does not list CKM_RSA_PKCS_OAEP for decryption: %w", k.s.Slot.Token.Label, errors.ErrUnsupported)
	}
	pt, err := k.decrypt(OAEPSHA256(), ct, "RSA-OAEP-SHA-256")
	if err != nil {
		if c, ok := Code(err); ok && (c == pkcs11.CKR_MECHANISM_INVALID || c == pkcs11.CKR_MECHANISM_PARAM_INVALID || c == pkcs11.CKR_ARGUMENTS_BAD) {
			return nil, fmt.Errorf("%w (%w)", err, errors.ErrUnsupported)
		}
		return nil, err
	}
	return pt, nil
}

// DecryptRaw returns ct^d mod n with CKM_RSA_X_509, as the token gives it
// (normally the modulus length). The caller decodes the padding.
func (k *RSAPrivateKey) DecryptRaw(ct []byte) ([]byte, error) {
	if len(ct) != k.pub.Size() {
		return nil, fmt.Errorf("hsm: RSA ciphertext is %d bytes, the key's modulus %d", len(ct), k.pub.Size())
	}
	return k.decrypt(pkcs11.NewMechanism(pkcs11.CKM_RSA_X_509, nil), ct, "raw RSA")
}

func (k *RSAPrivateKey) decrypt(mech *pkcs11.Mechanism, ct []byte, what string) ([]byte, error) {
	ctx := fmt.Sprintf("%s with %s", what, k.obj.Summary())
	if err := k.s.p.DecryptInit(k.s.h, []*pkcs11.Mechanism{mech}, k.obj.Handle); err != nil {
		return nil, wrapErr("C_DecryptInit", ctx, err)
	}
	pt, err := k.s.p.Decrypt(k.s.h, ct)
	if err != nil {
		return nil, wrapErr("C_Decrypt", ctx, err)
	}
	return pt, nil
}

package securitydomain

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
)

// A Decrypter is a custodian's RSA private key: in software (a PEM file, see
// [SoftwareKey]) or on a smartcard or token (see [NewTokenDecrypter]).
type Decrypter interface {
	// Public returns the *rsa.PublicKey.
	Public() crypto.PublicKey
	// DecryptOAEPSHA256 decrypts RSAES-OAEP with SHA-256, MGF1-SHA-256 and
	// an empty label. A wrong key or damaged ciphertext gives an error
	// wrapping ErrDecryption.
	DecryptOAEPSHA256(ciphertext []byte) ([]byte, error)
}

// Mechanism names what a Decrypter ran, for reports and transcripts.
const (
	MechSoftware = "software RSA-OAEP-SHA-256"
	MechOAEP     = "CKM_RSA_PKCS_OAEP(SHA-256, MGF1-SHA-256)"
	MechRawOAEP  = "CKM_RSA_X_509 + host OAEP-SHA-256 decoding"
)

// MechanismOf returns the mechanism d last ran, if it says.
func MechanismOf(d Decrypter) string {
	if m, ok := d.(interface{ Mechanism() string }); ok {
		return m.Mechanism()
	}
	return ""
}

type softwareKey struct{ k *rsa.PrivateKey }

// SoftwareKey returns a Decrypter for an RSA private key held in memory.
func SoftwareKey(k *rsa.PrivateKey) Decrypter { return softwareKey{k} }

func (s softwareKey) Public() crypto.PublicKey { return &s.k.PublicKey }
func (s softwareKey) Mechanism() string        { return MechSoftware }

func (s softwareKey) DecryptOAEPSHA256(ct []byte) ([]byte, error) {
	pt, err := rsa.DecryptOAEP(sha256.New(), rand.Reader, s.k, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecryption, err)
	}
	return pt, nil
}

// A TokenKey is an RSA private key on a PKCS#11 token, as package hsm
// offers it: the token's own OAEP, and raw RSA.
type TokenKey interface {
	Public() crypto.PublicKey
	// DecryptOAEPSHA256 runs CKM_RSA_PKCS_OAEP with SHA-256 parameters. If
	// the token does not offer or accept the mechanism with these
	// parameters, the error wraps errors.ErrUnsupported.
	DecryptOAEPSHA256(ciphertext []byte) ([]byte, error)
	// DecryptRaw runs CKM_RSA_X_509 (c^d mod n).
	DecryptRaw(ciphertext []byte) ([]byte, error)
}

// TokenDecrypter is a Decrypter over a TokenKey. It uses the token's
// CKM_RSA_PKCS_OAEP with SHA-256 when the token accepts it, and otherwise
// CKM_RSA_X_509 with OAEP decoded on the host ([DecodeOAEPSHA256]); SoftHSM
// 2.6.1 and PIV cards need the latter. Mechanism reports which ran.
type TokenDecrypter struct {
	key  TokenKey
	mu   sync.Mutex
	mech string
	raw  bool // the token refused OAEP-SHA-256 once: go straight to raw RSA
}

// NewTokenDecrypter wraps k.
func NewTokenDecrypter(k TokenKey) *TokenDecrypter { return &TokenDecrypter{key: k} }

// Public returns the key's public half.
func (t *TokenDecrypter) Public() crypto.PublicKey { return t.key.Public() }

// Mechanism returns the mechanism of the last decryption ("" before any).
func (t *TokenDecrypter) Mechanism() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mech
}

// DecryptOAEPSHA256 implements Decrypter.
func (t *TokenDecrypter) DecryptOAEPSHA256(ct []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.raw {
		pt, err := t.key.DecryptOAEPSHA256(ct)
		if err == nil {
			t.mech = MechOAEP
			return pt, nil
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return nil, err
		}
		t.raw = true
	}
	pub, ok := t.key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("securitydomain: token key is not an RSA key")
	}
	em, err := t.key.DecryptRaw(ct)
	if err != nil {
		return nil, err
	}
	defer clear(em)
	t.mech = MechRawOAEP
	return DecodeOAEPSHA256(em, pub.Size())
}

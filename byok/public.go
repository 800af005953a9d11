package byok

import (
	"crypto"
	"crypto/x509"
	"fmt"
)

// PublicSPKI returns the DER SubjectPublicKeyInfo of the target's public key,
// or nil for an AES key, which has none. Records keep it so that the online
// side can check that the key the service imported is the key exported.
func (t *Target) PublicSPKI() ([]byte, error) {
	if t.Type == TypeAES {
		return nil, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(t.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the key for its public part: %v", ErrTarget, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: key of type %T has no public part", ErrTarget, k)
	}
	return x509.MarshalPKIXPublicKey(signer.Public())
}

package transcripts

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseSigningKeyPEM: no panic on any signing-key file; an accepted key
// is Ed25519 or ECDSA P-256 and re-parses from its own PKCS#8 encoding.
func FuzzParseSigningKeyPEM(f *testing.F) {
	seed := func(k any) {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	seed(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	if k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), append(make([]byte, 31), 1)); err == nil {
		seed(k)
	}
	for _, name := range []string{"kek-rsa2048.key.pem", "target-ec-p384.pem", "target-ec-p256.pem", "target-ed25519.pem"} {
		if b, err := os.ReadFile(filepath.Join("..", "testvectors", "byok", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMA==\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSigningKeyPEM(data)
		if err != nil {
			return
		}
		switch k := s.(type) {
		case ed25519.PrivateKey:
		case *ecdsa.PrivateKey:
			if k.Curve != elliptic.P256() {
				t.Fatal("accepted a non-P-256 ECDSA key")
			}
		default:
			t.Fatalf("accepted a %T", s)
		}
		der, err := x509.MarshalPKCS8PrivateKey(s)
		if err != nil {
			t.Fatalf("accepted key does not marshal: %v", err)
		}
		s2, err := ParseSigningKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if err != nil {
			t.Fatalf("accepted key does not re-parse: %v", err)
		}
		type eq interface {
			Equal(x crypto.PrivateKey) bool
		}
		if e, ok := s2.(eq); !ok || !e.Equal(s) {
			t.Fatal("re-parsed key differs")
		}
	})
}

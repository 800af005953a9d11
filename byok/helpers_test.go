package byok

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"testing"
)

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readPrivate reads a PEM PKCS#8 private key with crypto/x509 only.
func readPrivate(t testing.TB, path string) any {
	t.Helper()
	block, _ := pem.Decode(mustRead(t, path))
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return k
}

func kekFromFile(t testing.TB, path string) *KEK {
	t.Helper()
	k, err := ParseKEK(mustRead(t, path), "")
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return k
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func asn1Unmarshal(b []byte, v any) ([]byte, error) { return asn1.Unmarshal(b, v) }
func asn1Marshal(v any) ([]byte, error)             { return asn1.Marshal(v) }
func mustMarshalOID(t testing.TB, oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

package securitydomain

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets for the parsers fuzz_test.go does not cover: custodian and
// exchange certificates, custodian private keys, and the download request
// body the emulator parses. Seeds come from the test vectors.

// FuzzParseCertificate: no panic; an accepted certificate re-parses from its
// own DER and from its PEM to the same bytes.
func FuzzParseCertificate(f *testing.F) {
	seedFiles(f, "*/*.cer", "*/exchange_cert*.pem")
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCertificate(data)
		if err != nil {
			return
		}
		for _, enc := range [][]byte{c.Raw, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})} {
			c2, err := ParseCertificate(enc)
			if err != nil {
				t.Fatalf("an accepted certificate does not re-parse: %v", err)
			}
			if !bytes.Equal(c2.Raw, c.Raw) {
				t.Fatal("re-parsed certificate differs")
			}
		}
	})
}

// FuzzParsePrivateKeyPEM: no panic, in both the plain and the encrypted
// paths (the password source gives a fixed password); an accepted key is RSA
// and re-parses from its PKCS#8 encoding to the same key.
func FuzzParsePrivateKeyPEM(f *testing.F) {
	seedFiles(f, "*/wrap_*.pem", "*/exchange_key.pem", "negative/foreign.pem")
	for _, name := range []string{"target-encrypted.pem", "target-encrypted-legacy.pem"} {
		if b, err := os.ReadFile(filepath.Join(vectorDir, "..", "byok", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMA==\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	errNoPassword := errors.New("no password")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, pw := range []func() ([]byte, error){
			func() ([]byte, error) { return []byte("password"), nil },
			func() ([]byte, error) { return nil, errNoPassword },
		} {
			k, err := ParsePrivateKeyPEM(data, pw)
			if err != nil {
				continue
			}
			der, err := x509.MarshalPKCS8PrivateKey(k)
			if err != nil {
				t.Fatalf("an accepted key does not marshal: %v", err)
			}
			k2, err := ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil)
			if err != nil || !k2.Equal(k) {
				t.Fatalf("an accepted key does not re-parse the same: %v", err)
			}
		}
	})
}

// FuzzParseDownloadRequest: no panic; whatever is accepted respects the
// limits the doc comment states.
func FuzzParseDownloadRequest(f *testing.F) {
	seedFiles(f, "*/download_request.json")
	f.Add([]byte(`{"certificates":[{"x5c":["MA=="]},{"x5c":[]},{}],"required":2}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		certs, required, err := ParseDownloadRequest(body)
		if err != nil {
			return
		}
		if len(certs) < MinCustodians || len(certs) > MaxCustodians || required < MinQuorum || required > len(certs) {
			t.Fatalf("accepted %d certificates, required %d", len(certs), required)
		}
		for _, c := range certs {
			if _, err := rsaPublic(c); err != nil {
				t.Fatalf("accepted a certificate that is not usable: %v", err)
			}
		}
	})
}

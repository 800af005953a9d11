package securitydomain

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// TestThumbprintLineBreak: encoding/base64 skips CR and LF even in Strict
// mode; an x5t_256 with a line break in it is refused when the SD file or
// restore blob is read (it would match no certificate later).
func TestThumbprintLineBreak(t *testing.T) {
	for _, c := range []struct {
		file  string
		field string
		parse func([]byte) error
	}{
		{"n3_q2_rsa2048/sd.json", "x5t_256", func(b []byte) error { _, err := ParseSD(b); return err }},
		{"n3_q2_rsa2048/restore_blob.json", "x5t_256", func(b []byte) error { _, err := ParseRestoreBlob(b); return err }},
	} {
		b, err := os.ReadFile(filepath.Join(vectorDir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.parse(b); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		// Insert an escaped line break after the 10th character of the
		// first thumbprint.
		key := []byte(`"` + c.field + `"`)
		i := bytes.Index(b, key)
		if i < 0 {
			t.Fatalf("%s: no %s", c.file, c.field)
		}
		j := i + len(key) + bytes.IndexByte(b[i+len(key):], '"') + 1 + 10
		for _, lb := range []string{`\n`, `\r\n`, `\r`} {
			mod := append(append(append([]byte(nil), b[:j]...), lb...), b[j:]...)
			if err := c.parse(mod); err == nil || !strings.Contains(err.Error(), "x5t_256") {
				t.Errorf("%s: x5t_256 with %s: err = %v, want a refusal naming x5t_256", c.file, lb, err)
			}
		}
	}
}

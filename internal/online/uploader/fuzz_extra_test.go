package uploader

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keyrite/keyrite/securitydomain"
)

// Fuzz targets for the parsing of what the service sends back (error
// bodies, JWKs, the downloaded security domain) and of the service URL the
// user gives. Seeds come from the test vectors.

const fuzzVectors = "../../../testvectors"

func addFuzzFiles(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(filepath.Join(fuzzVectors, p))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// FuzzFromResponse: no panic on any error body; the code is never empty.
func FuzzFromResponse(f *testing.F) {
	f.Add(400, []byte(`{"error":{"code":"BadParameter","message":"m","innererror":{"code":"KeyImportFailed"}}}`))
	f.Add(401, []byte(`{"error":{"code":"","message":"m"}}`))
	f.Add(500, []byte(`not json`))
	f.Add(0, []byte(nil))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp := &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewReader(body)), Header: http.Header{}}
		se := fromResponse(resp)
		_ = se.Error()
		if se.Status != status {
			t.Fatalf("status %d became %d", status, se.Status)
		}
	})
}

// FuzzPublicFromJWK: no panic on any JWK the service could return; an
// accepted RSA key has an odd exponent of at least 3, an accepted EC key is
// on its curve (checked by x509 marshalling).
func FuzzPublicFromJWK(f *testing.F) {
	addFuzzFiles(f, "byok/kek-*.jwk.json")
	f.Add([]byte(`{"kty":"EC-HSM","crv":"P-256","x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY","y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}`))
	f.Add([]byte(`{"kty":"oct-HSM"}`))
	f.Add([]byte(`{"kty":"RSA","n":"AQ","e":"Aw"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var k azkeys.JSONWebKey
		if err := json.Unmarshal(data, &k); err != nil {
			return
		}
		pub, err := publicFromJWK(&k)
		if err != nil || pub == nil {
			return
		}
		if _, err := x509.MarshalPKIXPublicKey(pub); err != nil && !strings.HasPrefix(string(deref(k.Kty)), "RSA") {
			t.Fatalf("accepted an EC key that does not marshal: %v", err)
		}
	})
}

// FuzzCheckSD: no panic on any downloaded security domain, checked against
// the vectors' certificates. The vectors are seeds, and so are copies with
// one-block ciphertexts (a fifth of the size: the fuzzer minimizes every new
// input, at a cost quadratic in its size; run with -fuzzminimizetime 2s).
func FuzzCheckSD(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fuzzVectors, "sd/*/sd.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		sd, err := securitydomain.ParseSD(b)
		if err != nil {
			f.Fatal(err)
		}
		for i := range sd.Data {
			sd.Data[i].CompactJWE = shrinkJWE(sd.Data[i].CompactJWE)
		}
		for i := range sd.Shares {
			sd.Shares[i].EncKey = shrinkJWE(sd.Shares[i].EncKey)
		}
		f.Add(sd.Marshal())
	}
	var certs []*x509.Certificate
	files, _ = filepath.Glob(filepath.Join(fuzzVectors, "sd/n3_q2_rsa2048/wrap_*.cer"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		c, err := securitydomain.ParseCertificate(b)
		if err != nil {
			f.Fatal(err)
		}
		certs = append(certs, c)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for q := 2; q <= 3; q++ {
			if CheckSD(data, certs, q) == nil {
				if _, err := securitydomain.ParseSD(data); err != nil {
					t.Fatal("CheckSD accepted what ParseSD refuses")
				}
			}
		}
	})
}

// FuzzServiceURL: no panic; an accepted URL is https, has no trailing slash,
// and is accepted again unchanged (its own canonical form).
func FuzzServiceURL(f *testing.F) {
	for _, s := range []string{
		"https://demo.vault.azure.net", "https://demo.vault.azure.net/", "https://Demo.managedhsm.azure.net",
		"https://a.b.vault.azure.net", "https://demo.vault.azure.net:443", "http://demo.vault.azure.net",
		"https://u@demo.vault.azure.net", "https://demo.vault.azure.net/x?y#z", "https://%64emo.vault.azure.net",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	c := &Client{}
	f.Fuzz(func(t *testing.T, raw string, hsmOnly bool) {
		u, err := c.serviceURL(raw, hsmOnly)
		if err != nil {
			return
		}
		if !strings.HasPrefix(u, "https://") || strings.HasSuffix(u, "/") {
			t.Fatalf("%q accepted as %q", raw, u)
		}
		u2, err := c.serviceURL(u, hsmOnly)
		if err != nil || u2 != u {
			t.Fatalf("%q accepted as %q, which gives %q, %v", raw, u, u2, err)
		}
		if hsmOnly && !strings.Contains(u, ".managedhsm.") {
			t.Fatalf("%q accepted as an HSM URL", raw)
		}
	})
}

// shrinkJWE keeps a compact JWE's header, IV and tag and cuts its encrypted
// key (if any) to 2 bytes and its ciphertext to one block.
func shrinkJWE(s string) string {
	p := strings.Split(s, ".")
	if len(p) != 5 {
		return s
	}
	if p[1] != "" {
		p[1] = "AAA"
	}
	if len(p[3]) > 22 {
		p[3] = p[3][:21] + "A"
	}
	return strings.Join(p, ".")
}

package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/securitydomain"
)

// The fuzz targets feed arbitrary bytes to every request decoder and to the
// whole handler. Their seed corpora run as normal tests; run them longer
// with go test -fuzz=FuzzName ./internal/emulator/.

var services = []service{{kind: kindVault, name: "demo"}, {kind: kindHSM, name: "hsm1"}}

func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{
		`{"kty":"RSA-HSM","key_size":2048,"key_ops":["import"]}`,
		`{"kty":"EC-HSM","crv":"P-384","key_ops":["sign","verify"],"attributes":{"enabled":true},"tags":{"a":"b"}}`,
		`{"kty":"oct-HSM","key_size":256}`,
		`{"kty":"RSA","key_size":3072,"public_exponent":65537}`,
		`{"kty":"RSA-HSM","key_ops":["import","sign"]}`,
		`{"kty":null}`, `[]`, `{"key_ops":"import"}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, svc := range services {
			req, perr := decodeCreate(body, svc)
			if perr != nil {
				if perr.msg == "" {
					t.Fatal("empty error message")
				}
				continue
			}
			if len(req.KeyOps) == 0 || req.Kty == nil {
				t.Fatalf("accepted without kty or ops: %q", body)
			}
			if slices.Contains(req.KeyOps, "import") && (*req.Kty != ktyRSAHSM || len(req.KeyOps) != 1) {
				t.Fatalf("accepted a bad KEK: %q", body)
			}
			if *req.Kty == ktyOctHSM && svc.kind != kindHSM {
				t.Fatalf("accepted oct-HSM on a vault: %q", body)
			}
		}
	})
}

func FuzzDecodeImport(f *testing.F) {
	f.Add([]byte(`{"Hsm":true,"key":{"kty":"RSA-HSM","key_ops":["sign"],"key_hsm":"eyJzY2hlbWFfdmVyc2lvbiI6IjEuMC4wIn0"}}`))
	f.Add([]byte(`{"key":{"kty":"EC-HSM","crv":"P-256","key_hsm":"AAAA"},"attributes":{"exportable":false}}`))
	f.Add([]byte(`{"key":{"kty":"oct-HSM","key_hsm":"AA=="}}`))
	f.Add([]byte(`{"key":{"kty":"RSA-HSM","key_hsm":"AA","d":"x"}}`))
	f.Add([]byte(`{"key":{}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, svc := range services {
			spec, perr := decodeImport(body, svc)
			if perr != nil {
				continue
			}
			if len(spec.BYOK) == 0 || len(spec.KeyOps) == 0 {
				t.Fatalf("accepted without blob or ops: %q", body)
			}
			switch spec.Kty {
			case ktyRSAHSM, ktyECHSM:
			case ktyOctHSM:
				if svc.kind != kindHSM {
					t.Fatalf("accepted oct-HSM on a vault: %q", body)
				}
			default:
				t.Fatalf("accepted kty %q", spec.Kty)
			}
		}
	})
}

func seedCerts(f *testing.F) []*x509.Certificate {
	var certs []*x509.Certificate
	for i := range 3 {
		data, err := os.ReadFile(filepath.Join("testdata", "wrap_"+string(rune('0'+i))+".cer"))
		if err != nil {
			f.Fatal(err)
		}
		c, err := securitydomain.ParseCertificate(data)
		if err != nil {
			f.Fatal(err)
		}
		certs = append(certs, c)
	}
	return certs
}

func FuzzDecodeDownload(f *testing.F) {
	certs := seedCerts(f)
	body, err := securitydomain.DownloadRequest(certs, 2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add([]byte(`{"certificates":[{"x5c":["AA=="]},{},{}],"required":2}`))
	f.Add([]byte(`{"certificates":[],"required":11}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, perr := decodeDownload(body)
		if perr != nil {
			return
		}
		n := len(req.Certs)
		if n < minCerts || n > maxCerts || req.Required < minQuorum || req.Required > n {
			t.Fatalf("accepted %d certificates with quorum %d", n, req.Required)
		}
	})
}

func FuzzDecodeUpload(f *testing.F) {
	f.Add([]byte(`{"value":"{\"EncData\": {}}"}`))
	f.Add([]byte(`{"value":""}`))
	f.Add([]byte(`{"value":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		v, perr := decodeUpload(body)
		if perr == nil && len(strings.TrimSpace(string(v))) == 0 {
			t.Fatal("accepted an empty value")
		}
	})
}

func FuzzCheckPlaintext(f *testing.F) {
	testKeysF(f)
	f.Add(uint8(0), pkcs8F(f, rsa2048))
	f.Add(uint8(1), pkcs8F(f, p256))
	f.Add(uint8(2), make([]byte, 24))
	f.Add(uint8(0), append(pkcs8F(f, rsa2048), 0, 0))
	f.Add(uint8(0), x509.MarshalPKCS1PrivateKey(rsa2048))
	f.Fuzz(func(t *testing.T, which uint8, pt []byte) {
		kty := []string{ktyRSAHSM, ktyECHSM, ktyOctHSM}[int(which)%3]
		crv := ""
		if kty == ktyECHSM {
			crv = []string{"P-256", "P-384", "P-521"}[int(which/3)%3]
		}
		rec, perr := checkPlaintext(kty, crv, pt)
		if perr != nil {
			return
		}
		if rec.Kty != kty || (kty == ktyECHSM && rec.Crv != crv) {
			t.Fatalf("accepted as %s/%s a key recorded as %s/%s", kty, crv, rec.Kty, rec.Crv)
		}
	})
}

// FuzzHandler sends arbitrary requests through the whole handler, against a
// vault holding a KEK; no input may make it fail internally (500).
func FuzzHandler(f *testing.F) {
	testKeysF(f)
	e, err := New(Config{StateDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	exKey := testExchangeKey(f) // no RSA-4096 generation in fuzz workers
	e.newExchangeKey = func() (*rsa.PrivateKey, error) { return exKey, nil }
	// A KEK put straight into the state (no key generation in fuzz workers).
	svc := service{kind: kindVault, name: "demo"}
	der := pkcs8F(f, rsa2048)
	rec := &keyRecord{Name: "kek", Kty: ktyRSAHSM, KeyOps: []string{"import"}, KeySize: 2048, N: rsa2048.N.Bytes(), E: []byte{1, 0, 1}, Enabled: true, PrivatePKCS8: der}
	if perr := e.storeVersion(svc, rec); perr != nil {
		f.Fatal(perr.msg)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&rsa2048.PublicKey)
	kek, err := byok.ParseKEK(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), svc.kid("kek", rec.Version))
	if err != nil {
		f.Fatal(err)
	}
	ct, err := byok.Wrap(kek, pkcs8F(f, p256), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	blob := byok.NewBlob(kek, ct, "fuzz").Marshal()
	imp := `{"Hsm":true,"key":{"kty":"EC-HSM","crv":"P-256","key_ops":["sign"],"key_hsm":"` + base64.RawURLEncoding.EncodeToString(blob) + `"}}`
	f.Add("PUT", "/kv/demo/keys/app", imp)
	f.Add("GET", "/kv/demo/keys/kek", "")
	f.Add("GET", "/mhsm/hsm1/securitydomain/upload", "")
	f.Add("POST", "/mhsm/hsm1/securitydomain/upload", `{"value":"{\"EncData\": {\"data\": [], \"kdf\": \"sp108_kdf\"}}"}`)
	f.Add("POST", "/mhsm/hsm1/securitydomain/download", `{"certificates":[],"required":2}`)
	f.Add("GET", "/kv/demo/keys/kek/00", "")
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if strings.HasSuffix(path, "/create") || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#\x00\r\n\t") {
			return // key generation is slow, and httptest needs a valid target
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Method = method
		r.URL.Path = path
		r.URL.RawQuery = "api-version=7.5"
		r.Body = httptestBody(body)
		r.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, r)
		if rec.Code == 500 || rec.Code == 0 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		var se serviceError
		if rec.Code >= 400 && (json.Unmarshal(rec.Body.Bytes(), &se) != nil || se.Error.Code == "" || se.Error.Message == "") {
			t.Fatalf("%s %s: error %d without the service's error shape: %s", method, path, rec.Code, rec.Body)
		}
	})
}

func httptestBody(s string) *readCloser { return &readCloser{strings.NewReader(s)} }

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func testKeysF(f *testing.F) { testKeys(f) }

func pkcs8F(f *testing.F, k any) []byte {
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

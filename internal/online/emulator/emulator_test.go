package emulator

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrite/keyrite/securitydomain"
)

func newEmu(t *testing.T) *Emulator {
	t.Helper()
	return newTestEmu(t, Config{StateDir: t.TempDir()})
}

// do sends one request through the handler (no network) with a token.
func do(e *Emulator, method, target, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer t")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	return w
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) (code, msg string) {
	t.Helper()
	var v serviceError
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	return v.Error.Code, v.Error.Message
}

func TestChallengeOverHTTPS(t *testing.T) {
	e := newEmu(t)
	url, err := e.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(e.CACertPEM()) {
		t.Fatal("CA PEM")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	for _, tc := range []struct{ path, resource string }{
		{"/kv/demo/keys/k/create", ResourceVault},
		{"/mhsm/hsm1/securitydomain/upload", ResourceManagedHSM},
		{"/keys/k", ResourceManagedHSM},
	} {
		resp, err := client.Post(url+tc.path+"?api-version=7.5", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		want := `Bearer authorization="https://login.microsoftonline.com/` + Tenant + `", resource="` + tc.resource + `"`
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
			t.Errorf("%s: %d %q; want 401 %q", tc.path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
		}
	}
	// Any host name gets a certificate from the CA (SNI).
	conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{RootCAs: pool, ServerName: "demo.vault.azure.net"})
	if err != nil {
		t.Fatalf("SNI demo.vault.azure.net: %v", err)
	}
	conn.Close()
	for _, name := range []string{"localhost", "::1"} {
		if err := e.ca.def.Leaf.VerifyHostname(name); err != nil {
			t.Errorf("default certificate: %v", err)
		}
	}
}

func TestStatePersists(t *testing.T) {
	dir := t.TempDir()
	e1, err := New(Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	w := do(e1, "POST", "/kv/demo/keys/kek/create?api-version=7.5", `{"kty":"RSA-HSM","key_size":2048,"key_ops":["import"]}`)
	if w.Code != 200 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var created keyBundle
	if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil || len(created.Key.N) != 256 {
		t.Fatalf("create answer %s: %v", w.Body, err)
	}

	e2, err := New(Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e1.CACertPEM(), e2.CACertPEM()) {
		t.Error("the CA changed on restart")
	}
	if st, err := os.Stat(filepath.Join(dir, CAKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("CA key file: %v %v", st.Mode(), err)
	}
	version := created.Key.Kid[strings.LastIndex(created.Key.Kid, "/")+1:]
	for _, p := range []string{"/kv/demo/keys/kek", "/kv/demo/keys/kek/", "/kv/demo/keys/kek/" + version, "/kv/demo/keys/KEK"} {
		w = do(e2, "GET", p+"?api-version=7.5", "")
		var got keyBundle
		json.Unmarshal(w.Body.Bytes(), &got)
		if w.Code != 200 || got.Key.Kid != created.Key.Kid || !bytes.Equal(got.Key.N, created.Key.N) {
			t.Errorf("GET %s: %d %s", p, w.Code, w.Body)
		}
	}
	// Host-based addressing reaches the same vault.
	r := httptest.NewRequest("GET", "https://demo.vault.azure.net/keys/kek?api-version=7.5", nil)
	r.Header.Set("Authorization", "Bearer t")
	w = httptest.NewRecorder()
	e2.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("Host demo.vault.azure.net: %d %s", w.Code, w.Body)
	}
	w = do(e2, "GET", "/kv/demo/keys/nope?api-version=7.5", "")
	if code, _ := errorOf(t, w); w.Code != 404 || code != "KeyNotFound" {
		t.Errorf("missing key: %d %s", w.Code, w.Body)
	}
	// Exactly one of the CA files is a damaged state directory.
	os.Remove(filepath.Join(dir, CAFile))
	if _, err := New(Config{StateDir: dir}); err == nil {
		t.Error("state with only ca-key.pem accepted")
	}
}

func TestRequestChecks(t *testing.T) {
	e := newEmu(t)
	for _, tc := range []struct {
		method, target, body string
		status               int
		msg                  string
	}{
		{"POST", "/kv/demo/keys/k/create", `{}`, 400, "api-version"},
		{"POST", "/kv/demo/keys/k/create?api-version=7.5", ``, 400, "body is missing"},
		{"POST", "/kv/demo/keys/k/create?api-version=7.5", `{"kty":"RSA-HSM"} x`, 400, "data after the JSON value"},
		{"POST", "/kv/demo/keys/k/create?api-version=7.5", `{"kty":"RSA-HSM","key_size":1024}`, 400, "Invalid key size 1024"},
		{"POST", "/kv/demo/keys/k/create?api-version=7.5", `{"kty":"RSA-HSM","key_ops":["import","sign"]}`, 400, `cannot be combined with other operations`},
		{"POST", "/kv/demo/keys/k/create?api-version=7.5", `{"kty":"EC-HSM","key_ops":["import"]}`, 400, `requires key type RSA-HSM`},
		{"POST", "/kv/demo/keys/k/create?api-version=7.5", `{"kty":"EC-HSM","key_ops":["encrypt"]}`, 400, `The property key must be a valid JsonWebKey`},
		{"POST", "/kv/demo/keys/k/create?api-version=7.5", `{"kty":"oct-HSM"}`, 400, "only by Managed HSM"},
		{"POST", "/mhsm/hsm1/keys/k/create?api-version=7.5", `{"kty":"RSA"}`, 400, "not supported by Managed HSM"},
		{"POST", "/kv/demo/keys/k/create?api-version=7.5", `{"kty":"RSA-HSM","key_ops":["sign","sign"]}`, 400, "listed twice"},
		{"POST", "/kv/demo/keys/bad_name/create?api-version=7.5", `{"kty":"RSA-HSM"}`, 400, "Invalid key name"},
		{"POST", "/kv/-x/keys/k/create?api-version=7.5", `{"kty":"RSA-HSM"}`, 400, "vault name"},
		{"PUT", "/kv/demo/keys/k?api-version=7.5", `{"key":{"kty":"RSA-HSM"}}`, 400, "key_hsm is required"},
		{"PUT", "/kv/demo/keys/k?api-version=7.5", `{"key":{"kty":"RSA","key_hsm":"AA"}}`, 400, "cannot carry key_hsm"},
		{"PUT", "/kv/demo/keys/k?api-version=7.5", `{"key":{"kty":"EC-HSM","key_hsm":"AA"}}`, 400, "needs crv"},
		{"PUT", "/kv/demo/keys/k?api-version=7.5", `{"key":{"kty":"EC-HSM","crv":"P-256K","key_hsm":"AA"}}`, 400, "P-256K cannot be imported"},
		{"PUT", "/kv/demo/keys/k?api-version=7.5", `{"key":{"kty":"RSA-HSM","key_ops":["import"],"key_hsm":"AA"}}`, 400, "not on an imported key"},
		{"PUT", "/kv/demo/keys/k?api-version=7.5", `{"key":{"kty":"RSA-HSM","key_hsm":"!!"}}`, 400, "not base64url"},
		{"PUT", "/kv/demo/keys/k?api-version=7.5", `{"key":{"kty":"RSA-HSM","key_hsm":"AA","n":"AQAB"}}`, 400, `"n" cannot be combined with key_hsm`},
		{"PUT", "/kv/demo/keys/k?api-version=7.5", `{"Hsm":false,"key":{"kty":"RSA-HSM","key_hsm":"AA"}}`, 400, "Hsm true"},
		{"PUT", "/kv/demo/keys/k?api-version=7.5", `{"key":{"kty":"RSA-HSM","key_hsm":"AA"}}`, 400, "The BYOK blob is not valid"},
		{"DELETE", "/kv/demo/keys/k?api-version=7.5", ``, 405, "not allowed"},
		{"GET", "/kv/demo/secrets/s?api-version=7.5", ``, 404, "no operation"},
		{"POST", "/kv/demo/securitydomain/download?api-version=7.5", `{}`, 404, "only on a Managed HSM"},
		{"POST", "/mhsm/hsm1/securitydomain/upload?api-version=7.5", `{"value":"{}"}`, 400, "No exchange key"},
		{"GET", "/mhsm/hsm1/securitydomain/download/pending?api-version=7.5", ``, 404, "No security domain download"},
	} {
		w := do(e, tc.method, tc.target, tc.body)
		code, msg := errorOf(t, w)
		if w.Code != tc.status || !strings.Contains(msg, tc.msg) || code == "" {
			t.Errorf("%s %s %s: %d %s %q; want %d containing %q", tc.method, tc.target, tc.body, w.Code, code, msg, tc.status, tc.msg)
		}
	}
	w := do(e, "POST", "/kv/demo/keys/k/create?api-version=7.5", strings.Repeat(" ", maxBody+1))
	if w.Code != 413 {
		t.Errorf("oversized body: %d", w.Code)
	}
	for _, r := range e.Requests() {
		if r.Status == 500 {
			t.Errorf("500 for %s %s", r.Method, r.Path)
		}
	}
}

var (
	keysOnce           sync.Once
	rsa1024, rsa2048   *rsa.PrivateKey
	rsa2048b, rsa2048c *rsa.PrivateKey
	p256, p384         *ecdsa.PrivateKey
)

// testKeys loads the pre-generated keys in testdata (generating keys is
// slow, very slow under fuzzing instrumentation).
func testKeys(t testing.TB) {
	keysOnce.Do(func() {
		load := func(name string) any {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				panic(err)
			}
			b, _ := pem.Decode(data)
			if b == nil {
				panic(name + ": no PEM block")
			}
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				panic(err)
			}
			return k
		}
		rsa1024 = load("rsa1024.pem").(*rsa.PrivateKey)
		rsa2048 = load("rsa2048.pem").(*rsa.PrivateKey)
		rsa2048b = load("rsa2048b.pem").(*rsa.PrivateKey)
		rsa2048c = load("rsa2048c.pem").(*rsa.PrivateKey)
		p256 = load("p256.pem").(*ecdsa.PrivateKey)
		p384 = load("p384.pem").(*ecdsa.PrivateKey)
	})
}

func pkcs8(t *testing.T, k any) []byte {
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckPlaintext(t *testing.T) {
	testKeys(t)
	rsaPT := pkcs8(t, rsa2048)
	for _, tc := range []struct {
		name, kty, crv string
		pt             []byte
		want           string // "" means accepted
	}{
		{"rsa", ktyRSAHSM, "", rsaPT, ""},
		{"ec", ktyECHSM, "P-256", pkcs8(t, p256), ""},
		{"ec384", ktyECHSM, "P-384", pkcs8(t, p384), ""},
		{"aes128", ktyOctHSM, "", make([]byte, 16), ""},
		{"aes256", ktyOctHSM, "", make([]byte, 32), ""},
		{"rsa1024", ktyRSAHSM, "", pkcs8(t, rsa1024), "RSA key is 1024 bits"},
		{"zero-padding", ktyRSAHSM, "", append(append([]byte(nil), rsaPT...), 0, 0, 0), "followed by 3 zero bytes of padding"},
		{"trailing-garbage", ktyRSAHSM, "", append(append([]byte(nil), rsaPT...), 1), "followed by 1 more bytes"},
		{"truncated", ktyRSAHSM, "", rsaPT[:len(rsaPT)-1], "not DER"},
		{"ec-as-rsa", ktyRSAHSM, "", pkcs8(t, p256), "kty is RSA-HSM but the wrapped key is an EC P-256 key"},
		{"rsa-as-ec", ktyECHSM, "P-256", rsaPT, "kty is EC-HSM but the wrapped key is an RSA 2048 key"},
		{"wrong-curve", ktyECHSM, "P-256", pkcs8(t, p384), "crv is P-256 but the wrapped EC key is on P-384"},
		{"aes-as-rsa", ktyRSAHSM, "", make([]byte, 32), "32 raw bytes"},
		{"aes-20", ktyOctHSM, "", make([]byte, 20), "20 bytes"},
		{"rsa-as-aes", ktyOctHSM, "", rsaPT, "PKCS#8 private key (an RSA 2048 key)"},
		{"pkcs1", ktyRSAHSM, "", x509.MarshalPKCS1PrivateKey(rsa2048), "is a PKCS#1 RSAPrivateKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkPlaintext(tc.kty, tc.crv, tc.pt)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %s", err.msg)
			case tc.want != "" && err == nil:
				t.Errorf("accepted; want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.msg, tc.want):
				t.Errorf("got %q; want %q", err.msg, tc.want)
			}
		})
	}
}

// selfSigned makes a certificate for key.
func selfSigned(t *testing.T, key any, pub any) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: randomSerial(), Subject: pkix.Name{CommonName: "custodian"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func downloadBody(t *testing.T, certs []*x509.Certificate, m int) string {
	var list []map[string]any
	for _, c := range certs {
		list = append(list, map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(c.Raw)}, "kty": "RSA"})
	}
	b, _ := json.Marshal(map[string]any{"certificates": list, "required": m})
	return string(b)
}

func TestDecodeDownload(t *testing.T) {
	testKeys(t)
	c1 := selfSigned(t, rsa2048, &rsa2048.PublicKey)
	k2, k3 := rsa2048b, rsa2048c
	c2 := selfSigned(t, k2, &k2.PublicKey)
	c3 := selfSigned(t, k3, &k3.PublicKey)
	c2b := selfSigned(t, k2, &k2.PublicKey) // same key as c2, different certificate
	small := selfSigned(t, rsa1024, &rsa1024.PublicKey)
	ec := selfSigned(t, p256, &p256.PublicKey)
	good, err := securitydomain.DownloadRequest([]*x509.Certificate{c1, c2, c3}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, perr := decodeDownload(good); perr != nil {
		t.Fatalf("the az CLI's body refused: %s", perr.msg)
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"two", downloadBody(t, []*x509.Certificate{c1, c2}, 2), "certificates has 2 entries"},
		{"quorum-1", downloadBody(t, []*x509.Certificate{c1, c2, c3}, 1), "required is 1"},
		{"quorum-above-n", downloadBody(t, []*x509.Certificate{c1, c2, c3}, 4), "the quorum cannot exceed"},
		{"duplicate", downloadBody(t, []*x509.Certificate{c1, c2, c1}, 2), "same certificate as certificates[0]"},
		{"same-key", downloadBody(t, []*x509.Certificate{c1, c2, c2b}, 2), "same RSA key as certificates[1]"},
		{"rsa1024", downloadBody(t, []*x509.Certificate{c1, c2, small}, 2), "only RSA >= 2048"},
		{"ec", downloadBody(t, []*x509.Certificate{c1, c2, ec}, 2), "only RSA keys"},
		{"n-mismatch", strings.Replace(string(good), `"n": "`, `"n": "AA`, 1), "n does not match"},
		{"x5t-mismatch", strings.Replace(string(good), `"x5t#S256": "`, `"x5t#S256": "A`, 1), "x5t#S256 is not the SHA-256 thumbprint"},
		{"no-x5c", `{"certificates":[{},{},{}],"required":2}`, "x5c is missing"},
		{"bad-base64", `{"certificates":[{"x5c":["*"]},{},{}],"required":2}`, "not standard base64"},
		{"not-json", `[`, "not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, perr := decodeDownload([]byte(tc.body))
			if perr == nil || !strings.Contains(perr.msg, tc.want) {
				t.Errorf("got %v; want %q", perr, tc.want)
			}
		})
	}
}

// TestRestoreIntoNewHSM: an HSM never activated takes on an uploaded
// security domain; afterwards only the same domain is accepted.
func TestRestoreIntoNewHSM(t *testing.T) {
	testKeys(t)
	e := newEmu(t)
	keys := []*rsa.PrivateKey{rsa2048, rsa2048b, rsa2048c}
	var certs []*x509.Certificate
	for _, k := range keys {
		certs = append(certs, selfSigned(t, k, &k.PublicKey))
	}
	body, _ := securitydomain.DownloadRequest(certs, 2)
	w := do(e, "POST", "/mhsm/old/securitydomain/download?api-version=7.5", string(body))
	if w.Code != 202 || w.Header().Get("Azure-AsyncOperation") == "" {
		t.Fatalf("download: %d %s", w.Code, w.Body)
	}
	var dl struct{ Value string }
	json.Unmarshal(w.Body.Bytes(), &dl)
	sd, err := securitydomain.ParseSD([]byte(dl.Value))
	if err != nil {
		t.Fatal(err)
	}
	w = do(e, "GET", "/mhsm/new/securitydomain/upload?api-version=7.5", "")
	exCert, err := securitydomain.ParseExchangeKey(w.Body.Bytes())
	if err != nil {
		t.Fatalf("transfer key %s: %v", w.Body, err)
	}
	custodians := []securitydomain.Custodian{
		{Name: "1", Cert: certs[1], Key: securitydomain.SoftwareKey(keys[1])},
		{Name: "2", Cert: certs[2], Key: securitydomain.SoftwareKey(keys[2])},
	}
	res, err := securitydomain.Restore(sd, exCert, custodians, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := json.Marshal(map[string]string{"value": string(res.Blob.Marshal())})
	w = do(e, "POST", "/mhsm/new/securitydomain/upload?api-version=7.5", string(up))
	if w.Code != 202 {
		t.Fatalf("upload: %d %s", w.Code, w.Body)
	}
	w = do(e, "GET", "/mhsm/new/securitydomain/upload/pending?api-version=7.5", "")
	if !strings.Contains(w.Body.String(), `"status":"Success"`) {
		t.Errorf("pending: %s", w.Body)
	}
	oldState, _ := e.loadHSM(service{kind: kindHSM, name: "old"})
	newState, _ := e.loadHSM(service{kind: kindHSM, name: "new"})
	if msg := comparePayloads(oldState.Payloads, newState.Payloads); msg != "" || !newState.Activated {
		t.Errorf("the new HSM did not take on the old one's domain: %s", msg)
	}
	// new is now activated: a blob of a different domain is refused.
	payloads := []securitydomain.Payload{{Tag: "hsm_backup", Data: []byte("something else")}}
	blob, err := securitydomain.NewRestoreBlob(payloads, exCert, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	up, _ = json.Marshal(map[string]string{"value": string(blob.Marshal())})
	w = do(e, "POST", "/mhsm/new/securitydomain/upload?api-version=7.5", string(up))
	if code, msg := errorOf(t, w); w.Code != 400 || code != "BadParameter" || !strings.Contains(msg, "does not hold this HSM's security domain") {
		t.Errorf("different domain: %d %s", w.Code, w.Body)
	}
	w = do(e, "GET", "/mhsm/new/securitydomain/upload/pending?api-version=7.5", "")
	if !strings.Contains(w.Body.String(), `"status":"Failed"`) {
		t.Errorf("pending after a refused upload: %s", w.Body)
	}
}

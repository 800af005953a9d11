package emulator

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrite/keyrite/internal/base/fakeclock"
	"github.com/keyrite/keyrite/securitydomain"
)

// rsa4096 is a pre-made exchange key (testdata/rsa4096.pem): making one
// takes about a second.
var (
	rsa4096Once sync.Once
	rsa4096     *rsa.PrivateKey
)

func testExchangeKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsa4096Once.Do(func() {
		data, err := os.ReadFile(filepath.Join("testdata", "rsa4096.pem"))
		if err != nil {
			panic(err)
		}
		b, _ := pem.Decode(data)
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			panic(err)
		}
		rsa4096 = k.(*rsa.PrivateKey)
	})
	return rsa4096
}

// newTestEmu opens an emulator on dir with cfg whose exchange keys are the
// pre-made one.
func newTestEmu(t *testing.T, cfg Config) *Emulator {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k := testExchangeKey(t)
	e.newExchangeKey = func() (*rsa.PrivateKey, error) { return k, nil }
	return e
}

// httpsEmu serves e over HTTPS and returns a function that sends one
// authenticated request and returns the status, headers and body.
func httpsEmu(t *testing.T, e *Emulator) func(method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	url, err := e.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CACertPEM())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	return func(method, path, body string) (int, http.Header, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, url+path+"?api-version=7.5", rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer t")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, b
	}
}

var start2025 = time.Date(2025, 4, 22, 8, 50, 0, 0, time.UTC)

func statusOf(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Status  *string `json:"status"`
		Details *string `json:"status_details"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Status == nil || v.Details == nil {
		t.Fatalf("status body %s: want {\"status\",\"status_details\"}: %v", body, err)
	}
	return *v.Status
}

// custodians returns three custodians with certificates over the testdata
// keys.
func custodians(t *testing.T) ([]*x509.Certificate, []securitydomain.Custodian) {
	testKeys(t)
	var certs []*x509.Certificate
	var cs []securitydomain.Custodian
	for i, k := range []*rsa.PrivateKey{rsa2048, rsa2048b, rsa2048c} {
		c := selfSigned(t, k, &k.PublicKey)
		certs = append(certs, c)
		cs = append(cs, securitydomain.Custodian{Name: string(rune('0' + i)), Cert: c, Key: securitydomain.SoftwareKey(k)})
	}
	return certs, cs
}

// TestSDOperationsTakeTime: with SDDelay, download and upload are
// InProgress until the injected clock has passed it, also across a
// restart, and then Success; a second download or upload meanwhile is
// refused; no answer carries Retry-After.
func TestSDOperationsTakeTime(t *testing.T) {
	const delay = 8 * time.Minute
	dir := t.TempDir()
	clock := fakeclock.New(start2025)
	cfg := Config{StateDir: dir, Now: clock.Now, SDDelay: delay}
	call := httpsEmu(t, newTestEmu(t, cfg))
	certs, cs := custodians(t)
	body, _ := securitydomain.DownloadRequest(certs, 2)

	noRetryAfter := func(what string, h http.Header) {
		t.Helper()
		if v, ok := h["Retry-After"]; ok {
			t.Errorf("%s: Retry-After %q; the service sends none", what, v)
		}
	}
	asyncOp := func(what string, h http.Header, op string) {
		t.Helper()
		if got, want := h.Get("Azure-AsyncOperation"), "/mhsm/hsm1/securitydomain/"+op+"/pending?api-version=7.5"; !strings.HasSuffix(got, want) {
			t.Errorf("%s: Azure-AsyncOperation %q; want ...%s", what, got, want)
		}
	}
	// The service's bodies, byte for byte (recorded 2025).
	bodies := map[string]string{
		"download InProgress": `{"status":"InProgress","status_details":"The Security Domain is being confirmed."}`,
		"upload InProgress":   `{"status":"InProgress","status_details":"The Security Domain is being restored."}`,
		"download Success":    `{"status":"Success","status_details":"The resource is active."}`,
		"upload Success":      `{"status":"Success","status_details":"The resource is active."}`,
	}
	pending := func(call func(string, string, string) (int, http.Header, []byte), op, want string) {
		t.Helper()
		code, h, b := call("GET", "/mhsm/hsm1/securitydomain/"+op+"/pending", "")
		if code != 200 {
			t.Fatalf("%s/pending: %d %s", op, code, b)
		}
		noRetryAfter(op+"/pending", h)
		asyncOp(op+"/pending", h, op)
		if got := statusOf(t, b); got != want {
			t.Errorf("%s/pending at +%s: %q (%s); want %q", op, clock.Now().Sub(start2025), got, b, want)
		} else if string(b) != bodies[op+" "+want] {
			t.Errorf("%s/pending: %s; want %s", op, b, bodies[op+" "+want])
		}
	}

	code, h, b := call("POST", "/mhsm/hsm1/securitydomain/download", string(body))
	if code != 202 || !strings.HasPrefix(string(b), `{"value":"{`) {
		t.Fatalf("download: %d %.200s", code, b)
	}
	noRetryAfter("download", h)
	asyncOp("download", h, "download")
	var dl struct{ Value string }
	json.Unmarshal(b, &dl)
	sd, err := securitydomain.ParseSD([]byte(dl.Value))
	if err != nil {
		t.Fatal(err)
	}
	pending(call, "download", "InProgress")
	// The activation is not started twice: a retried POST is refused.
	if code, _, b := call("POST", "/mhsm/hsm1/securitydomain/download", string(body)); code != 409 || !strings.Contains(string(b), "in progress") {
		t.Errorf("second download while in progress: %d %s", code, b)
	}
	clock.Advance(delay / 2)
	pending(call, "download", "InProgress")

	// A restart keeps the operation's start.
	e2 := newTestEmu(t, cfg)
	call = httpsEmu(t, e2)
	pending(call, "download", "InProgress")
	clock.Advance(delay/2 - time.Second)
	pending(call, "download", "InProgress")
	clock.Advance(time.Second)
	pending(call, "download", "Success")
	if code, _, b := call("POST", "/mhsm/hsm1/securitydomain/download", string(body)); code != 409 || !strings.Contains(string(b), "already been downloaded") {
		t.Errorf("second download after Success: %d %s", code, b)
	}

	// Upload (restore) into the same HSM.
	code, _, b = call("GET", "/mhsm/hsm1/securitydomain/upload", "")
	if code != 200 {
		t.Fatalf("transfer key: %d %s", code, b)
	}
	exCert, err := securitydomain.ParseExchangeKey(b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := securitydomain.Restore(sd, exCert, cs[1:], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := json.Marshal(map[string]string{"value": string(res.Blob.Marshal())})
	code, h, b = call("POST", "/mhsm/hsm1/securitydomain/upload", string(up))
	if code != 202 || string(b) != bodies["upload InProgress"] {
		t.Fatalf("upload: %d %s", code, b)
	}
	noRetryAfter("upload", h)
	asyncOp("upload", h, "upload")
	pending(call, "upload", "InProgress")
	if code, _, b := call("POST", "/mhsm/hsm1/securitydomain/upload", string(up)); code != 409 || !strings.Contains(string(b), "in progress") {
		t.Errorf("second upload while in progress: %d %s", code, b)
	}
	clock.Advance(delay - time.Second)
	call = httpsEmu(t, newTestEmu(t, cfg)) // and a restart
	pending(call, "upload", "InProgress")
	clock.Advance(time.Second)
	pending(call, "upload", "Success")
	// A later upload of the same domain is a new operation.
	if code, _, b := call("POST", "/mhsm/hsm1/securitydomain/upload", string(up)); code != 202 {
		t.Errorf("upload after Success: %d %s", code, b)
	}
	pending(call, "upload", "InProgress")
}

// TestSDZeroDelay: the zero Config reports Success at the first poll.
func TestSDZeroDelay(t *testing.T) {
	e := newTestEmu(t, Config{StateDir: t.TempDir()})
	certs, _ := custodians(t)
	body, _ := securitydomain.DownloadRequest(certs, 2)
	if w := do(e, "POST", "/mhsm/hsm1/securitydomain/download?api-version=7.5", string(body)); w.Code != 202 || w.Header().Get("Retry-After") != "" {
		t.Fatalf("download: %d %v", w.Code, w.Header())
	}
	w := do(e, "GET", "/mhsm/hsm1/securitydomain/download/pending?api-version=7.5", "")
	if statusOf(t, w.Body.Bytes()) != "Success" {
		t.Errorf("pending: %s", w.Body)
	}
}

// TestOldStateReportsOutcome: state written before operations had a start
// time reports its outcome at once, whatever SDDelay.
func TestOldStateReportsOutcome(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "services", "mhsm-hsm1", "securitydomain.json")
	os.MkdirAll(filepath.Dir(path), 0o700)
	old := `{"payloads":[{"tag":"hsm_backup","data":"AAAA"}],"activated":true,"download":{"status":"Success","status_details":"done"},"upload":{}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := fakeclock.New(start2025)
	e := newTestEmu(t, Config{StateDir: dir, Now: clock.Now, SDDelay: time.Hour})
	w := do(e, "GET", "/mhsm/hsm1/securitydomain/download/pending?api-version=7.5", "")
	if statusOf(t, w.Body.Bytes()) != "Success" {
		t.Errorf("pending: %s", w.Body)
	}
}

// TestTransferKeyShape: the exchange key comes as the service sends it
// (recorded 2025): a JSON string holding an RSA-4096 JWK with kid "not
// used" and no alg, its certificate self-signed for the HSM's host name
// with the service's extensions.
func TestTransferKeyShape(t *testing.T) {
	for _, object := range []bool{false, true} {
		e := newTestEmu(t, Config{StateDir: t.TempDir(), TransferKeyAsObject: object})
		call := httpsEmu(t, e)
		code, _, b := call("GET", "/mhsm/hsm1/securitydomain/upload", "")
		if code != 200 {
			t.Fatalf("transfer key: %d %s", code, b)
		}
		cert, err := securitydomain.ParseExchangeKey(b)
		if err != nil {
			t.Fatalf("ParseExchangeKey: %v\n%.300s", err, b)
		}
		var top struct {
			KeyFormat   string          `json:"key_format"`
			TransferKey json.RawMessage `json:"transfer_key"`
		}
		if err := json.Unmarshal(b, &top); err != nil || top.KeyFormat != "jwk" {
			t.Fatalf("top level %.200s: %v", b, err)
		}
		jwkText := []byte(top.TransferKey)
		if isString := jwkText[0] == '"'; isString == object {
			t.Fatalf("TransferKeyAsObject %t: transfer_key starts %q", object, jwkText[:1])
		}
		if !object {
			var s string
			json.Unmarshal(jwkText, &s)
			jwkText = []byte(s)
			if !strings.HasPrefix(string(b), `{"key_format":"jwk","transfer_key":"{\"e\":\"AQAB\",\"key_ops\":[\"wrapKey\",\"verify\",\"encrypt\"],\"kid\":\"not used\",\"kty\":\"RSA\",\"n\":\"`) {
				t.Errorf("not the service's layout: %.200s", b)
			}
		}
		var jwk map[string]any
		if err := json.Unmarshal(jwkText, &jwk); err != nil {
			t.Fatal(err)
		}
		if jwk["kid"] != "not used" {
			t.Errorf("kid %v; want \"not used\"", jwk["kid"])
		}
		if alg, ok := jwk["alg"]; ok {
			t.Errorf("alg %v; the service sends none", alg)
		}
		pub := cert.PublicKey.(*rsa.PublicKey)
		if pub.N.BitLen() != 4096 || !pub.Equal(&testExchangeKey(t).PublicKey) {
			t.Errorf("exchange key of %d bits, not the HSM's", pub.N.BitLen())
		}
		checkExchangeCert(t, cert, "hsm1.managedhsm.azure.net")
	}
}

// TestRecordedExchangeCert: checkExchangeCert describes the certificate the
// real service sent (recorded 2025).
func TestRecordedExchangeCert(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "testvectors", "sd", "recorded2025", "transfer_key_response.json"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := securitydomain.ParseExchangeKey(data)
	if err != nil {
		t.Fatal(err)
	}
	checkExchangeCert(t, cert, "test-mhsm-sd2q2avldvp4tl.managedhsm.azure.net")
}

// checkExchangeCert checks the layout of the service's exchange
// certificate (both the emulator's and the recorded one pass).
func checkExchangeCert(t *testing.T, cert *x509.Certificate, host string) {
	t.Helper()
	if cert.Subject.String() != "CN="+host || !bytes.Equal(cert.RawIssuer, cert.RawSubject) || cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) != nil {
		t.Errorf("subject %s issuer %s: want self-signed CN=%s", cert.Subject, cert.Issuer, host)
	}
	type rdnSET []struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	var rdns []rdnSET
	if _, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil || len(rdns) != 1 || len(rdns[0]) != 1 || rdns[0][0].Value.Tag != asn1.TagUTF8String {
		t.Errorf("subject %x: want one CN, a UTF8String (%v)", cert.RawSubject, err)
	}
	if cert.SerialNumber.Int64() != 1 || cert.SignatureAlgorithm != x509.SHA256WithRSA || cert.NotAfter.Sub(cert.NotBefore) < 365*24*time.Hour {
		t.Errorf("serial %s, %s, valid %s to %s", cert.SerialNumber, cert.SignatureAlgorithm, cert.NotBefore, cert.NotAfter)
	}
	if !cert.BasicConstraintsValid || cert.IsCA || cert.KeyUsage != x509.KeyUsageKeyEncipherment || len(cert.SubjectKeyId) != 20 || !bytes.Equal(cert.AuthorityKeyId, cert.SubjectKeyId) {
		t.Errorf("basic constraints %t CA %t, key usage %v, skid %x, akid %x", cert.BasicConstraintsValid, cert.IsCA, cert.KeyUsage, cert.SubjectKeyId, cert.AuthorityKeyId)
	}
	var oids []string
	for _, x := range cert.Extensions {
		oids = append(oids, x.Id.String())
		if x.Id.Equal(oidAttestationEvidence) && (x.Critical || len(x.Value) != evidenceSize) {
			t.Errorf("vendor extension: critical %t, %d bytes", x.Critical, len(x.Value))
		}
	}
	if got, want := strings.Join(oids, " "), "2.5.29.19 2.5.29.15 2.5.29.14 2.5.29.35 1.2.840.113556.10.1.1"; got != want {
		t.Errorf("extensions %s; want %s", got, want)
	}
	if len(cert.Raw) < 5000 {
		t.Errorf("certificate of %d bytes; the service's is about 6 KB", len(cert.Raw))
	}
}

// TestExchangeKeyGenerated: without the test hook, the emulator makes an
// RSA-4096 key (once per HSM; kept across restarts).
func TestExchangeKeyGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA-4096 key generation")
	}
	dir := t.TempDir()
	e, err := New(Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	w := do(e, "GET", "/mhsm/hsm1/securitydomain/upload?api-version=7.5", "")
	c1, err := securitydomain.ParseExchangeKey(w.Body.Bytes())
	if err != nil || c1.PublicKey.(*rsa.PublicKey).N.BitLen() != 4096 {
		t.Fatalf("%v %.200s", err, w.Body)
	}
	checkExchangeCert(t, c1, "hsm1.managedhsm.azure.net")
	if p := os.Getenv("DUMP_CERT"); p != "" {
		os.WriteFile(p, c1.Raw, 0o644)
	}
	e2, _ := New(Config{StateDir: dir})
	e2.newExchangeKey = func() (*rsa.PrivateKey, error) { t.Fatal("a second exchange key was made"); return nil, nil }
	w = do(e2, "GET", "/mhsm/hsm1/securitydomain/upload?api-version=7.5", "")
	if c2, err := securitydomain.ParseExchangeKey(w.Body.Bytes()); err != nil || !c2.Equal(c1) {
		t.Errorf("the exchange key changed on restart: %v", err)
	}
}

// TestOldExchangeKeyKept: an exchange key stored by an older emulator
// (RSA-2048) is served as it is.
func TestOldExchangeKeyKept(t *testing.T) {
	testKeys(t)
	dir := t.TempDir()
	e := newTestEmu(t, Config{StateDir: dir})
	svc := service{kind: kindHSM, name: "hsm1"}
	st, err := e.loadHSM(svc)
	if err != nil {
		t.Fatal(err)
	}
	old := selfSigned(t, rsa2048, &rsa2048.PublicKey)
	st.ExchangeKeyPKCS8, st.ExchangeCertDER = pkcs8(t, rsa2048), old.Raw
	if err := e.saveHSM(svc, st); err != nil {
		t.Fatal(err)
	}
	w := do(e, "GET", "/mhsm/hsm1/securitydomain/upload?api-version=7.5", "")
	if c, err := securitydomain.ParseExchangeKey(w.Body.Bytes()); err != nil || !c.Equal(old) {
		t.Errorf("the stored exchange key was not served: %v", err)
	}
}

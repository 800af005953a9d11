package uploader

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/base/fakeclock"
	"github.com/keyrite/keyrite/internal/online/emulator"
	"github.com/keyrite/keyrite/securitydomain"
)

// testEnv is an emulator serving HTTPS on loopback with a fresh state
// directory, and a client that trusts its CA.
type testEnv struct {
	emu    *emulator.Emulator
	url    string
	client *Client
	clock  *fakeclock.Clock // the emulator's and the client's clock
}

func newEnv(t testing.TB, cfg emulator.Config) *testEnv {
	t.Helper()
	cfg.StateDir = t.TempDir()
	clk := fakeclock.New(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	emu, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	c, err := New(Config{CAFile: emu.CAFile(), Token: "test-token", Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{emu: emu, url: url, client: c, clock: clk}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func readKey(t testing.TB, name string) any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return k
}

func readCert(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := securitydomain.ParseCertificate(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// makeBYOK wraps plaintext under the KEK the service returned, in software,
// as the offline side does.
func makeBYOK(t testing.TB, k *KEK, plaintext []byte) []byte {
	t.Helper()
	kek, err := byok.ParseKEK(k.PEM, k.Kid)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := byok.Wrap(kek, plaintext, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return byok.NewBlob(kek, ct, "keyrite test").Marshal()
}

func TestKEKCreateAndImport(t *testing.T) {
	env := newEnv(t, emulator.Config{})
	vault := env.url + "/kv/demo"
	kek, err := env.client.CreateKEK(ctx(t), vault, "kek", 2048)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(kek.Kid, "https://demo.vault.azure.net/keys/kek/") {
		t.Errorf("kid %s", kek.Kid)
	}

	// The SDK's first request carries neither token nor body; the
	// emulator's 401 challenge must have been what it saw first.
	reqs := env.emu.Requests()
	if len(reqs) < 2 || reqs[0].Authenticated || reqs[0].Status != 401 || !reqs[1].Authenticated || reqs[1].Status != 200 {
		t.Fatalf("requests %+v: want an unauthenticated 401 then an authenticated 200", reqs)
	}
	if reqs[0].Path != "/kv/demo/keys/kek/create" || reqs[1].Path != reqs[0].Path {
		t.Errorf("paths %q %q", reqs[0].Path, reqs[1].Path)
	}

	rsaKey := readKey(t, "target_rsa2048.pem").(*rsa.PrivateKey)
	ecKey := readKey(t, "target_p256.pem").(*ecdsa.PrivateKey)
	for _, tc := range []struct {
		name, kty, crv string
		key            any
		pub            any
		ops            []string
	}{
		{"app-rsa", "RSA-HSM", "", rsaKey, &rsaKey.PublicKey, []string{"sign", "verify"}},
		{"app-ec", "EC-HSM", "P-256", ecKey, &ecKey.PublicKey, []string{"sign", "verify"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := x509.MarshalPKCS8PrivateKey(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			res, err := env.client.ImportBYOK(ctx(t), vault, ImportSpec{
				Name: tc.name, Kty: tc.kty, Crv: tc.crv, KeyOps: tc.ops,
				BYOK: makeBYOK(t, kek, pt), Expected: tc.pub,
			})
			if err != nil {
				t.Fatal(err)
			}
			if !res.PublicKeyMatch {
				t.Errorf("public_key_match false: %s", res.MatchReason)
			}
			if !strings.HasPrefix(res.Kid, "https://demo.vault.azure.net/keys/"+tc.name+"/") {
				t.Errorf("kid %s", res.Kid)
			}
		})
	}

	t.Run("different-public-key", func(t *testing.T) {
		pt, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
		other := readKey(t, "wrap_0.pem").(*rsa.PrivateKey)
		res, err := env.client.ImportBYOK(ctx(t), vault, ImportSpec{Name: "app-rsa2", Kty: "RSA-HSM", BYOK: makeBYOK(t, kek, pt), Expected: &other.PublicKey})
		if err != nil {
			t.Fatal(err)
		}
		if res.PublicKeyMatch {
			t.Error("public_key_match true for a different key")
		}
	})
}

func TestImportRejected(t *testing.T) {
	env := newEnv(t, emulator.Config{})
	vault := env.url + "/kv/demo"
	kek, err := env.client.CreateKEK(ctx(t), vault, "kek", 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := readKey(t, "target_rsa2048.pem").(*rsa.PrivateKey)
	ecKey := readKey(t, "target_p256.pem").(*ecdsa.PrivateKey)
	rsaPT, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	ecPT, _ := x509.MarshalPKCS8PrivateKey(ecKey)

	good := makeBYOK(t, kek, rsaPT)
	blob, err := byok.ParseBlob(good)
	if err != nil {
		t.Fatal(err)
	}
	blob.Ciphertext[len(blob.Ciphertext)-5] ^= 1
	tampered := blob.Marshal()

	for _, tc := range []struct {
		name, kty, crv string
		byok           []byte
		want           string
	}{
		{"tampered", "RSA-HSM", "", tampered, "does not unwrap with key exchange key"},
		{"zero-padded-pkcs8", "RSA-HSM", "", makeBYOK(t, kek, append(append([]byte(nil), rsaPT...), 0, 0, 0, 0)), "followed by 4 zero bytes of padding"},
		{"kty-mismatch", "RSA-HSM", "", makeBYOK(t, kek, ecPT), "kty is RSA-HSM but the wrapped key is an EC P-256 key"},
		{"crv-mismatch", "EC-HSM", "P-384", makeBYOK(t, kek, ecPT), "crv is P-384 but the wrapped EC key is on P-256"},
		{"oct-on-key-vault", "oct-HSM", "", makeBYOK(t, kek, make([]byte, 32)), "oct-HSM is supported only by Managed HSM"},
		{"not-json", "RSA-HSM", "", []byte("not a byok file"), "The BYOK blob is not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.client.ImportBYOK(ctx(t), vault, ImportSpec{Name: "app", Kty: tc.kty, Crv: tc.crv, BYOK: tc.byok})
			var se *ServiceError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v; want a service error", err)
			}
			if se.Status != 400 || se.Code != "BadParameter" || !strings.Contains(se.Message, tc.want) {
				t.Errorf("got %d %s %q; want 400 BadParameter containing %q", se.Status, se.Code, se.Message, tc.want)
			}
		})
	}

	t.Run("kek-of-another-vault", func(t *testing.T) {
		_, err := env.client.ImportBYOK(ctx(t), env.url+"/kv/other", ImportSpec{Name: "app", Kty: "RSA-HSM", BYOK: good})
		var se *ServiceError
		if !errors.As(err, &se) || !strings.Contains(se.Message, "belongs to demo.vault.azure.net") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestImportAESOnManagedHSM(t *testing.T) {
	env := newEnv(t, emulator.Config{})
	hsm := env.url + "/mhsm/hsm1"
	kek, err := env.client.CreateKEK(ctx(t), hsm, "kek", 2048)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(kek.Kid, "https://hsm1.managedhsm.azure.net/keys/kek/") {
		t.Errorf("kid %s", kek.Kid)
	}
	aes := make([]byte, 32)
	rand.Read(aes)
	res, err := env.client.ImportBYOK(ctx(t), hsm, ImportSpec{Name: "aes", Kty: "oct-HSM", KeyOps: []string{"wrapKey", "unwrapKey"}, BYOK: makeBYOK(t, kek, aes)})
	if err != nil {
		t.Fatal(err)
	}
	if res.PublicKeyMatch || !strings.Contains(res.MatchReason, "no public part") {
		t.Errorf("match %v %q", res.PublicKeyMatch, res.MatchReason)
	}
}

func TestSecurityDomainRoundTrip(t *testing.T) {
	for _, object := range []bool{false, true} {
		name := "transfer-key-string"
		if object {
			name = "transfer-key-object"
		}
		t.Run(name, func(t *testing.T) {
			env := newEnv(t, emulator.Config{TransferKeyAsObject: object})
			hsm := env.url + "/mhsm/hsm1"
			certs := []*x509.Certificate{readCert(t, "wrap_0.cer"), readCert(t, "wrap_1.cer"), readCert(t, "wrap_2.cer")}
			var saved []byte
			d, err := env.client.DownloadSecurityDomain(ctx(t), hsm, certs, 2, func(b []byte) error { saved = b; return nil })
			if err != nil {
				t.Fatal(err)
			}
			if string(saved) != string(d.SD) || d.Status == nil || d.Status.Status != "Success" {
				t.Fatalf("download: saved %d bytes, status %+v", len(saved), d.Status)
			}
			if reqs := env.emu.Requests(); reqs[0].Authenticated || reqs[0].Status != 401 {
				t.Errorf("first request %+v; want the unauthenticated challenge", reqs[0])
			}

			// A second download is refused: the HSM is activated.
			if _, err := env.client.DownloadSecurityDomain(ctx(t), hsm, certs, 2, nil); err == nil {
				t.Error("second download accepted")
			}

			exCert, exPEM, _, err := env.client.ExchangeKey(ctx(t), hsm)
			if err != nil {
				t.Fatal(err)
			}
			if c, err := securitydomain.ParseExchangeKey(exPEM); err != nil || !c.Equal(exCert) {
				t.Fatalf("exchange PEM does not parse back: %v", err)
			}

			sd, err := securitydomain.ParseSD(d.SD)
			if err != nil {
				t.Fatal(err)
			}
			var custodians []securitydomain.Custodian
			for i, n := range []string{"wrap_2", "wrap_0"} { // any quorum, any order
				custodians = append(custodians, securitydomain.Custodian{
					Name: n, Cert: readCert(t, n+".cer"),
					Key: securitydomain.SoftwareKey(readKey(t, n+".pem").(*rsa.PrivateKey)),
				})
				_ = i
			}
			res, err := securitydomain.Restore(sd, exCert, custodians, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			st, err := env.client.UploadSecurityDomain(ctx(t), hsm, res.Blob.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != "Success" {
				t.Errorf("upload status %+v", st)
			}

			// A blob restored to another exchange key is refused.
			other := readCert(t, "other_exchange_cert.pem")
			res2, err := securitydomain.Restore(sd, other, custodians, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			_, err = env.client.UploadSecurityDomain(ctx(t), hsm, res2.Blob.Marshal())
			var se *ServiceError
			if !errors.As(err, &se) || se.Status != 400 || !strings.Contains(se.Message, "not to this HSM's exchange certificate "+securitydomain.X5T256(exCert)) {
				t.Errorf("wrong exchange key: err = %v", err)
			}
		})
	}
}

func TestSecurityDomainDownloadRefused(t *testing.T) {
	env := newEnv(t, emulator.Config{})
	hsm := env.url + "/mhsm/hsm1"
	certs := []*x509.Certificate{readCert(t, "wrap_0.cer"), readCert(t, "wrap_1.cer"), readCert(t, "wrap_2.cer")}
	// Quorum above N never reaches the service: the request builder refuses it.
	if _, err := env.client.DownloadSecurityDomain(ctx(t), hsm, certs, 4, nil); err == nil {
		t.Error("quorum 4 of 3 accepted")
	}
	// Security-domain operations exist only on a Managed HSM.
	if _, err := env.client.DownloadSecurityDomain(ctx(t), env.url+"/kv/demo", certs, 2, nil); err == nil {
		t.Error("download from a Key Vault accepted")
	}
}

func TestServiceURL(t *testing.T) {
	c := &Client{}
	for _, tc := range []struct {
		url string
		hsm bool
		ok  bool
	}{
		{"https://contoso.vault.azure.net", false, true},
		{"https://contoso.vault.azure.net/", false, true},
		{"https://contoso.managedhsm.azure.net", true, true},
		{"https://contoso.vault.azure.net", true, false},
		{"http://contoso.vault.azure.net", false, false},
		{"https://evil.example.com", false, false},
		{"https://a.b.vault.azure.net", false, false},
		{"https://contoso.vault.azure.net:8443", false, false},
		{"https://contoso.vault.azure.net?x=1", false, false},
		{"https://127.0.0.1:8443/kv/demo", false, false},
	} {
		_, err := c.serviceURL(tc.url, tc.hsm)
		if (err == nil) != tc.ok {
			t.Errorf("serviceURL(%q, hsm=%v) err = %v; want ok=%v", tc.url, tc.hsm, err, tc.ok)
		}
	}
	local := &Client{local: true}
	if u, err := local.serviceURL("https://127.0.0.1:8443/kv/demo/", false); err != nil || u != "https://127.0.0.1:8443/kv/demo" {
		t.Errorf("local: %q %v", u, err)
	}
}

func TestParseChallenge(t *testing.T) {
	tro, err := parseChallenge(`Bearer authorization="https://login.microsoftonline.com/tenant-1", resource="https://managedhsm.azure.net"`, "x.managedhsm.azure.net", true)
	if err != nil || tro.TenantID != "tenant-1" || len(tro.Scopes) != 1 || tro.Scopes[0] != "https://managedhsm.azure.net/.default" {
		t.Errorf("%+v %v", tro, err)
	}
	if _, err := parseChallenge(`Bearer authorization="https://login.microsoftonline.com/t", resource="https://evil.example"`, "x.managedhsm.azure.net", true); err == nil {
		t.Error("foreign resource accepted")
	}
	if _, err := parseChallenge(`Basic realm="x"`, "h", false); err == nil {
		t.Error("Basic accepted")
	}
}

func TestThrottledCreateIsRetried(t *testing.T) {
	// Key calls are retried by keyRetry on the client's clock, which the
	// emulator shares: the Retry-After it asks for passes in no time.
	env := newEnv(t, emulator.Config{Throttle: true})
	var waits []Wait
	env.client.cfg.OnWait = func(w Wait) { waits = append(waits, w) }
	hsm := env.url + "/mhsm/hsm1"
	for _, name := range []string{"kek1", "kek2"} {
		if _, err := env.client.CreateKEK(ctx(t), hsm, name, 2048); err != nil {
			t.Fatal(err)
		}
	}
	throttled := false
	for _, r := range env.emu.Requests() {
		throttled = throttled || r.Status == 429
	}
	if !throttled {
		t.Error("the second create within a second was not throttled")
	}
	if len(waits) != 1 || !waits[0].Asked || waits[0].Status != 429 || waits[0].Delay != time.Second ||
		waits[0].String() != "POST /keys/kek2/create: the service asked to wait 1s (429 Throttled); waiting" {
		t.Errorf("waits %+v", waits)
	}
	if slept := env.clock.Slept(); len(slept) != 1 || slept[0] != time.Second {
		t.Errorf("slept %v, want [1s] on the injected clock", slept)
	}
}

func TestDownloadBase64Value(t *testing.T) {
	env := newEnv(t, emulator.Config{SDValueBase64: true})
	certs := []*x509.Certificate{readCert(t, "wrap_0.cer"), readCert(t, "wrap_1.cer"), readCert(t, "wrap_2.cer")}
	d, err := env.client.DownloadSecurityDomain(ctx(t), env.url+"/mhsm/hsm1", certs, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(string(d.SD), "{") {
		t.Fatal("expected the base64 form")
	}
	if sd, err := securitydomain.ParseSD(d.SD); err != nil || sd.Required != 3 {
		t.Fatalf("base64 SD: %v", err)
	}
}

// TestServerWithoutChallenge: a server that answers an unauthenticated
// request with 200 is refused, for the azkeys and the raw REST paths.
func TestServerWithoutChallenge(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"key":{"kid":"https://x.vault.azure.net/keys/k/00000000000000000000000000000000","kty":"RSA-HSM","key_ops":["import"],"n":"AQAB","e":"AQAB"},"value":"{}"}`))
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	c, err := New(Config{CAFile: ca, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateKEK(ctx(t), srv.URL, "k", 2048); !errors.Is(err, ErrNoChallenge) {
		t.Errorf("CreateKEK: %v", err)
	}
	certs := []*x509.Certificate{readCert(t, "wrap_0.cer"), readCert(t, "wrap_1.cer"), readCert(t, "wrap_2.cer")}
	if _, err := c.DownloadSecurityDomain(ctx(t), srv.URL, certs, 2, nil); !errors.Is(err, ErrNoChallenge) {
		t.Errorf("DownloadSecurityDomain: %v", err)
	}
}

// TestStandInNeedsToken: with --ca the host and challenge checks are off, so
// the default Azure credential chain is never used: a real token could go to
// any host, for any resource its challenge names.
func TestStandInNeedsToken(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if _, err := New(Config{CAFile: ca}); !errors.Is(err, ErrStandInToken) {
		t.Fatalf("New with CAFile and no token: %v, want ErrStandInToken", err)
	}
}

// TestOnePrefix: the errors the transport and the key calls' policies make
// leave the package inside a message that starts "uploader: ", so their
// own texts do not say it again; errors.Is still finds their sentinels.
func TestOnePrefix(t *testing.T) {
	se := &ServiceError{Status: 429, Code: "Throttled"}
	for _, tc := range []struct {
		err  error
		kind error
	}{
		{&BusyError{Request: "PUT /keys/k", Service: se, Asked: time.Hour}, ErrBusy},
		{&OutcomeUnknownError{Request: "PUT /keys/k", Err: se}, ErrOutcomeUnknown},
		{&KidError{Answer: "the import's answer", Kid: "x"}, ErrUnexpectedKid},
		{&RedirectError{Method: "GET", Path: "/", Status: 302}, ErrRedirect},
		{&ResponseTooLargeError{Method: "GET", Path: "/", Status: 200, Limit: 1 << 20}, ErrResponseTooLarge},
		{&noChallengeError{status: 200, method: "GET", path: "/"}, ErrNoChallenge},
	} {
		wrapped := fmt.Errorf("uploader: importing k: %w", tc.err)
		if strings.Count(wrapped.Error(), "uploader: ") != 1 || !errors.Is(wrapped, tc.kind) {
			t.Errorf("%T: %q", tc.err, wrapped)
		}
	}
}

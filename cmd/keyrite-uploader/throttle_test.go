package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrite/keyrite/internal/base/fakeclock"
	"github.com/keyrite/keyrite/internal/online/uploader"
)

// throttlingVault stands in for Key Vault "demo": it challenges, answers
// the first key create 429 with Retry-After retryAfter, then creates a KEK.
func throttlingVault(t *testing.T, retryAfter string) (vault, ca string, posts *atomic.Int32) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, "wrap_0.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := &k.(*rsa.PrivateKey).PublicKey
	b64 := base64.RawURLEncoding.EncodeToString
	answer, _ := json.Marshal(map[string]any{"key": map[string]any{
		"kid": "https://demo.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef", "kty": "RSA-HSM", "key_ops": []string{"import"},
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}})
	posts = new(atomic.Int32)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if posts.Add(1) == 1 {
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received."}}`))
			return
		}
		w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	ca = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL + "/kv/demo", ca, posts
}

// TestKEKCreateRetryAfter: a Retry-After longer than --timeout is refused
// at once, saying so; one within it is waited for (on the injected clock),
// with a line on stderr saying what for.
func TestKEKCreateRetryAfter(t *testing.T) {
	t.Setenv("KR_TOKEN", "test-token")
	clk := fakeclock.New(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	configHook = func(c *uploader.Config) { c.Now, c.Sleep = clk.Now, clk.Sleep }
	t.Cleanup(func() { configHook = nil })

	create := func(vault, ca string, extra ...string) result {
		out := filepath.Join(t.TempDir(), "kek.pem")
		return runCLI(t, append([]string{"kek", "create", "--vault", vault, "--name", "kek", "--out", out, "--ca", ca, "--token-env", "KR_TOKEN"}, extra...)...)
	}
	vault, ca, posts := throttlingVault(t, "3600")
	r := create(vault, ca)
	// One package prefix, as the library wrote it: nothing cut out, nothing
	// said twice.
	r.want(t, 1, "keyrite-uploader: error: kek create: uploader: creating KEK kek: the service is busy: POST /keys/kek/create: the service asked to wait 1h0m0s (429 Throttled), longer than the 30m0s left of the time budget (--timeout 30m0s); not waiting",
		"keyrite-uploader: hint: the service is throttling or unavailable; try again later, or give a longer --timeout")
	if posts.Load() != 1 || len(clk.Slept()) != 0 {
		t.Errorf("sent %d times, slept %v; want one try and no wait", posts.Load(), clk.Slept())
	}

	vault, ca, posts = throttlingVault(t, "3600")
	r = create(vault, ca, "--timeout", "2h")
	r.want(t, 0, "keyrite-uploader: POST /keys/kek/create: the service asked to wait 1h0m0s (429 Throttled); waiting\n")
	if posts.Load() != 2 || len(clk.Slept()) != 1 || clk.Slept()[0] != time.Hour {
		t.Errorf("sent %d times, slept %v; want the hour waited, then the create", posts.Load(), clk.Slept())
	}
	if !strings.Contains(r.stdout, "https://demo.vault.azure.net/keys/kek/") {
		t.Errorf("stdout %q", r.stdout)
	}

	runCLI(t, "import", "--ceremony", t.TempDir(), "--vault", vault, "--timeout", "-1m").want(t, 2, "--timeout")
}

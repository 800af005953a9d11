package uploader

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrite/keyrite/internal/base/fakeclock"
	"github.com/keyrite/keyrite/transcripts"
)

// A hostile HTTPS server in place of a vault: it answers the SDK's first,
// unauthenticated request with the 401 challenge Key Vault sends (the
// client refuses a server that does not challenge), then every
// authenticated request as the test says: oversized bodies, redirects,
// foreign kids, long Retry-After, dropped connections.

type hostile struct {
	mu    sync.Mutex
	reqs  []string // "METHOD /path" of the authenticated requests
	serve func(w http.ResponseWriter, r *http.Request, n int)
}

func (h *hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	n := len(h.reqs)
	h.reqs = append(h.reqs, r.Method+" "+r.URL.Path)
	h.mu.Unlock()
	h.serve(w, r, n)
}

func (h *hostile) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.reqs...)
}

func (h *hostile) count(method string) int {
	n := 0
	for _, r := range h.seen() {
		if strings.HasPrefix(r, method+" ") {
			n++
		}
	}
	return n
}

// hostileEnv is a client on a fake clock pointed at a hostile server
// standing in for Key Vault "demo" (URL .../kv/demo, kids on
// demo.vault.azure.net).
type hostileEnv struct {
	client *Client
	srv    *httptest.Server
	vault  string
	clock  *fakeclock.Clock
	h      *hostile
	waits  []Wait
}

func newHostile(t *testing.T, budget time.Duration, serve func(w http.ResponseWriter, r *http.Request, n int)) *hostileEnv {
	t.Helper()
	h := &hostile{serve: serve}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &hostileEnv{srv: srv, vault: srv.URL + "/kv/demo", h: h,
		clock: fakeclock.New(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))}
	c, err := New(Config{CAFile: ca, Token: "t", Timeout: budget, Now: e.clock.Now, Sleep: e.clock.Sleep,
		OnWait: func(w Wait) { e.waits = append(e.waits, w) }})
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	return e
}

const testVersion = "0123456789abcdef0123456789abcdef"

func goodKid(name string) string {
	return "https://demo.vault.azure.net/keys/" + name + "/" + testVersion
}

// keyJSON is a key answer as the service writes it, with kid and the
// public key pub.
func keyJSON(kid string, pub *rsa.PublicKey) string {
	b64 := base64.RawURLEncoding.EncodeToString
	k, _ := json.Marshal(map[string]any{"key": map[string]any{
		"kid": kid, "kty": "RSA-HSM", "key_ops": []string{"sign", "verify"},
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}, "attributes": map[string]any{"enabled": true}})
	return string(k)
}

func writeJSON(w http.ResponseWriter, status int, body string, header ...string) {
	for i := 0; i+1 < len(header); i += 2 {
		w.Header().Set(header[i], header[i+1])
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func keyNotFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, `{"error":{"code":"KeyNotFound","message":"A key with (name/id) app was not found in this key vault."}}`)
}

// vaultAnswer answers as a vault would that imports every key as
// goodKid(name) with public key pub: PUT imports, GET reads back (404
// before the import).
func vaultAnswer(pub *rsa.PublicKey) func(w http.ResponseWriter, r *http.Request) {
	var imported atomic.Bool
	return func(w http.ResponseWriter, r *http.Request) {
		name := keyName(r.URL.Path)
		switch {
		case r.Method == http.MethodPut:
			imported.Store(true)
			writeJSON(w, http.StatusOK, keyJSON(goodKid(name), pub))
		case r.Method == http.MethodGet && imported.Load():
			writeJSON(w, http.StatusOK, keyJSON(goodKid(name), pub))
		default:
			keyNotFound(w)
		}
	}
}

func keyName(path string) string {
	_, rest, _ := strings.Cut(path, "/keys/")
	name, _, _ := strings.Cut(rest, "/")
	return name
}

func testSpec(t *testing.T) (ImportSpec, *rsa.PublicKey) {
	t.Helper()
	key := readKey(t, "target_rsa2048.pem").(*rsa.PrivateKey)
	blob := []byte(`{"schema_version":"1.0.0","header":{"kid":"k","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"AA","generator":"x"}`)
	return ImportSpec{Name: "app", Kty: "RSA-HSM", BYOK: blob, Expected: &key.PublicKey}, &key.PublicKey
}

const hugeBody = 64 << 20

// stream writes prefix and then filler up to hugeBody bytes, as fast as the
// client reads, and reports how much it wrote when the client stopped.
func stream(w http.ResponseWriter, prefix string, wrote chan<- int64) {
	var n int64
	defer func() { wrote <- n }()
	chunk := []byte(strings.Repeat("a", 64<<10))
	k, err := io.WriteString(w, prefix)
	n += int64(k)
	for err == nil && n < hugeBody {
		k, err = w.Write(chunk)
		n += int64(k)
	}
}

// TestHostileOversizedBody: an answer of 64 MiB (a key answer, an error
// body, a declared Content-Length, the read-back, a KEK create, a
// security-domain answer) fails fast with ErrResponseTooLarge; the client
// reads at most about 4 MiB of it and the error does not echo it.
func TestHostileOversizedBody(t *testing.T) {
	spec, pub := testSpec(t)
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request, wrote chan<- int64)
		call  func(e *hostileEnv) error
	}{
		{"import-answer", func(w http.ResponseWriter, r *http.Request, wrote chan<- int64) {
			w.WriteHeader(http.StatusOK)
			stream(w, `{"key":{"kid":"https://demo.vault.azure.net/keys/app/`, wrote)
		}, nil},
		{"error-body", func(w http.ResponseWriter, r *http.Request, wrote chan<- int64) {
			w.WriteHeader(http.StatusBadRequest)
			stream(w, `{"error":{"code":"BadParameter","message":"`, wrote)
		}, nil},
		{"declared-content-length", func(w http.ResponseWriter, r *http.Request, wrote chan<- int64) {
			w.Header().Set("Content-Length", fmt.Sprint(hugeBody))
			w.WriteHeader(http.StatusOK)
			stream(w, `{"key":{"kid":"`, wrote)
		}, nil},
		{"read-back", func(w http.ResponseWriter, r *http.Request, wrote chan<- int64) {
			if r.Method == http.MethodPut {
				writeJSON(w, http.StatusOK, keyJSON(goodKid("app"), pub))
				wrote <- 0
				return
			}
			w.WriteHeader(http.StatusOK)
			stream(w, `{"key":{"kid":"`, wrote)
		}, nil},
		{"kek-create", func(w http.ResponseWriter, r *http.Request, wrote chan<- int64) {
			w.WriteHeader(http.StatusOK)
			stream(w, `{"key":{"kid":"`, wrote)
		}, func(e *hostileEnv) error {
			_, err := e.client.CreateKEK(ctx(t), e.vault, "kek", 2048)
			return err
		}},
		{"security-domain", func(w http.ResponseWriter, r *http.Request, wrote chan<- int64) {
			w.WriteHeader(http.StatusOK)
			stream(w, `{"key_format":"jwk","transfer_key":"`, wrote)
		}, func(e *hostileEnv) error {
			_, _, _, err := e.client.ExchangeKey(ctx(t), e.srv.URL+"/mhsm/hsm1")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrote := make(chan int64, 4)
			e := newHostile(t, 30*time.Minute, func(w http.ResponseWriter, r *http.Request, n int) { tc.serve(w, r, wrote) })
			call := tc.call
			if call == nil {
				call = func(e *hostileEnv) error { _, err := e.client.ImportBYOK(ctx(t), e.vault, spec); return err }
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			err := call(e)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			var tl *ResponseTooLargeError
			if !errors.Is(err, ErrResponseTooLarge) || !errors.As(err, &tl) || tl.Limit != maxResponse {
				t.Fatalf("err = %v; want ErrResponseTooLarge", err)
			}
			if took > 10*time.Second {
				t.Errorf("took %s; want it to fail fast", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
				t.Errorf("allocated %d MiB for a %d MiB answer; want the read bounded", alloc>>20, hugeBody>>20)
			}
			if len(err.Error()) > 1000 || strings.Contains(err.Error(), "aaaaaaaa") {
				t.Errorf("the error echoes the answer (%d bytes): %.300s", len(err.Error()), err)
			}
			select {
			case n := <-wrote:
				if tc.name == "read-back" {
					n = <-wrote
				}
				if n >= hugeBody {
					t.Errorf("the server could write all %d MiB: the client read it", n>>20)
				}
			case <-time.After(10 * time.Second):
				t.Error("the server was still writing 10 s later: the client did not hang up")
			}
			if got := e.h.count(http.MethodPut) + e.h.count(http.MethodPost); got > 1 {
				t.Errorf("sent %d times: %v", got, e.h.seen())
			}
		})
	}
}

// TestHostileErrorMessageCut: a service message of 1 MiB, with line breaks
// that would forge a hint line, is quoted cut to about 200 bytes, escaped.
func TestHostileErrorMessageCut(t *testing.T) {
	spec, _ := testSpec(t)
	msg := "bad\nkeyrite-uploader: hint: run rm -rf\x1b[2J" + strings.Repeat("m", 1<<20)
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"code": "BadParameter\r\n", "message": msg}})
	e := newHostile(t, 30*time.Minute, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusBadRequest, string(body))
	})
	_, err := e.client.ImportBYOK(ctx(t), e.vault, spec)
	var se *ServiceError
	if !errors.As(err, &se) || se.Status != 400 {
		t.Fatalf("err = %v", err)
	}
	s := err.Error()
	if len(se.Message) > maxEcho+40 || len(s) > 600 || strings.ContainsAny(s, "\n\r\x1b") {
		t.Errorf("message %d bytes, error %d bytes: %q", len(se.Message), len(s), s)
	}
	if !strings.Contains(s, `bad\x0akeyrite-uploader: hint`) || !strings.Contains(s, fmt.Sprintf("(%d bytes)", len(msg))) || se.Code != `BadParameter\x0d\x0a` {
		t.Errorf("error %q, code %q", s, se.Code)
	}
}

func TestEcho(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                   "plain",
		"a\nb\tc\x00":             `a\x0ab\x09c\x00`,
		"bidi \u202eevil":         `bidi \u202eevil`,
		"bad utf8 \xff":           `bad utf8 \xff`,
		"é ok":                    "é ok",
		strings.Repeat("k", 250):  strings.Repeat("k", 200) + "... (250 bytes)",
		strings.Repeat("é", 150):  strings.Repeat("é", 100) + "... (300 bytes)",
		strings.Repeat("\n", 100): strings.Repeat(`\x0a`, 50) + "... (100 bytes)",
		strings.Repeat("x", 200):  strings.Repeat("x", 200),
		"line\u2028sep\u0085next": `line\u2028sep\u0085next`,
		"AGE-SECRET-KEY-1QQQ":     "(19 bytes not shown: they look like secret material)",
	} {
		if got := echo(in); got != want {
			t.Errorf("echo(%.40q) = %q; want %q", in, got, want)
		}
	}
}

// TestHostileRedirect: a redirect is never followed, whatever its code,
// to another port of the same host or to another host, for an import (the
// .byok body), a KEK create, the challenge request and a security-domain
// call: the other listener sees nothing, neither body nor token.
func TestHostileRedirect(t *testing.T) {
	spec, _ := testSpec(t)
	var otherMu sync.Mutex
	var otherSaw []string
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		otherMu.Lock()
		otherSaw = append(otherSaw, fmt.Sprintf("%s %s auth=%q body=%d", r.Method, r.URL.Path, r.Header.Get("Authorization"), len(b)))
		otherMu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer other.Close()
	ou, _ := url.Parse(other.URL)
	targets := map[string]string{
		"same-host-other-port": other.URL,
		"other-host":           "https://localhost:" + ou.Port(),
	}
	calls := map[string]func(e *hostileEnv) error{
		"import": func(e *hostileEnv) error { _, err := e.client.ImportBYOK(ctx(t), e.vault, spec); return err },
		"kek-create": func(e *hostileEnv) error {
			_, err := e.client.CreateKEK(ctx(t), e.vault, "kek", 2048)
			return err
		},
		"security-domain": func(e *hostileEnv) error {
			_, _, _, err := e.client.ExchangeKey(ctx(t), e.srv.URL+"/mhsm/hsm1")
			return err
		},
	}
	for _, code := range []int{301, 302, 303, 307, 308} {
		for tname, target := range targets {
			for cname, call := range calls {
				t.Run(fmt.Sprintf("%d-%s-%s", code, tname, cname), func(t *testing.T) {
					e := newHostile(t, 30*time.Minute, func(w http.ResponseWriter, r *http.Request, n int) {
						http.Redirect(w, r, target+r.URL.RequestURI(), code)
					})
					err := call(e)
					var re *RedirectError
					if !errors.Is(err, ErrRedirect) || !errors.As(err, &re) || re.Status != code || !strings.HasPrefix(re.Location, target) {
						t.Fatalf("err = %v; want ErrRedirect", err)
					}
					if n := len(e.h.seen()); n != 1 {
						t.Errorf("the redirected request was sent %d times: %v", n, e.h.seen())
					}
				})
			}
		}
	}
	// The first request (no token, no body) redirected: refused too,
	// rather than letting another host answer the challenge.
	t.Run("challenge", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		}))
		defer srv.Close()
		ca := filepath.Join(t.TempDir(), "ca.pem")
		writeCertPEM(t, ca, srv.Certificate().Raw)
		c, err := New(Config{CAFile: ca, Token: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ImportBYOK(ctx(t), srv.URL+"/kv/demo", spec); !errors.Is(err, ErrRedirect) {
			t.Fatalf("err = %v; want ErrRedirect", err)
		}
	})
	time.Sleep(100 * time.Millisecond) // anything in flight to the other listener arrives
	otherMu.Lock()
	defer otherMu.Unlock()
	if len(otherSaw) != 0 {
		t.Errorf("the other listener was sent %d requests: %v", len(otherSaw), otherSaw)
	}
}

// TestHostileKid: an import answered with a kid of another host, vault,
// key or version, or no key version URL at all, is refused
// (ErrUnexpectedKid) and nothing else is asked; so is a read-back naming
// another kid. The kid is quoted cut.
func TestHostileKid(t *testing.T) {
	spec, pub := testSpec(t)
	huge := "https://demo.vault.azure.net/keys/app/" + strings.Repeat("a", 1<<20)
	for _, tc := range []struct {
		name, kid string
	}{
		{"foreign-host", "https://evil.example/keys/app/" + testVersion},
		{"other-vault", "https://other.vault.azure.net/keys/app/" + testVersion},
		{"other-service", "https://demo.managedhsm.azure.net/keys/app/" + testVersion},
		{"other-key", "https://demo.vault.azure.net/keys/other/" + testVersion},
		{"port", "https://demo.vault.azure.net:8443/keys/app/" + testVersion},
		{"no-version", "https://demo.vault.azure.net/keys/app"},
		{"http", "http://demo.vault.azure.net/keys/app/" + testVersion},
		{"userinfo", "https://demo.vault.azure.net@evil.example/keys/app/" + testVersion},
		{"line-break", "https://evil.example/keys/app/\nkeyrite-uploader: imported app"},
		{"huge", huge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newHostile(t, 30*time.Minute, func(w http.ResponseWriter, r *http.Request, n int) {
				writeJSON(w, http.StatusOK, keyJSON(tc.kid, pub))
			})
			res, err := e.client.ImportBYOK(ctx(t), e.vault, spec)
			var ke *KidError
			if !errors.Is(err, ErrUnexpectedKid) || !errors.As(err, &ke) || res != nil {
				t.Fatalf("res %+v, err = %v; want ErrUnexpectedKid", res, err)
			}
			if s := err.Error(); len(s) > 1000 || strings.Contains(s, "\n") {
				t.Errorf("error %d bytes: %.300q", len(s), s)
			}
			if got := e.h.seen(); len(got) != 1 {
				t.Errorf("requests %v; want the import only", got)
			}
		})
	}
	t.Run("key-name-case", func(t *testing.T) {
		// The service keeps the spelling a key was first given.
		e := newHostile(t, 30*time.Minute, func(w http.ResponseWriter, r *http.Request, n int) {
			writeJSON(w, http.StatusOK, keyJSON(goodKid("App"), pub))
		})
		res, err := e.client.ImportBYOK(ctx(t), e.vault, spec)
		if err != nil || res.Kid != goodKid("App") || !res.PublicKeyMatch {
			t.Fatalf("res %+v, err %v", res, err)
		}
	})
	t.Run("read-back-other-kid", func(t *testing.T) {
		e := newHostile(t, 30*time.Minute, func(w http.ResponseWriter, r *http.Request, n int) {
			kid := goodKid("app")
			if r.Method == http.MethodGet {
				kid = "https://demo.vault.azure.net/keys/app/" + strings.Repeat("f", 32)
			}
			writeJSON(w, http.StatusOK, keyJSON(kid, pub))
		})
		_, err := e.client.ImportBYOK(ctx(t), e.vault, spec)
		if !errors.Is(err, ErrUnexpectedKid) || !strings.Contains(err.Error(), "names version ffff") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("kek-create", func(t *testing.T) {
		e := newHostile(t, 30*time.Minute, func(w http.ResponseWriter, r *http.Request, n int) {
			k, _ := readKey(t, "wrap_0.pem").(*rsa.PrivateKey)
			writeJSON(w, http.StatusOK, strings.Replace(keyJSON("https://evil.example/keys/kek/"+testVersion, &k.PublicKey), `"sign","verify"`, `"import"`, 1))
		})
		if _, err := e.client.CreateKEK(ctx(t), e.vault, "kek", 2048); !errors.Is(err, ErrUnexpectedKid) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("private-members", func(t *testing.T) {
		e := newHostile(t, 30*time.Minute, func(w http.ResponseWriter, r *http.Request, n int) {
			writeJSON(w, http.StatusOK, strings.Replace(keyJSON(goodKid("app"), pub), `"kid"`, `"d":"AQAB","kid"`, 1))
		})
		if _, err := e.client.ImportBYOK(ctx(t), e.vault, spec); err == nil || !strings.Contains(err.Error(), "private key members") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestHostileRetry: Retry-After is honoured, on the client's clock, as long
// as the wait ends within the budget, and refused at once when it would
// not; an import is sent again only when the service says it was not
// processed (429, 503), never after a dropped connection or a 500.
func TestHostileRetry(t *testing.T) {
	spec, pub := testSpec(t)
	throttled := func(after string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusTooManyRequests, `{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received."}}`, "Retry-After", after)
		}
	}
	// hangUp drops the connection once the request was received whole:
	// what became of it is unknown to the client.
	hangUp := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	unavailable := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusServiceUnavailable, `{"error":{"code":"ServiceUnavailable","message":"try later"}}`)
	}
	internal := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusInternalServerError, `{"error":{"code":"InternalError","message":"oops"}}`)
	}
	for _, tc := range []struct {
		name       string
		firstPut   func(w http.ResponseWriter, r *http.Request) // the first PUT's answer; later ones import
		firstGet   func(w http.ResponseWriter, r *http.Request) // the first GET's answer; later ones read back
		getFails   int32                                        // how many GETs get firstGet (default 1)
		alwaysPut  func(w http.ResponseWriter, r *http.Request)
		wantErr    error
		wantSlept  []time.Duration
		wantPuts   int
		wantInMsg  string
		wantWaitAs string
	}{
		{name: "retry-after-3600-refused", firstPut: throttled("3600"), wantErr: ErrBusy, wantPuts: 1,
			wantInMsg: "the service asked to wait 1h0m0s (429 Throttled), longer than the 30m0s left of the time budget (--timeout 30m0s); not waiting"},
		{name: "retry-after-20s-waited", firstPut: throttled("20"), wantSlept: []time.Duration{20 * time.Second}, wantPuts: 2,
			wantWaitAs: "PUT /keys/app: the service asked to wait 20s (429 Throttled); waiting"},
		{name: "retry-after-http-date", firstPut: throttled("Fri, 04 Dec 2026 09:01:30 GMT"), wantSlept: []time.Duration{90 * time.Second}, wantPuts: 2},
		{name: "503-without-retry-after", firstPut: unavailable, wantSlept: []time.Duration{5 * time.Second}, wantPuts: 2,
			wantWaitAs: "PUT /keys/app: the service answered 503 ServiceUnavailable; trying again in 5s"},
		{name: "budget-runs-out", alwaysPut: throttled("600"), wantErr: ErrBusy, wantPuts: 4,
			wantSlept: []time.Duration{10 * time.Minute, 10 * time.Minute, 10 * time.Minute}, wantInMsg: "longer than the 0s left"},
		{name: "put-dropped-connection", firstPut: hangUp, wantErr: ErrOutcomeUnknown, wantPuts: 1,
			wantInMsg: "the vault may or may not have done it, and it was not sent again"},
		{name: "put-500", firstPut: internal, wantErr: ErrOutcomeUnknown, wantPuts: 1},
		// Go's transport itself sends a GET again once when a reused
		// connection drops; the second drop is keyRetry's.
		{name: "get-dropped-connection", firstGet: hangUp, getFails: 2, wantSlept: []time.Duration{5 * time.Second}, wantPuts: 1,
			wantWaitAs: "GET /keys/app/" + testVersion + ": no answer (Get \"https://127.0.0.1:"},
		{name: "get-500", firstGet: internal, wantSlept: []time.Duration{5 * time.Second}, wantPuts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var puts, gets atomic.Int32
			vault := vaultAnswer(pub)
			e := newHostile(t, 30*time.Minute, func(w http.ResponseWriter, r *http.Request, n int) {
				switch r.Method {
				case http.MethodPut:
					n := puts.Add(1)
					if tc.alwaysPut != nil {
						tc.alwaysPut(w, r)
						return
					}
					if n == 1 && tc.firstPut != nil {
						tc.firstPut(w, r)
						return
					}
				case http.MethodGet:
					if gets.Add(1) <= max(tc.getFails, 1) && tc.firstGet != nil {
						tc.firstGet(w, r)
						return
					}
				}
				vault(w, r)
			})
			res, err := e.client.ImportBYOK(ctx(t), e.vault, spec)
			if tc.wantErr == nil {
				if err != nil || !res.PublicKeyMatch {
					t.Fatalf("res %+v, err %v", res, err)
				}
			} else if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v; want %v (requests %v, slept %v, waits %v)", err, tc.wantErr, e.h.seen(), e.clock.Slept(), e.waits)
			}
			if tc.wantInMsg != "" && (err == nil || !strings.Contains(err.Error(), tc.wantInMsg)) {
				t.Errorf("err = %v; want it to say %q", err, tc.wantInMsg)
			}
			if got := e.clock.Slept(); fmt.Sprint(got) != fmt.Sprint(tc.wantSlept) {
				t.Errorf("slept %v; want %v", got, tc.wantSlept)
			}
			if got := int(puts.Load()); got != tc.wantPuts {
				t.Errorf("PUT sent %d times; want %d (%v)", got, tc.wantPuts, e.h.seen())
			}
			if len(e.waits) != len(tc.wantSlept) {
				t.Errorf("announced waits %v; want one per sleep", e.waits)
			}
			if tc.wantWaitAs != "" && (len(e.waits) == 0 || !strings.HasPrefix(e.waits[0].String(), tc.wantWaitAs)) {
				t.Errorf("waits %v; want %q", e.waits, tc.wantWaitAs)
			}
			var be *BusyError
			var se *ServiceError
			if errors.As(err, &be) && (!errors.As(err, &se) || se.Status != 429 || se.Code != "Throttled") {
				t.Errorf("a BusyError without the service's answer: %v", err)
			}
		})
	}
}

// hostileCeremony records and signs a ceremony with one RSA export,
// wrapped under a KEK of Key Vault demo.
func hostileCeremony(t *testing.T) (string, *transcripts.Trust) {
	t.Helper()
	k := readKey(t, "wrap_0.pem").(*rsa.PrivateKey)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	kek := &KEK{Kid: "https://demo.vault.azure.net/keys/kek/" + testVersion, Public: &k.PublicKey,
		PEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
	dir := filepath.Join(t.TempDir(), "ceremony")
	offlineExport(t, dir, kek, "app", "RSA-2048", readKey(t, "target_rsa2048.pem"), true)
	return dir, sign(t, dir)
}

// TestHostileImportCeremonyRecordsFailure: what the hostile server does to
// an import is recorded in the transcript as a failed import, the
// transcript still verifies, and nothing the server sent becomes the
// recorded kid.
func TestHostileImportCeremonyRecordsFailure(t *testing.T) {
	_, pub := testSpec(t)
	for _, tc := range []struct {
		name    string
		put     func(w http.ResponseWriter, r *http.Request)
		wantErr error
		inMsg   string
	}{
		{"foreign-kid", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, keyJSON("https://evil.example/keys/app/"+testVersion, pub))
		}, ErrUnexpectedKid, "evil.example"},
		{"huge-kid", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, keyJSON("https://demo.vault.azure.net/keys/app/"+strings.Repeat("a", 3<<20), pub))
		}, ErrUnexpectedKid, "... (3145766 bytes)"},
		{"oversized-answer", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			stream(w, `{"key":{"kid":"`, make(chan int64, 1))
		}, ErrResponseTooLarge, "larger than 4 MiB"},
		{"retry-after-3600", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusTooManyRequests, `{"error":{"code":"Throttled","message":"slow down"}}`, "Retry-After", "3600")
		}, ErrBusy, "asked to wait 1h0m0s"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://evil.example"+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		}, ErrRedirect, "evil.example"},
		{"control-characters-in-message", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusBadRequest, `{"error":{"code":"BadParameter","message":"line\u2028two\u0000three"}}`)
		}, nil, `line\u2028two\x00three`},
		{"secret-looking-message", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusBadRequest, `{"error":{"code":"BadParameter","message":"-----BEGIN PRIVATE KEY-----"}}`)
		}, nil, "(27 bytes not shown: they look like secret material)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, trust := hostileCeremony(t)
			vault := vaultAnswer(pub)
			e := newHostile(t, 30*time.Minute, func(w http.ResponseWriter, r *http.Request, n int) {
				if r.Method == http.MethodPut {
					tc.put(w, r)
					return
				}
				vault(w, r)
			})
			_, err := e.client.ImportCeremony(ctx(t), dir, e.vault, trust)
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v; want %v", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "recording") {
				t.Fatalf("the failure was not recorded: %v", err)
			}
			rep, verr := transcripts.Verify(dir, trust)
			if verr != nil {
				t.Fatalf("verify after the failure: %v", verr)
			}
			last := rep.Events[len(rep.Events)-1]
			if last.Step != StepImport || !strings.HasPrefix(last.Result, "failed: ") || !strings.Contains(last.Result, tc.inMsg) {
				t.Fatalf("last event %s %q; want a failed import saying %q", last.Step, last.Result, tc.inMsg)
			}
			if kid, ok := param(&last, "kid"); ok {
				t.Errorf("recorded kid %.100q from a refused answer", kid)
			}
		})
	}
}

// TestHostileLookupRecorded: a hostile answer to the look-up that comes
// before an import (does the vault already hold the key?) is recorded as
// a failure too, and nothing is imported.
func TestHostileLookupRecorded(t *testing.T) {
	dir, trust := hostileCeremony(t)
	e := newHostile(t, 30*time.Minute, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(http.StatusOK)
		stream(w, `{"key":{"kid":"`, make(chan int64, 1))
	})
	_, err := e.client.ImportCeremony(ctx(t), dir, e.vault, trust)
	if !errors.Is(err, ErrResponseTooLarge) || strings.Contains(err.Error(), "recording") {
		t.Fatalf("err = %v", err)
	}
	if e.h.count(http.MethodPut) != 0 {
		t.Error("imported after a failed look-up")
	}
	rep, verr := transcripts.Verify(dir, trust)
	if verr != nil {
		t.Fatal(verr)
	}
	last := rep.Events[len(rep.Events)-1]
	if last.Step != StepImport || !strings.HasPrefix(last.Result, "failed: ") || !strings.Contains(last.Action, "looking for app") {
		t.Fatalf("last event %s %q %q", last.Step, last.Action, last.Result)
	}
}

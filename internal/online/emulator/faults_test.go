package emulator

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/internal/base/fakeclock"
	"github.com/keyrite/keyrite/securitydomain"
)

// TestThrottleFollowsClock: key-creation throttling counts its window on
// the injected clock: a second create within the HSM's second is refused
// with Retry-After until the clock moves, however long the test takes.
func TestThrottleFollowsClock(t *testing.T) {
	clock := fakeclock.New(start2025)
	e := newTestEmu(t, Config{StateDir: t.TempDir(), Throttle: true, Now: clock.Now})
	create := func(name string) (int, string) {
		w := do(e, "POST", "/mhsm/hsm1/keys/"+name+"/create?api-version=7.5", `{"kty":"oct-HSM","key_size":256}`)
		return w.Code, w.Header().Get("Retry-After")
	}
	if code, _ := create("a"); code != 200 {
		t.Fatalf("first create: %d", code)
	}
	time.Sleep(1100 * time.Millisecond) // wall time passes; the clock does not
	if code, ra := create("b"); code != 429 || ra != "1" {
		t.Errorf("second create within the clock's second: %d Retry-After %q; want 429 1", code, ra)
	}
	clock.Advance(time.Second)
	if code, _ := create("b"); code != 200 {
		t.Errorf("create after the clock moved: %d", code)
	}
	// Key Vault: 10 per 10 s; the 11th waits for the first to leave the window.
	for i := range 10 {
		w := do(e, "POST", "/kv/demo/keys/k"+string(rune('a'+i))+"/create?api-version=7.5", `{"kty":"EC-HSM","crv":"P-256"}`)
		if w.Code != 200 {
			t.Fatalf("vault create %d: %d %s", i, w.Code, w.Body)
		}
		clock.Advance(100 * time.Millisecond)
	}
	w := do(e, "POST", "/kv/demo/keys/kz/create?api-version=7.5", `{"kty":"EC-HSM","crv":"P-256"}`)
	if code, _ := errorOf(t, w); w.Code != 429 || code != "Throttled" || w.Header().Get("Retry-After") != "9" {
		t.Errorf("11th vault create: %d %s Retry-After %q; want 429 Throttled 9", w.Code, code, w.Header().Get("Retry-After"))
	}
	clock.Advance(9 * time.Second)
	if w := do(e, "POST", "/kv/demo/keys/kz/create?api-version=7.5", `{"kty":"EC-HSM","crv":"P-256"}`); w.Code != 200 {
		t.Errorf("vault create after Retry-After: %d", w.Code)
	}
}

// TestPendingThrottle: with PendingInterval, a status poll sooner than the
// interval after the previous one is 429 with Retry-After; a client that
// waits as told is answered.
func TestPendingThrottle(t *testing.T) {
	clock := fakeclock.New(start2025)
	e := newTestEmu(t, Config{StateDir: t.TempDir(), Now: clock.Now, SDDelay: time.Minute, PendingInterval: 30 * time.Second})
	call := httpsEmu(t, e)
	certs, _ := custodians(t)
	body, _ := securitydomain.DownloadRequest(certs, 2)
	if code, _, b := call("POST", "/mhsm/hsm1/securitydomain/download", string(body)); code != 202 {
		t.Fatalf("download: %d %s", code, b)
	}
	code, _, b := call("GET", "/mhsm/hsm1/securitydomain/download/pending", "")
	if code != 200 || statusOf(t, b) != "InProgress" {
		t.Fatalf("first poll: %d %s", code, b)
	}
	clock.Advance(10 * time.Second)
	code, h, b := call("GET", "/mhsm/hsm1/securitydomain/download/pending", "")
	var se serviceError
	json.Unmarshal(b, &se)
	if code != 429 || h.Get("Retry-After") != "20" || se.Error.Code != "Throttled" {
		t.Fatalf("poll after 10 s: %d Retry-After %q %s; want 429 20 Throttled", code, h.Get("Retry-After"), b)
	}
	// A refused poll does not restart the interval.
	clock.Advance(20 * time.Second)
	if code, _, b := call("GET", "/mhsm/hsm1/securitydomain/download/pending", ""); code != 200 || statusOf(t, b) != "InProgress" {
		t.Errorf("poll after Retry-After: %d %s", code, b)
	}
	// Each operation's polls are counted on their own.
	if code, _, b := call("GET", "/mhsm/hsm1/securitydomain/upload/pending", ""); code != 404 {
		t.Errorf("upload/pending: %d %s", code, b)
	}
	clock.Advance(30 * time.Second)
	if code, _, b := call("GET", "/mhsm/hsm1/securitydomain/download/pending", ""); code != 200 || statusOf(t, b) != "Success" {
		t.Errorf("poll after the delay: %d %s", code, b)
	}
}

// TestServerErrors: ServerErrorEvery N answers every Nth authenticated
// request 503 ServiceUnavailable before doing anything; challenges are not
// counted.
func TestServerErrors(t *testing.T) {
	e := newTestEmu(t, Config{StateDir: t.TempDir(), ServerErrorEvery: 3})
	certs, _ := custodians(t)
	body, _ := securitydomain.DownloadRequest(certs, 2)
	var codes []int
	for range 3 {
		w := do(e, "GET", "/mhsm/hsm1/securitydomain/download/pending?api-version=7.5", "")
		codes = append(codes, w.Code)
	}
	if codes[0] != 404 || codes[1] != 404 || codes[2] != 503 {
		t.Errorf("statuses %v; want [404 404 503]", codes)
	}
	// Requests without a token (the SDK's first, challenged one) are not
	// counted: the 6th authenticated request is a download, refused
	// before anything happens.
	for range 5 {
		r := httptest.NewRequest("POST", "/mhsm/hsm1/securitydomain/download?api-version=7.5", strings.NewReader(string(body)))
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		if w.Code != 401 {
			t.Fatalf("unauthenticated: %d", w.Code)
		}
	}
	do(e, "GET", "/mhsm/hsm1/securitydomain/download/pending?api-version=7.5", "")
	do(e, "GET", "/mhsm/hsm1/securitydomain/download/pending?api-version=7.5", "")
	w := do(e, "POST", "/mhsm/hsm1/securitydomain/download?api-version=7.5", string(body))
	code, msg := errorOf(t, w)
	if w.Code != 503 || code != "ServiceUnavailable" || w.Header().Get("Retry-After") != "" || !strings.Contains(msg, "temporarily unavailable") {
		t.Fatalf("injected failure: %d %s Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if w := do(e, "GET", "/mhsm/hsm1/securitydomain/download/pending?api-version=7.5", ""); w.Code != 404 {
		t.Errorf("the failed download started an operation: %d %s", w.Code, w.Body)
	}
	if w := do(e, "POST", "/mhsm/hsm1/securitydomain/download?api-version=7.5", string(body)); w.Code != 202 {
		t.Errorf("download retried: %d %s", w.Code, w.Body)
	}
}

package uploader

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrite/keyrite/internal/base/fakeclock"
)

// scripted is a stand-in HSM for the polling rules: it answers the
// challenge, then each status request with the next scripted answer (the
// last one repeats), and counts the POSTs.
type scripted struct {
	mu      sync.Mutex
	answers []answer
	polls   int
	posts   int
	paths   []string
	post    answer
}

type answer struct {
	status int
	header map[string]string
	body   string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/t", resource="https://managedhsm.azure.net"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths = append(s.paths, r.Method+" "+r.URL.Path)
	a := s.post
	if r.Method == http.MethodGet {
		a = s.answers[min(s.polls, len(s.answers)-1)]
		s.polls++
	} else {
		s.posts++
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	w.Write([]byte(a.body))
}

func inProgress(extra map[string]string) answer {
	return answer{200, extra, `{"status":"InProgress","status_details":"working"}`}
}

var (
	success   = answer{200, nil, `{"status":"Success","status_details":"done"}`}
	notFound  = answer{404, nil, `{"error":{"code":"NotFound","message":"no operation"}}`}
	throttled = answer{429, map[string]string{"Retry-After": "7"}, `{"error":{"code":"Throttled","message":"slow down"}}`}
	down      = answer{503, nil, `{"error":{"code":"ServiceUnavailable","message":"try later"}}`}
)

// newScripted starts s over HTTPS and returns a client on a fake clock
// with the given budget.
func newScripted(t *testing.T, s *scripted, budget time.Duration) (*Client, string, *fakeclock.Clock, *[]Progress) {
	t.Helper()
	srv := httptest.NewTLSServer(s)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	clk := fakeclock.New(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	var seen []Progress
	c, err := New(Config{CAFile: ca, Token: "t", Timeout: budget, Now: clk.Now, Sleep: clk.Sleep,
		Progress: func(p Progress) { seen = append(seen, p) }})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv.URL, clk, &seen
}

// TestPollBudget: an operation InProgress for longer than the budget is
// reported still in progress, never failed, after polls 5, 10, 20, then 30
// seconds apart, and the budget is honoured on the injected clock.
func TestPollBudget(t *testing.T) {
	s := &scripted{answers: []answer{inProgress(nil)}}
	c, url, clk, seen := newScripted(t, s, 30*time.Minute)
	st, err := c.SDStatus(ctx(t), url, "upload", true)
	if !errors.Is(err, ErrStillInProgress) || errors.Is(err, ErrOperationFailed) {
		t.Fatalf("err = %v, want ErrStillInProgress only", err)
	}
	if st == nil || st.Status != StatusInProgress || st.Details != "working" {
		t.Fatalf("last status %+v", st)
	}
	slept := clk.Slept()
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, d := range want {
		if slept[i] != d {
			t.Fatalf("sleep %d = %s, want %s (all: %v)", i, slept[i], d, slept)
		}
	}
	var total time.Duration
	for _, d := range slept {
		total += d
	}
	if total != 30*time.Minute {
		t.Errorf("watched %s, want the whole 30m budget, the last look at its end", total)
	}
	if n := len(*seen); n != s.polls || (*seen)[n-1].Next != 0 || (*seen)[0].Status != StatusInProgress {
		t.Errorf("progress: %d reports for %d polls, last %+v", n, s.polls, (*seen)[n-1])
	}
}

// TestPollRetryAfter: throttling (429 with Retry-After) and a Retry-After on
// an InProgress answer set the wait; the answers count against the budget,
// and success ends the polling.
func TestPollRetryAfter(t *testing.T) {
	s := &scripted{answers: []answer{inProgress(nil), throttled, throttled, inProgress(map[string]string{"Retry-After": "2"}), success}}
	c, url, clk, _ := newScripted(t, s, time.Hour)
	st, err := c.SDStatus(ctx(t), url, "download", true)
	if err != nil || st.Status != StatusSuccess {
		t.Fatalf("SDStatus: %+v, %v", st, err)
	}
	got := clk.Slept()
	want := []time.Duration{5 * time.Second, 7 * time.Second, 7 * time.Second, 2 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("slept %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("slept %v, want %v", got, want)
		}
	}
}

// TestPollServerErrors: 5xx answers to a status request are tried again;
// persistent ones end in "unknown", never "failed".
func TestPollServerErrors(t *testing.T) {
	s := &scripted{answers: []answer{inProgress(nil), down, down, success}}
	c, url, _, _ := newScripted(t, s, time.Hour)
	if st, err := c.SDStatus(ctx(t), url, "upload", true); err != nil || st.Status != StatusSuccess {
		t.Fatalf("SDStatus: %+v, %v", st, err)
	}
	s2 := &scripted{answers: []answer{inProgress(nil), down}}
	c2, url2, _, _ := newScripted(t, s2, 10*time.Minute)
	_, err := c2.SDStatus(ctx(t), url2, "upload", true)
	if !errors.Is(err, ErrStillInProgress) || errors.Is(err, ErrOperationFailed) {
		t.Fatalf("persistent 503 after InProgress: %v, want still in progress", err)
	}
	s3 := &scripted{answers: []answer{down}}
	c3, url3, _, _ := newScripted(t, s3, 10*time.Minute)
	if _, err := c3.SDStatus(ctx(t), url3, "upload", true); !errors.Is(err, ErrStatusUnknown) {
		t.Fatalf("503 only: %v, want ErrStatusUnknown", err)
	}
}

// TestPollFailed: a Failed status is a failure, with the service's details.
func TestPollFailed(t *testing.T) {
	s := &scripted{answers: []answer{inProgress(nil), {200, nil, `{"status":"Failed","status_details":"bad blob"}`}}}
	c, url, _, _ := newScripted(t, s, time.Hour)
	st, err := c.SDStatus(ctx(t), url, "upload", true)
	if !errors.Is(err, ErrOperationFailed) || st.Status != StatusFailed || !strings.Contains(err.Error(), "bad blob") {
		t.Fatalf("SDStatus: %+v, %v", st, err)
	}
}

func testCerts(t *testing.T) []*x509.Certificate {
	return []*x509.Certificate{readCert(t, "wrap_0.cer"), readCert(t, "wrap_1.cer"), readCert(t, "wrap_2.cer")}
}

// TestDownloadGuard: activation happens once. A download the HSM reports
// in progress or done is refused before anything is sent; no status (404)
// or a failed one lets it go.
func TestDownloadGuard(t *testing.T) {
	for name, a := range map[string]answer{"in progress": inProgress(nil), "success": success} {
		s := &scripted{answers: []answer{a}}
		c, url, _, _ := newScripted(t, s, time.Hour)
		_, err := c.DownloadSecurityDomain(ctx(t), url, testCerts(t), 2, nil)
		var ar *AlreadyRequestedError
		if !errors.As(err, &ar) || !errors.Is(err, ErrAlreadyRequested) || s.posts != 0 {
			t.Errorf("%s: err %v, %d POSTs; want ErrAlreadyRequested and none", name, err, s.posts)
		}
	}
	s := &scripted{answers: []answer{notFound}, post: answer{503, nil, `{"error":{"code":"ServiceUnavailable","message":"x"}}`}}
	c, url, _, _ := newScripted(t, s, time.Hour)
	_, err := c.DownloadSecurityDomain(ctx(t), url, testCerts(t), 2, nil)
	if err == nil || s.posts != 1 {
		t.Fatalf("after 404: err %v, %d POSTs; want the POST sent once and never retried", err, s.posts)
	}
}

// TestUploadGuard: an upload in progress is not overlaid by a second one;
// after a finished one a new upload is allowed.
func TestUploadGuard(t *testing.T) {
	blob, err := os.ReadFile(filepath.Join("testdata", "vector_restore_blob.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{answers: []answer{inProgress(nil)}}
	c, url, _, _ := newScripted(t, s, time.Hour)
	if _, err := c.UploadSecurityDomain(ctx(t), url, blob); !errors.Is(err, ErrAlreadyRequested) || s.posts != 0 {
		t.Fatalf("upload in progress: %v, %d POSTs", err, s.posts)
	}
	s = &scripted{answers: []answer{success}, post: answer{202, nil, `{"status":"InProgress"}`}}
	c, url, _, _ = newScripted(t, s, time.Hour)
	if st, err := c.UploadSecurityDomain(ctx(t), url, blob); err != nil || st.Status != StatusSuccess || s.posts != 1 {
		t.Fatalf("upload after a finished one: %+v, %v, %d POSTs", st, err, s.posts)
	}
}

// TestStatusURL: the Azure-AsyncOperation URL is polled only on the HSM's
// own host over https; a token is never sent elsewhere.
func TestStatusURL(t *testing.T) {
	hsm := "https://contoso.managedhsm.azure.net"
	def := hsm + "/securitydomain/download/pending"
	for ao, want := range map[string]string{
		"": def,
		"https://contoso.managedhsm.azure.net/securitydomain/download/pending?api-version=7.5": def,
		"https://contoso.managedhsm.azure.net/operations/42":                                   hsm + "/operations/42",
		"https://evil.example/securitydomain/download/pending":                                 def,
		"http://contoso.managedhsm.azure.net/x":                                                def,
		"https://user@contoso.managedhsm.azure.net/x":                                          def,
		"::not a url": def,
	} {
		h := http.Header{}
		if ao != "" {
			h.Set("Azure-AsyncOperation", ao)
		}
		if got := statusURL(hsm, "download", h); got != want {
			t.Errorf("Azure-AsyncOperation %q: polled %q, want %q", ao, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":      0,
		"12":    12 * time.Second,
		"0":     time.Second,
		"-5":    time.Second,
		"99999": maxRetryAfter,
		"soon":  0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q: %s, want %s", v, got, want)
		}
	}
}

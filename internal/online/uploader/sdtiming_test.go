package uploader

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/internal/online/emulator"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
)

// The service keeps security-domain operations InProgress for many minutes.
// These tests run the real client against the emulator doing the same on
// one injected clock, which the client's waits advance: minutes pass, no
// test waits for them.

func sdCerts(t *testing.T) []*x509.Certificate {
	return []*x509.Certificate{readCert(t, "wrap_0.cer"), readCert(t, "wrap_1.cer"), readCert(t, "wrap_2.cer")}
}

func countPosts(env *testEnv, path string) int {
	n := 0
	for _, r := range env.emu.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, path) && r.Authenticated {
			n++
		}
	}
	return n
}

// TestDownloadWaitsForActivation: an activation InProgress for 8 minutes
// (the recorded service took at least 7) completes within the default
// budget; a second run sends nothing (activation happens once).
func TestDownloadWaitsForActivation(t *testing.T) {
	env := newEnv(t, emulator.Config{SDDelay: 8 * time.Minute})
	hsm := env.url + "/mhsm/hsm1"
	start := env.clock.Now()
	d, err := env.client.DownloadSecurityDomain(ctx(t), hsm, sdCerts(t), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.Status != StatusSuccess || d.Status.Polls < 10 || env.clock.Now().Sub(start) < 8*time.Minute {
		t.Fatalf("status %+v after %s", d.Status, env.clock.Now().Sub(start))
	}
	if _, err := securitydomain.ParseSD(d.SD); err != nil {
		t.Fatal(err)
	}
	_, err = env.client.DownloadSecurityDomain(ctx(t), hsm, sdCerts(t), 2, nil)
	var ar *AlreadyRequestedError
	if !errors.As(err, &ar) || ar.Status.Status != StatusSuccess || countPosts(env, "/securitydomain/download") != 1 {
		t.Fatalf("second download: %v, %d POSTs", err, countPosts(env, "/securitydomain/download"))
	}
}

// TestDownloadBudgetRunsOut: past the budget the activation is still in
// progress, not failed; the SD was handed to the sink first; a second run
// is refused without a POST, and a later look (SDStatus with wait) sees it
// finish.
func TestDownloadBudgetRunsOut(t *testing.T) {
	env := newEnv(t, emulator.Config{SDDelay: 40 * time.Minute})
	env.client.cfg.Timeout = 30 * time.Minute
	hsm := env.url + "/mhsm/hsm1"
	var saved []byte
	d, err := env.client.DownloadSecurityDomain(ctx(t), hsm, sdCerts(t), 2, func(b []byte) error { saved = b; return nil })
	if !errors.Is(err, ErrStillInProgress) || errors.Is(err, ErrOperationFailed) {
		t.Fatalf("err = %v; want still in progress", err)
	}
	if d == nil || len(saved) == 0 || d.Status.Status != StatusInProgress || !strings.Contains(d.Status.Details, "being confirmed") {
		t.Fatalf("download %+v", d)
	}
	if _, err := env.client.DownloadSecurityDomain(ctx(t), hsm, sdCerts(t), 2, nil); !errors.Is(err, ErrAlreadyRequested) {
		t.Fatalf("second download during activation: %v", err)
	}
	st, err := env.client.SDStatus(ctx(t), hsm, "download", true)
	if err != nil || st.Status != StatusSuccess || countPosts(env, "/securitydomain/download") != 1 {
		t.Fatalf("resume: %+v, %v", st, err)
	}
}

// TestPollingThroughThrottlingAndServerErrors: a status endpoint that
// throttles polls (429 with Retry-After) and a service that answers every
// 4th request 503 still see the operation through; nothing is sent twice.
func TestPollingThroughThrottlingAndServerErrors(t *testing.T) {
	env := newEnv(t, emulator.Config{SDDelay: 5 * time.Minute, PendingInterval: 20 * time.Second, ServerErrorEvery: 4})
	hsm := env.url + "/mhsm/hsm1"
	var d *Download
	var err error
	// The POST itself may draw the 503: it is not retried, and since
	// nothing was started, a new run is allowed.
	for range 3 {
		if d, err = env.client.DownloadSecurityDomain(ctx(t), hsm, sdCerts(t), 2, nil); err == nil {
			break
		}
		var se *ServiceError
		if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable {
			t.Fatalf("download: %v", err)
		}
	}
	if err != nil || d.Status.Status != StatusSuccess {
		t.Fatalf("download: %+v, %v", d, err)
	}
	var throttled, failed int
	for _, r := range env.emu.Requests() {
		switch r.Status {
		case http.StatusTooManyRequests:
			throttled++
		case http.StatusServiceUnavailable:
			failed++
		}
	}
	if throttled == 0 || failed == 0 {
		t.Errorf("throttled %d, 503 %d: the faults were not exercised", throttled, failed)
	}
	for _, d := range env.clock.Slept() {
		if d < time.Second {
			t.Errorf("waited %s: Retry-After was not honoured", d)
		}
	}
}

// restoreCeremony downloads and activates hsm, restores the SD into a blob
// for its exchange key, records the restore in a signed ceremony in dir
// and returns the trust file.
func restoreCeremony(t *testing.T, env *testEnv, hsm, dir string) *transcripts.Trust {
	t.Helper()
	d, err := env.client.DownloadSecurityDomain(ctx(t), hsm, sdCerts(t), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	exCert, _, _, err := env.client.ExchangeKey(ctx(t), hsm)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := securitydomain.ParseSD(d.SD)
	if err != nil {
		t.Fatal(err)
	}
	var cs []securitydomain.Custodian
	for _, n := range []string{"wrap_1", "wrap_2"} {
		cs = append(cs, securitydomain.Custodian{Name: n, Cert: readCert(t, n+".cer"), Key: securitydomain.SoftwareKey(readKey(t, n+".pem").(*rsa.PrivateKey))})
	}
	res, err := securitydomain.Restore(sd, exCert, cs, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ev := transcripts.Event{Step: "sd.restore", Action: "restored the security domain",
		Outputs: []transcripts.Artifact{transcripts.NewArtifact("restore-blob.json", transcripts.KindRestoreBlob, res.Blob.Marshal())}, Result: "ok"}
	if err := transcripts.RecordStep(dir, ev); err != nil {
		t.Fatal(err)
	}
	return sign(t, dir)
}

// TestUploadCeremonyStillInProgress: a restore that outlasts the budget is
// recorded "in progress", never "failed"; a second run refuses to send the
// blob again; --resume watches it finish and records that.
func TestUploadCeremonyStillInProgress(t *testing.T) {
	env := newEnv(t, emulator.Config{SDDelay: 45 * time.Minute})
	env.client.cfg.Timeout = 50 * time.Minute
	hsm := env.url + "/mhsm/hsm1"
	dir := t.TempDir()
	trust := restoreCeremony(t, env, hsm, dir)

	env.client.cfg.Timeout = 20 * time.Minute
	st, err := env.client.UploadCeremony(ctx(t), dir, hsm, trust, false)
	if !errors.Is(err, ErrStillInProgress) || st == nil || st.Status != StatusInProgress {
		t.Fatalf("upload: %+v, %v", st, err)
	}
	last := lastEvent(t, dir, trust)
	if last.Step != StepSDUpload || !strings.HasPrefix(last.Result, "in progress: ") {
		t.Fatalf("recorded %s %q; want an upload in progress", last.Step, last.Result)
	}

	// Running the upload again sends nothing while the restore goes on.
	if _, err := env.client.UploadCeremony(ctx(t), dir, hsm, trust, false); !errors.Is(err, ErrAlreadyRequested) {
		t.Fatalf("second upload: %v", err)
	}
	if n := countPosts(env, "/securitydomain/upload"); n != 1 {
		t.Fatalf("%d upload POSTs", n)
	}

	env.client.cfg.Timeout = 30 * time.Minute
	st, err = env.client.UploadCeremony(ctx(t), dir, hsm, trust, true)
	if err != nil || st.Status != StatusSuccess {
		t.Fatalf("resume: %+v, %v", st, err)
	}
	last = lastEvent(t, dir, trust)
	if last.Step != StepSDStatus || last.Result != "ok" {
		t.Fatalf("recorded %s %q; want the finished restore", last.Step, last.Result)
	}
	if n := countPosts(env, "/securitydomain/upload"); n != 1 {
		t.Fatalf("resume sent %d upload POSTs in all", n)
	}
}

func lastEvent(t *testing.T, dir string, trust *transcripts.Trust) transcripts.Entry {
	t.Helper()
	rep, err := transcripts.Verify(dir, trust)
	if err != nil {
		t.Fatal(err)
	}
	return rep.Events[len(rep.Events)-1]
}

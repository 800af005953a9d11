package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/internal/base/fakeclock"
	"github.com/keyrite/keyrite/internal/online/emulator"
	"github.com/keyrite/keyrite/internal/online/uploader"
)

// startSlowEmulator serves an emulator whose security-domain operations
// stay InProgress for delay, on a fake clock that the uploader's waits
// advance (through configHook), so minutes pass in no time.
func startSlowEmulator(t *testing.T, delay time.Duration) (url, ca string, clk *fakeclock.Clock) {
	t.Helper()
	clk = fakeclock.New(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	emu, err := emulator.New(emulator.Config{StateDir: t.TempDir(), Now: clk.Now, SDDelay: delay})
	if err != nil {
		t.Fatal(err)
	}
	url, err = emu.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	configHook = func(c *uploader.Config) { c.Now, c.Sleep = clk.Now, clk.Sleep }
	t.Cleanup(func() { configHook = nil })
	return url, emu.CAFile(), clk
}

// TestSDDownloadStillInProgress: an activation that outlasts --timeout is
// reported pending (exit 3, never "error" or "failed") with the SD saved;
// a second run is refused before anything is sent; --resume watches it
// finish; sd status reports both operations.
func TestSDDownloadStillInProgress(t *testing.T) {
	url, ca, _ := startSlowEmulator(t, 40*time.Minute)
	t.Setenv("KR_TOKEN", "test-token")
	common := []string{"--ca", ca, "--token-env", "KR_TOKEN"}
	dir := t.TempDir()
	out := filepath.Join(dir, "sd.json")
	hsm := url + "/mhsm/hsm1"
	certs := []string{"--cert", filepath.Join(testdata, "wrap_0.cer"), "--cert", filepath.Join(testdata, "wrap_1.cer"), "--cert", filepath.Join(testdata, "wrap_2.cer")}

	r := runCLI(t, append(append([]string{"sd", "download", "--hsm", hsm, "--quorum", "2", "--out", out, "--timeout", "30m"}, certs...), common...)...)
	r.want(t, 3, "keyrite-uploader: pending: sd download: the security domain was saved to "+out,
		"still \"InProgress\" after 30m",
		"keyrite-uploader: hint: the operation goes on at the HSM; it has not failed",
		"sd download --resume --hsm "+hsm+" --out "+out)
	if strings.Contains(r.stderr, "error:") || strings.Contains(r.stderr, "failed:") {
		t.Errorf("an operation in progress reported as an error:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "keyrite-uploader: download InProgress: The Security Domain is being confirmed., 0s elapsed, next look in 5s") {
		t.Errorf("no progress line:\n%s", r.stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("the SD was not saved: %v", err)
	}

	// Again, to another file: refused, nothing sent.
	r = runCLI(t, append(append([]string{"sd", "download", "--hsm", hsm, "--quorum", "2", "--out", filepath.Join(dir, "again.json")}, certs...), common...)...)
	r.want(t, 1, "the HSM reports a security-domain download (activation) with status \"InProgress\"", "nothing was sent", "activation happens once")
	// Again, to the same file: refused before anything is sent.
	r = runCLI(t, append(append([]string{"sd", "download", "--hsm", hsm, "--quorum", "2", "--out", out}, certs...), common...)...)
	r.want(t, 1, "already exists", "--resume")

	r = runCLI(t, append([]string{"sd", "status", "--hsm", hsm, "--json"}, common...)...)
	r.want(t, 0)
	var st map[string]map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st["download"]["outcome"] != "in_progress" || st["upload"]["outcome"] != "none" {
		t.Fatalf("sd status: %s (%v)", r.stdout, err)
	}

	r = runCLI(t, append([]string{"sd", "download", "--resume", "--hsm", hsm, "--out", out}, common...)...)
	r.want(t, 0, "keyrite-uploader: words: ")
	if !strings.Contains(r.stdout, "activation finished; security domain "+out+" (3 custodians, quorum 2); HSM status: Success") {
		t.Errorf("resume: %q", r.stdout)
	}
	r = runCLI(t, append([]string{"sd", "status", "--hsm", hsm}, common...)...)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "download (activation): Success: The resource is active.\nupload (restore): none requested\n") {
		t.Errorf("sd status: %q", r.stdout)
	}
}

func TestSDTimeoutUsage(t *testing.T) {
	for _, arg := range []string{"-5m", "soon"} {
		r := runCLI(t, "sd", "status", "--hsm", "https://x.managedhsm.azure.net", "--timeout", arg)
		r.want(t, 2)
	}
	r := runCLI(t, "sd", "status", "--hsm", "https://x.managedhsm.azure.net", "--operation", "restore")
	r.want(t, 2, "--operation \"restore\": expected download or upload")
	r = runCLI(t, "sd", "download", "--resume", "--hsm", "https://x.managedhsm.azure.net", "--out", filepath.Join(t.TempDir(), "none.json"))
	r.want(t, 1, "with --resume, --out names the security domain an earlier run saved")
}

// TestSDUploadStillInProgress: a restore that outlasts --timeout is
// pending (exit 3); running the upload again sends nothing; --resume
// watches it finish.
func TestSDUploadStillInProgress(t *testing.T) {
	url, ca, _ := startSlowEmulator(t, 40*time.Minute)
	t.Setenv("KR_TOKEN", "test-token")
	common := []string{"--ca", ca, "--token-env", "KR_TOKEN"}
	dir := t.TempDir()
	in := func(n string) string { return filepath.Join(dir, n) }
	hsm := url + "/mhsm/hsm1"
	r := runCLI(t, append([]string{"sd", "download", "--hsm", hsm, "--quorum", "2", "--out", in("sd.json"), "--timeout", "1h",
		"--cert", filepath.Join(testdata, "wrap_0.cer"), "--cert", filepath.Join(testdata, "wrap_1.cer"), "--cert", filepath.Join(testdata, "wrap_2.cer")}, common...)...)
	r.want(t, 0)
	r = runCLI(t, append([]string{"sd", "exchange-key", "--hsm", hsm, "--out", in("exchange.pem")}, common...)...)
	r.want(t, 0)
	writeRestoreBlob(t, in("sd.json"), in("exchange.pem"), in("blob.json"))

	r = runCLI(t, append([]string{"sd", "upload", "--hsm", hsm, "--blob", in("blob.json"), "--timeout", "10m", "--json"}, common...)...)
	r.want(t, 3, "keyrite-uploader: pending: sd upload: ", "sd upload --resume --hsm "+hsm+" --blob "+in("blob.json"))
	var pending map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &pending); err != nil || pending["outcome"] != "in_progress" || pending["status"] != "InProgress" {
		t.Fatalf("--json while pending: %q", r.stdout)
	}
	r = runCLI(t, append([]string{"sd", "upload", "--hsm", hsm, "--blob", in("blob.json")}, common...)...)
	r.want(t, 1, "the HSM reports a security-domain upload (restore) with status \"InProgress\"", "nothing was sent")
	r = runCLI(t, append([]string{"sd", "upload", "--resume", "--hsm", hsm, "--blob", in("blob.json"), "--json"}, common...)...)
	r.want(t, 0)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got["outcome"] != "done" || got["status"] != "Success" {
		t.Fatalf("resume: %s", r.stdout)
	}
}

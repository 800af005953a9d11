package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrite/keyrite/internal/base/cli/clitest"
	"github.com/keyrite/keyrite/securitydomain"
)

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// emu is a running keyrite-emulator (run in-process).
type emu struct {
	url    string
	state  string
	client *http.Client
	stderr *syncBuffer
}

// start runs the emulator with args plus --listen and --state, waits for
// its first line, and stops it when the test ends.
func start(t *testing.T, args ...string) *emu {
	t.Helper()
	state := filepath.Join(t.TempDir(), "state")
	pr, pw := io.Pipe()
	stderr := &syncBuffer{}
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		done <- run(append([]string{"--listen", "127.0.0.1:0", "--state", state}, args...), pw, stderr, stop)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	if !regexp.MustCompile(`^listening on https://127\.0\.0\.1:[0-9]+\n$`).MatchString(line) {
		t.Fatalf("first line %q", line)
	}
	caPEM, err := os.ReadFile(filepath.Join(state, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	e := &emu{
		url:    strings.TrimSpace(strings.TrimPrefix(line, "listening on ")),
		state:  state,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second},
		stderr: stderr,
	}
	t.Cleanup(func() {
		e.client.CloseIdleConnections()
		close(stop)
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	return e
}

// call sends one request (with a bearer token if token) and returns the
// status and body.
func (e *emu) call(t *testing.T, method, path, body string, token bool) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.url+path+"?api-version=7.5", rd)
	if token {
		req.Header.Set("Authorization", "Bearer t")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestListensAndChallenges(t *testing.T) {
	e := start(t)
	resp, err := e.client.Get(e.url + "/kv/demo/keys/kek?api-version=7.5")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `resource="https://vault.azure.net"`) {
		t.Errorf("unauthenticated request: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// By default a security-domain operation stays InProgress a few
	// seconds, so that a rehearsal polls.
	if !strings.Contains(e.stderr.String(), "stay InProgress for 3s (--sd-delay") {
		t.Errorf("stderr does not state the default --sd-delay:\n%s", e.stderr)
	}
}

// TestSDDelayAndFailures: --sd-delay keeps a download InProgress;
// --fail-5xx 2 answers every second authenticated request 503.
func TestSDDelayAndFailures(t *testing.T) {
	e := start(t, "--sd-delay", "1h", "--fail-5xx", "2")
	var certs []*x509.Certificate
	for i := range 3 {
		data, err := os.ReadFile(filepath.Join("..", "..", "testvectors", "sd", "n3_q2_rsa2048", "wrap_"+string(rune('0'+i))+".cer"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := securitydomain.ParseCertificate(data)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	body, _ := securitydomain.DownloadRequest(certs, 2)
	if code, _ := e.call(t, "POST", "/mhsm/hsm1/securitydomain/download", string(body), false); code != 401 {
		t.Errorf("without a token: %d", code)
	}
	if code, b := e.call(t, "POST", "/mhsm/hsm1/securitydomain/download", string(body), true); code != 202 {
		t.Fatalf("download: %d %.200s", code, b)
	}
	if code, b := e.call(t, "GET", "/mhsm/hsm1/securitydomain/download/pending", "", true); code != 503 || !strings.Contains(b, `"code":"ServiceUnavailable"`) {
		t.Errorf("2nd authenticated request: %d %s; want 503 ServiceUnavailable", code, b)
	}
	if code, b := e.call(t, "GET", "/mhsm/hsm1/securitydomain/download/pending", "", true); code != 200 || !strings.Contains(b, `"status":"InProgress"`) {
		t.Errorf("pending: %d %s; want InProgress", code, b)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "127.0.0.1:0"}, "--state is required"},
		{[]string{"--state", t.TempDir(), "--listen", "nonsense"}, `--listen "nonsense" is not host:port`},
		{[]string{"--state", t.TempDir(), "extra"}, "unexpected argument"},
		{[]string{"--state", t.TempDir(), "--sd-delay", "-1s"}, "--sd-delay -1s is negative"},
		{[]string{"--state", t.TempDir(), "--sd-delay", "8"}, "invalid value"},
		{[]string{"--state", t.TempDir(), "--throttle-pending", "-5s"}, "--throttle-pending -5s is negative"},
		{[]string{"--state", t.TempDir(), "--fail-5xx", "1"}, "--fail-5xx 1: expected 0 (never) or N of 2 or more"},
		{[]string{"--state", t.TempDir(), "--fail-5xx", "-3"}, "--fail-5xx -3: expected"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb, nil); code != 2 || !strings.Contains(errb.String(), "keyrite-emulator: error: "+tc.want) {
			t.Errorf("%q: exit %d, stderr %q", tc.args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb, nil); code != 0 || !strings.Contains(out.String(), "\n  --sd-delay DURATION\n") || !strings.Contains(out.String(), "\n  --fail-5xx N\n") {
		t.Errorf("-h: exit %d: %s", code, out.String())
	}
}

// TestCommandTable walks the whole command table: every command's -h is
// generated from its flags (exit 0, a usage line with its name and required
// flags, every flag named) and an unknown flag is echoed as typed, with a
// hint, also when serve is left implicit.
func TestCommandTable(t *testing.T) {
	var names []string
	for _, c := range commands {
		names = append(names, c.Name)
	}
	call := func(args []string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb, nil)
		return code, out.String(), errb.String()
	}
	clitest.CheckCommands(t, prog, names, call)
	if code, _, stderr := call([]string{"--no-such-flag"}); code != 2 || !strings.Contains(stderr, "keyrite-emulator: error: unknown flag --no-such-flag\nkeyrite-emulator: hint: ") {
		t.Errorf("--no-such-flag (serve implied): exit %d: %s", code, stderr)
	}
	if code, stdout, _ := call([]string{"serve", "-h"}); code != 0 || !strings.HasPrefix(stdout, "usage: keyrite-emulator serve --state DIR [flags]\n") {
		t.Errorf("serve -h: exit %d: %s", code, stdout)
	}
}

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
	"testing"
	"time"
)

func TestListensAndChallenges(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		done <- run([]string{"--listen", "127.0.0.1:0", "--state", state}, pw, &stderr, stop)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^listening on https://127\.0\.0\.1:[0-9]+\n$`).MatchString(line) {
		t.Fatalf("first line %q", line)
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	caPEM, err := os.ReadFile(filepath.Join(state, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := client.Get(url + "/kv/demo/keys/kek?api-version=7.5")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `resource="https://vault.azure.net"`) {
		t.Errorf("unauthenticated request: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	close(stop)
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, stderr.String())
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
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb, nil); code != 2 || !strings.Contains(errb.String(), "keyrite-emulator: error: "+tc.want) {
			t.Errorf("%q: exit %d, stderr %q", tc.args, code, errb.String())
		}
	}
}

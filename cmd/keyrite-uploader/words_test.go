package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/internal/online/uploader"
	"github.com/keyrite/keyrite/securitydomain"
)

// TestWordsMatchOffline: the words keyrite-uploader prints for the
// exchange key and for a KEK are the words the offline side computes for
// the same key, so that the witness can compare them aloud. The exchange
// key's are the SHA-256 of the certificate's DER, whichever form the
// offline side is given (the PEM sd exchange-key writes, or the service's
// transfer-key JSON), and they spell the x5t#S256 thumbprint; a KEK's are
// byok.KEK.Fingerprint, the SHA-256 of its SPKI DER, as `keyrite kek
// inspect` shows them.
func TestWordsMatchOffline(t *testing.T) {
	url, ca := startEmulator(t)
	t.Setenv("KR_TOKEN", "test-token")
	hsm := url + "/mhsm/hsm1"
	common := []string{"--ca", ca, "--token-env", "KR_TOKEN"}
	dir := t.TempDir()

	exFile := filepath.Join(dir, "exchange.pem")
	r := runCLI(t, append([]string{"sd", "exchange-key", "--hsm", hsm, "--out", exFile, "--json"}, common...)...)
	r.want(t, 0)
	var ex struct {
		X5T256 string `json:"x5t_256"`
		SHA256 string `json:"sha256"`
		Words  string `json:"words"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ex); err != nil || ex.Words == "" {
		t.Fatalf("sd exchange-key --json: %q: %v", r.stdout, err)
	}
	// Offline: the file as `keyrite sd restore --exchange-key` and the
	// guided restore read it (securitydomain.ParseExchangeKey), and the
	// transfer-key JSON the service answered.
	pemData, err := os.ReadFile(exFile)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := uploader.New(uploader.Config{CAFile: ca, Token: "test-token"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, transferKey, err := cl.ExchangeKey(context.Background(), hsm)
	if err != nil {
		t.Fatal(err)
	}
	for what, data := range map[string][]byte{"the PEM file": pemData, "the transfer-key JSON": transferKey} {
		cert, err := securitydomain.ParseExchangeKey(data)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		fp := words.Sum(cert.Raw)
		if fp.Words() != ex.Words || fp.Hex() != ex.SHA256 || securitydomain.X5T256(cert) != ex.X5T256 {
			t.Errorf("%s offline: %s / %s; the uploader printed %s / %s", what, fp.Hex(), fp.Words(), ex.SHA256, ex.Words)
		}
	}
	x5t, err := base64.RawURLEncoding.DecodeString(ex.X5T256)
	if err != nil || words.Of(x5t) != ex.Words {
		t.Errorf("the words do not spell x5t#S256 %s: %v", ex.X5T256, err)
	}
	r = runCLI(t, append([]string{"sd", "exchange-key", "--hsm", hsm, "--out", filepath.Join(dir, "again.pem")}, common...)...)
	r.want(t, 0, "keyrite-uploader: words: "+ex.Words+"\n", "keyrite-uploader: certificate SHA-256 "+ex.SHA256+"\n")

	kekFile := filepath.Join(dir, "kek.pem")
	r = runCLI(t, append([]string{"kek", "create", "--vault", url + "/kv/demo", "--name", "kek", "--out", kekFile, "--json"}, common...)...)
	r.want(t, 0)
	var kek struct{ Kid, Words string }
	if err := json.Unmarshal([]byte(r.stdout), &kek); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(kekFile)
	if err != nil {
		t.Fatal(err)
	}
	off, err := byok.ParseKEK(data, kek.Kid)
	if err != nil {
		t.Fatal(err)
	}
	if w := off.Fingerprint().Words(); w != kek.Words {
		t.Errorf("KEK words offline %q, uploader %q", w, kek.Words)
	}
}

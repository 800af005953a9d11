package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/online/emulator"
	"github.com/keyrite/keyrite/securitydomain"
)

const testdata = "../../internal/online/uploader/testdata"

// startEmulator serves an emulator on loopback for the test.
func startEmulator(t *testing.T) (url, ca string) {
	t.Helper()
	emu, err := emulator.New(emulator.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	url, err = emu.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return url, emu.CAFile()
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func (r result) want(t *testing.T, code int, stderrHas ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stderrHas {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr %q does not contain %q", r.stderr, s)
		}
	}
}

func TestKEKCreateAndBlobUpload(t *testing.T) {
	url, ca := startEmulator(t)
	t.Setenv("KR_TOKEN", "test-token")
	dir := t.TempDir()
	kekFile := filepath.Join(dir, "kek.pem")
	common := []string{"--ca", ca, "--token-env", "KR_TOKEN"}

	r := runCLI(t, append([]string{"kek", "create", "--vault", url + "/kv/demo", "--name", "kek", "--out", kekFile, "--json"}, common...)...)
	r.want(t, 0)
	var v struct{ Kid string }
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || !strings.HasPrefix(v.Kid, "https://demo.vault.azure.net/keys/kek/") {
		t.Fatalf("json %q: %v", r.stdout, err)
	}
	data, err := os.ReadFile(kekFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := byok.ParseKEK(data, v.Kid); err != nil {
		t.Fatalf("the KEK file does not parse offline: %v", err)
	}

	// The output is never overwritten, and nothing is created when it exists.
	runCLI(t, append([]string{"kek", "create", "--vault", url + "/kv/demo", "--name", "kek2", "--out", kekFile}, common...)...).
		want(t, 1, "keyrite-uploader: error: kek create: --out "+kekFile+" already exists", "keyrite-uploader: hint:")

	// Usage errors exit 2.
	runCLI(t, "kek", "create", "--vault", url, "--name", "k").want(t, 2, "--out is required")
	runCLI(t, "kek", "create", "--vault", url, "--name", "k", "--out", "x", "--size", "1024").want(t, 2, "--size 1024")
	runCLI(t, "frobnicate").want(t, 2, "unknown command")
	runCLI(t).want(t, 2, "usage:")

	// Without --ca a non-Azure URL is refused before anything is sent.
	runCLI(t, "kek", "create", "--vault", url, "--name", "k", "--out", filepath.Join(dir, "k.pem"), "--token-env", "KR_TOKEN").
		want(t, 1, "is not an Azure Key Vault or Managed HSM host")
	// An empty token variable is an error, not an anonymous call.
	runCLI(t, "kek", "create", "--vault", url, "--name", "k", "--out", filepath.Join(dir, "k.pem"), "--ca", ca, "--token-env", "KR_EMPTY").
		want(t, 1, "keyrite-uploader: error: kek create: --token-env KR_EMPTY: the environment variable is empty or unset")
	// A token pasted in place of the variable's name is not echoed.
	jwt := "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ2YXVsdCJ9.c2ln"
	r = runCLI(t, "kek", "create", "--vault", url, "--name", "k", "--out", filepath.Join(dir, "k.pem"), "--ca", ca, "--token-env", jwt)
	r.want(t, 1, "--token-env: not an environment variable name")
	if strings.Contains(r.stderr, "eyJ0eX") {
		t.Errorf("the token was echoed: %s", r.stderr)
	}
	// --ca without --token-env: the default Azure credential chain never
	// serves a stand-in (its host and challenge are not checked).
	runCLI(t, "kek", "create", "--vault", url, "--name", "k", "--out", filepath.Join(dir, "k.pem"), "--ca", ca).
		want(t, 1, "never your Azure credentials", "keyrite-uploader: hint: give --token-env")
}

func TestSDCommands(t *testing.T) {
	url, ca := startEmulator(t)
	t.Setenv("KR_TOKEN", "test-token")
	dir := t.TempDir()
	hsm := url + "/mhsm/hsm1"
	common := []string{"--ca", ca, "--token-env", "KR_TOKEN"}
	sdFile := filepath.Join(dir, "sd.json")
	certs := []string{"--cert", filepath.Join(testdata, "wrap_0.cer"), "--cert", filepath.Join(testdata, "wrap_1.cer"), "--cert", filepath.Join(testdata, "wrap_2.cer")}

	runCLI(t, append(append([]string{"sd", "download", "--hsm", hsm, "--quorum", "4", "--out", sdFile}, certs...), common...)...).
		want(t, 2, "--quorum 4")
	runCLI(t, append(append([]string{"sd", "download", "--hsm", hsm, "--quorum", "2", "--out", sdFile}, certs[:4]...), common...)...).
		want(t, 2, "2 --cert given")
	// Inputs are read through a limit: a device that never ends is refused.
	runCLI(t, append(append([]string{"sd", "download", "--hsm", hsm, "--quorum", "2", "--out", sdFile, "--cert", "/dev/zero"}, certs[2:]...), common...)...).
		want(t, 1, "--cert /dev/zero is larger than 1024 KiB")
	runCLI(t, append([]string{"sd", "upload", "--hsm", hsm, "--blob", "/dev/zero"}, common...)...).
		want(t, 1, "--blob /dev/zero is larger than 16384 KiB")

	r := runCLI(t, append(append([]string{"sd", "download", "--hsm", hsm, "--quorum", "2", "--out", sdFile}, certs...), common...)...)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "HSM status: Success") {
		t.Errorf("stdout %q", r.stdout)
	}
	sdText, err := os.ReadFile(sdFile)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := securitydomain.ParseSD(sdText)
	if err != nil {
		t.Fatal(err)
	}

	exFile := filepath.Join(dir, "exchange.pem")
	runCLI(t, append([]string{"sd", "exchange-key", "--hsm", hsm, "--out", exFile}, common...)...).want(t, 0)
	exPEM, err := os.ReadFile(exFile)
	if err != nil {
		t.Fatal(err)
	}
	// As init-recovery writes it: 65-character lines, no final newline.
	lines := strings.Split(string(exPEM), "\n")
	if len(lines) < 3 || len(lines[1]) != 65 || strings.HasSuffix(string(exPEM), "\n") {
		t.Errorf("exchange PEM layout: %q", exPEM)
	}
	exCert, err := securitydomain.ParseExchangeKey(exPEM)
	if err != nil {
		t.Fatal(err)
	}

	custodians := testCustodians(t, "wrap_0", "wrap_1")
	res, err := securitydomain.Restore(sd, exCert, custodians, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blobFile := filepath.Join(dir, "blob.json")
	if err := os.WriteFile(blobFile, res.Blob.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	runCLI(t, append([]string{"sd", "upload", "--hsm", hsm}, common...)...).want(t, 2, "exactly one of --ceremony and --blob")
	r = runCLI(t, append([]string{"sd", "upload", "--hsm", hsm, "--blob", blobFile, "--json"}, common...)...)
	r.want(t, 0)
	if !strings.Contains(r.stdout, `"status": "Success"`) {
		t.Errorf("stdout %q", r.stdout)
	}

	// A blob for another exchange key: the service's refusal, exit 1.
	other, err := os.ReadFile(filepath.Join(testdata, "other_exchange_cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	otherCert, err := securitydomain.ParseCertificate(other)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := securitydomain.Restore(sd, otherCert, custodians, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, res2.Blob.Marshal(), 0o644)
	runCLI(t, append([]string{"sd", "upload", "--hsm", hsm, "--blob", bad}, common...)...).
		want(t, 1, "keyrite-uploader: error: sd upload: uploader: security-domain upload: the service answered 400 BadParameter (InvalidRestoreBlob): The restore blob is wrapped to certificate "+res2.Blob.X5T256+", not to this HSM's exchange certificate "+securitydomain.X5T256(exCert)+"\n")
}

// testCustodians loads the test wrapping keys and their certificates.
func testCustodians(t *testing.T, names ...string) []securitydomain.Custodian {
	t.Helper()
	var custodians []securitydomain.Custodian
	for _, n := range names {
		keyPEM, err := os.ReadFile(filepath.Join(testdata, n+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(keyPEM)
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certPEM, _ := os.ReadFile(filepath.Join(testdata, n+".cer"))
		cert, err := securitydomain.ParseCertificate(certPEM)
		if err != nil {
			t.Fatal(err)
		}
		custodians = append(custodians, securitydomain.Custodian{Name: n, Cert: cert, Key: securitydomain.SoftwareKey(k.(*rsa.PrivateKey))})
	}
	return custodians
}

// writeRestoreBlob restores the SD in sdFile for the exchange certificate
// in exFile with two test custodians, into out.
func writeRestoreBlob(t *testing.T, sdFile, exFile, out string) {
	t.Helper()
	data, _ := os.ReadFile(sdFile)
	sd, err := securitydomain.ParseSD(data)
	if err != nil {
		t.Fatal(err)
	}
	exPEM, _ := os.ReadFile(exFile)
	exCert, err := securitydomain.ParseExchangeKey(exPEM)
	if err != nil {
		t.Fatal(err)
	}
	res, err := securitydomain.Restore(sd, exCert, testCustodians(t, "wrap_0", "wrap_2"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, res.Blob.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
}

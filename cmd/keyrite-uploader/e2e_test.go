package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEndToEnd runs the offline binary (built from ../keyrite) and this
// uploader against the emulator: KEK create, byok export into a ceremony,
// transcript sign, import from the ceremony, transcript verify; then
// security-domain download, offline restore, upload.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the offline binary")
	}
	dir := t.TempDir()
	keyrite := filepath.Join(dir, "keyrite")
	if out, err := exec.Command("go", "build", "-o", keyrite, "../keyrite").CombinedOutput(); err != nil {
		t.Fatalf("building keyrite: %v\n%s", err, out)
	}
	offline := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(keyrite, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("keyrite %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	url, ca := startEmulator(t)
	t.Setenv("KR_TOKEN", "test-token")
	common := []string{"--ca", ca, "--token-env", "KR_TOKEN"}
	in := func(name string) string { return filepath.Join(dir, name) }

	// BYOK.
	vault := url + "/kv/demo"
	r := runCLI(t, append([]string{"kek", "create", "--vault", vault, "--name", "kek", "--out", in("kek.pem"), "--json"}, common...)...)
	r.want(t, 0)
	var kek struct{ Kid string }
	json.Unmarshal([]byte(r.stdout), &kek)
	copyFile(t, filepath.Join(testdata, "target_rsa2048.pem"), in("app.pem"))
	offline("byok", "export", "--key", in("app.pem"), "--kek", in("kek.pem"), "--kid", kek.Kid, "--out", in("app.byok"), "--name", "app-key", "--ceremony", in("cer"))
	_, signer, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(signer)
	os.WriteFile(in("signer.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	offline("transcript", "sign", in("cer"), "--key", in("signer.pem"))

	r = runCLI(t, append([]string{"import", "--ceremony", in("cer"), "--vault", vault, "--json", "--trust-on-first-use"}, common...)...)
	r.want(t, 0)
	var imp struct {
		Kid            string
		PublicKeyMatch *bool `json:"public_key_match"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &imp); err != nil || !strings.HasPrefix(imp.Kid, "https://demo.vault.azure.net/keys/app-key/") || imp.PublicKeyMatch == nil {
		t.Fatalf("import --json %q: %v", r.stdout, err)
	}
	if !*imp.PublicKeyMatch {
		t.Errorf("public_key_match false: the export records the target's public key, the service holds it")
	}
	offline("transcript", "verify", in("cer"))

	// AES into a Managed HSM: the export records the key check value, the
	// uploader has the service compute it and compares.
	mhsm := url + "/mhsm/aes1"
	r = runCLI(t, append([]string{"kek", "create", "--vault", mhsm, "--name", "kek", "--out", in("mkek.pem"), "--json"}, common...)...)
	r.want(t, 0)
	var mkek struct{ Kid string }
	json.Unmarshal([]byte(r.stdout), &mkek)
	aesKey := make([]byte, 32)
	rand.Read(aesKey)
	os.WriteFile(in("app-aes.bin"), aesKey, 0o600)
	var exp struct{ KCV string }
	if err := json.Unmarshal([]byte(offline("byok", "export", "--key", in("app-aes.bin"), "--kek", in("mkek.pem"), "--kid", mkek.Kid,
		"--out", in("app-aes.byok"), "--ceremony", in("aescer"), "--json")), &exp); err != nil || exp.KCV != kcvOf(t, aesKey) {
		t.Fatalf("export --json kcv %q (%v); crypto/aes gives %s", exp.KCV, err, kcvOf(t, aesKey))
	}
	offline("transcript", "sign", in("aescer"), "--key", in("signer.pem"))
	r = runCLI(t, append([]string{"import", "--ceremony", in("aescer"), "--vault", mhsm, "--json", "--trust-on-first-use"}, common...)...)
	r.want(t, 0)
	var aesImp struct {
		KCVMatch *bool `json:"kcv_match"`
		Imports  []struct {
			KCVMatch  *bool  `json:"kcv_match"`
			KCVReason string `json:"kcv_reason"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &aesImp); err != nil || aesImp.KCVMatch == nil || !*aesImp.KCVMatch ||
		len(aesImp.Imports) != 1 || aesImp.Imports[0].KCVMatch == nil || !*aesImp.Imports[0].KCVMatch {
		t.Fatalf("AES import --json %q: %v", r.stdout, err)
	}
	if out := offline("transcript", "show", in("aescer")); !strings.Contains(out, "kcv_match = true") {
		t.Errorf("the transcript does not record kcv_match true:\n%s", out)
	}

	// Security domain.
	hsm := url + "/mhsm/hsm1"
	var certs []string
	for i := range 3 {
		n := "wrap_" + string(rune('0'+i))
		copyFile(t, filepath.Join(testdata, n+".pem"), in(n+".pem"))
		copyFile(t, filepath.Join(testdata, n+".cer"), in(n+".cer"))
		certs = append(certs, "--cert", in(n+".cer"))
	}
	runCLI(t, append(append([]string{"sd", "download", "--hsm", hsm, "--quorum", "2", "--out", in("sd.json")}, certs...), common...)...).want(t, 0)
	runCLI(t, append([]string{"sd", "exchange-key", "--hsm", hsm, "--out", in("exchange.pem")}, common...)...).want(t, 0)
	offline("sd", "restore", "--sd", in("sd.json"), "--exchange-key", in("exchange.pem"),
		"--wrapping-key", in("wrap_2.pem"), "--wrapping-key", in("wrap_0.pem"), "--out", in("blob.json"), "--ceremony", in("sdcer"))
	offline("transcript", "sign", in("sdcer"), "--key", in("signer.pem"))
	// Without a trust file the signers' identities cannot be checked:
	// refused, unless trust on first use is asked for (and recorded).
	runCLI(t, append([]string{"sd", "upload", "--hsm", hsm, "--ceremony", in("sdcer")}, common...)...).
		want(t, 1, "no trust file: the ceremony's signer identities cannot be checked", "--trust-on-first-use")
	r = runCLI(t, append([]string{"sd", "upload", "--hsm", hsm, "--ceremony", in("sdcer"), "--trust-on-first-use"}, common...)...)
	r.want(t, 0)
	if out := offline("transcript", "verify", in("sdcer"), "--json"); !strings.Contains(out, "uploader.trust-on-first-use") {
		t.Errorf("the trust-on-first-use decision is not recorded: %s", out)
	}
	if !strings.Contains(r.stdout, "Success") {
		t.Errorf("upload: %q", r.stdout)
	}
	out := offline("transcript", "verify", in("sdcer"), "--json")
	if !strings.Contains(out, "uploader.sd.upload") {
		t.Errorf("the upload is not in the transcript: %s", out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

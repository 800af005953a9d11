package main

import (
	"crypto/aes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/transcripts"
)

// kcvOf is the key check value computed here with crypto/aes.
func kcvOf(t *testing.T, key []byte) string {
	t.Helper()
	c, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	c.Encrypt(b, b)
	return hex.EncodeToString(b[:3])
}

// TestImportKCVMismatch: a soft AES-256 key exported by byok/export (what
// `keyrite byok export` runs), recorded with the right kcv, imports with
// kcv_match true; the same .byok recorded with another kcv fails the
// import: exit 1, kcv_match false in --json and in the transcript.
func TestImportKCVMismatch(t *testing.T) {
	url, ca := startEmulator(t)
	t.Setenv("KR_TOKEN", "test-token")
	common := []string{"--ca", ca, "--token-env", "KR_TOKEN"}
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	hsm := url + "/mhsm/hsm1"

	kek := createKEK(t, hsm, in("kek.pem"), common)
	key := make([]byte, 32)
	rand.Read(key)
	os.WriteFile(in("app-aes.bin"), key, 0o600)
	res, err := export.Run(export.Request{KEK: kek, Keys: []string{in("app-aes.bin")}, Out: in("app-aes.byok"), CeremonyDir: in("good")})
	if err != nil {
		t.Fatal(err)
	}
	want := kcvOf(t, key)
	if res.Keys[0].KCV != want {
		t.Fatalf("export KCV %q; crypto/aes gives %s", res.Keys[0].KCV, want)
	}
	signCeremony(t, in("good"))
	r := runCLI(t, append([]string{"import", "--ceremony", in("good"), "--vault", hsm, "--trust-on-first-use"}, common...)...)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "kcv_match=true: the service's key check value "+want+" equals the one recorded offline") {
		t.Errorf("stdout %q", r.stdout)
	}

	// The same .byok, recorded with a different kcv.
	bad := []byte(want)
	bad[5] = "01"[boolInt(bad[5] == '0')]
	ev := transcripts.Event{
		Step: "byok.export", Action: "exported app-aes2",
		Outputs: []transcripts.Artifact{transcripts.NewArtifact("app-aes2.byok", transcripts.KindBYOK, res.Keys[0].Blob)},
		Params: []transcripts.Param{{Name: "kid", Value: kek.Kid}, {Name: "name", Value: "app-aes2"}, {Name: "kty", Value: "oct-HSM"},
			{Name: "target", Value: "AES-256"}, {Name: "ops", Value: "encrypt,decrypt,wrapKey,unwrapKey"}, {Name: "kcv", Value: string(bad)}},
		Result: "ok",
	}
	if err := transcripts.RecordStep(in("bad"), ev); err != nil {
		t.Fatal(err)
	}
	signCeremony(t, in("bad"))
	r = runCLI(t, append([]string{"import", "--ceremony", in("bad"), "--vault", hsm, "--json", "--trust-on-first-use"}, common...)...)
	r.want(t, 1, "key check value differs", "keyrite-uploader: hint: do not use that key")
	var out struct {
		KCVMatch *bool `json:"kcv_match"`
		Imports  []struct {
			KCVMatch  *bool  `json:"kcv_match"`
			KCVReason string `json:"kcv_reason"`
			Mismatch  bool   `json:"mismatch"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.KCVMatch == nil || *out.KCVMatch || len(out.Imports) != 1 ||
		!out.Imports[0].Mismatch || *out.Imports[0].KCVMatch || !strings.Contains(out.Imports[0].KCVReason, "differs from the one recorded offline ("+string(bad)+")") {
		t.Fatalf("--json %q: %v", r.stdout, err)
	}
	rep, err := transcripts.Verify(in("bad"), nil)
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Events[len(rep.Events)-1]
	var kcvMatch string
	for _, p := range last.Params {
		if p.Name == "kcv_match" {
			kcvMatch = p.Value
		}
	}
	if kcvMatch != "false" || !strings.HasPrefix(last.Result, "failed: ") {
		t.Errorf("recorded %+v", last)
	}
}

// createKEK creates a KEK named "kek" with keyrite-uploader kek create,
// writes its public key to out and returns it as the offline side reads it.
func createKEK(t *testing.T, vault, out string, common []string) *byok.KEK {
	t.Helper()
	r := runCLI(t, append([]string{"kek", "create", "--vault", vault, "--name", "kek", "--out", out, "--json"}, common...)...)
	r.want(t, 0)
	var v struct{ Kid string }
	json.Unmarshal([]byte(r.stdout), &v)
	pemData, _ := os.ReadFile(out)
	kek, err := byok.ParseKEK(pemData, v.Kid)
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func signCeremony(t *testing.T, dir string) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := transcripts.NewSigner("alice", priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transcripts.Sign(dir, s, "operator"); err != nil {
		t.Fatal(err)
	}
}

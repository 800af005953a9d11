package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/transcripts"
)

// moduleOptions returns the module list's lines on the pane, in order.
func (p *pane) moduleOptions() []string {
	var out []string
	for _, l := range strings.Split(p.screen, "\n") {
		if strings.Contains(l, ".so  (") {
			out = append(out, l)
		}
	}
	return out
}

// menu is the guided ceremony's menu, in order.
var menu = []string{"BYOK", "Security domain", "Quorum drill", "Activation", "Custody: split", "Custody: recombine", "Close the ceremony", "Quit"}

// TestTUIEndToEnd drives the real binaries: the emulator plays the cloud,
// keyrite-uploader creates the KEK, the guided TUI (in a tmux pane) takes
// the KEK, lists a SoftHSM token's keys after one PIN, exports three keys
// chosen from the list into a ceremony, and closes it with the operator's
// and a witness's signatures; keyrite-uploader then imports them into the
// emulator, which unwraps them, and reports every key verified.
func TestTUIEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the three binaries")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", bin+"/", "../keyrite", "../keyrite-uploader", "../keyrite-emulator")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tok := softhsmtest.New(t, "vendor")
	for i, size := range []int{16, 24, 32} {
		k := make([]byte, size)
		rand.Read(k)
		tok.WriteSecretKey(t, k, softhsmtest.Options{Label: fmt.Sprintf("app-aes%d", size*8), ID: fmt.Sprintf("0%d", i+1), Extractable: true, Sensitive: true})
	}

	// The cloud side.
	emu := exec.Command(filepath.Join(bin, "keyrite-emulator"), "--listen", "127.0.0.1:0", "--state", filepath.Join(dir, "state"), "--sd-delay", "0s")
	out, err := emu.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Process.Kill(); emu.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the emulator did not start: %v", err)
	}
	hsm := strings.TrimSpace(strings.TrimPrefix(line, "listening on ")) + "/mhsm/e2e"
	online := []string{"--ca", filepath.Join(dir, "state", "ca.pem"), "--token-env", "E2E_TOKEN"}
	uploader := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "keyrite-uploader"), append(args, online...)...)
		cmd.Env = append(os.Environ(), "E2E_TOKEN=e2e")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("keyrite-uploader %v: %v\n%s%s", args, err, out, stderr)
		}
		return out
	}
	var kek struct{ Kid, Words string }
	json.Unmarshal(uploader("kek", "create", "--vault", hsm, "--name", "byok-kek", "--size", "3072", "--out", filepath.Join(dir, "kek.pem"), "--json"), &kek)
	if kek.Kid == "" || kek.Words == "" {
		t.Fatalf("kek create: %+v", kek)
	}

	// Signers and the trust file.
	_, opKey, _ := ed25519.GenerateKey(rand.Reader)
	wKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	writeKey := func(name string, k any) {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	}
	writeKey("operator.pem", opKey)
	writeKey("witness.pem", wKey)
	opS, _ := transcripts.NewSigner("operator", opKey)
	wS, _ := transcripts.NewSigner("witness", wKey)
	trust, _ := json.Marshal(map[string]any{
		"keys":   []transcripts.TrustedKey{{Name: "operator", Role: "operator", Key: opS.VerifierKey()}, {Name: "witness", Role: "witness", Key: wS.VerifierKey()}},
		"policy": map[string]int{"operator": 1, "witness": 1},
	})
	os.WriteFile(filepath.Join(dir, "trust.json"), trust, 0o644)

	conf := os.Getenv("SOFTHSM2_CONF") // set by softhsmtest for this test
	p := newPane(t, dir, 120, 40, []string{"SOFTHSM2_CONF=" + conf}, bin+`/keyrite --ceremony ceremony; echo "exit status $?"; sleep 60`)
	p.waitFor("? What do you want to do?")
	p.keys("Enter") // BYOK
	p.waitFor("KEK file")
	p.typeText("kek.pem")
	p.waitFor("┃ KEK key identifier")
	p.typeText(kek.Kid)
	p.waitFor("Type the first 4 or more words")
	p.typeText(strings.Join(strings.Fields(kek.Words)[:4], " "))
	p.waitFor("Where are the keys to export?")
	p.keys("Enter") // choose from the token's list
	p.waitFor("┃ PKCS#11 module")
	p.choose("softhsm2", p.moduleOptions())
	p.waitFor("┃ Token")
	p.keys("Enter") // vendor: the only initialised token
	p.waitFor(`PIN for token "vendor"`)
	p.typeText(softhsmtest.PIN)
	p.waitFor("app-aes256")
	p.keys("x", "Down", "x", "Down", "x")
	p.waitFor("[•] app-aes256")
	p.keys("Enter")
	p.waitFor("Output directory (new; one NAME.byok per key)")
	p.typeText(filepath.Join(dir, "byok"))
	p.waitFor("? Export now?")
	for _, want := range []string{"app-aes128 (AES 128 secret key on token vendor)", "app-aes256 (AES 256 secret key on token vendor)"} {
		if !strings.Contains(p.screen, want) {
			t.Errorf("the summary does not show %q:\n%s", want, p.screen)
		}
	}
	p.keys("Enter")
	p.waitFor("ok: Exported AES-256")
	p.waitFor("? What do you want to do?")
	p.choose("Close the ceremony", menu)

	for i, signer := range []string{"operator", "witness"} {
		p.waitFor("┃ Signing key")
		p.typeText(filepath.Join(dir, signer+".pem"))
		p.waitFor("┃ Trust file")
		if i == 0 {
			p.typeText(filepath.Join(dir, "trust.json"))
		} else {
			p.keys("Enter") // kept from the first signer
		}
		p.waitFor("┃ Role you sign in")
		p.keys("Enter") // the trust file's role for the key
		if i == 0 {
			p.waitFor("policy: not met yet")
			p.waitFor("? Next?")
			p.keys("Enter") // another signer
		}
	}
	p.waitFor("ok: Ready for the online side")
	p.waitFor("? What do you want to do?")
	p.choose("Quit", menu)
	p.waitFor("Enter or q to exit")
	p.keys("q")
	p.waitFor("exit status 0")

	var rep struct {
		Keys        int  `json:"keys"`
		Imported    int  `json:"imported"`
		AllVerified bool `json:"all_verified"`
	}
	res := uploader("import", "--ceremony", filepath.Join(dir, "ceremony"), "--vault", hsm, "--trust", filepath.Join(dir, "trust.json"), "--json")
	if err := json.Unmarshal(res, &rep); err != nil || rep.Keys != 3 || rep.Imported != 3 || !rep.AllVerified {
		t.Fatalf("import: %v\n%s", err, res)
	}
}

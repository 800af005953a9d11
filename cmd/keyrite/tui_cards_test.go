package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/ceremonytest"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
)

// reader is a card reader for the guided flows' tests: each listing shows
// the next set of cards of a script, as the custodians insert and remove
// them; the tokens themselves are real SoftHSM2 tokens.
type reader struct {
	mu     sync.Mutex
	script [][]string // token labels visible at each listing
	calls  int
}

func (r *reader) tokens(module string) ([]ceremony.TokenChoice, error) {
	all, err := discoverTokens(module)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	visible := r.script[min(r.calls, len(r.script)-1)]
	r.calls++
	var out []ceremony.TokenChoice
	for _, t := range all {
		for _, v := range visible {
			if t.Label == v {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// TestGuidedActivationAndRestoreOnCards: activation keys are generated on
// three SoftHSM2 "cards" one at a time, the service side makes a security
// domain for them, and a 2-of-3 guided restore finds the cards in the
// reader (certificates listed without a PIN, the share each holds shown),
// with a wrong PIN tried again on the same card and a card left in the
// reader refused for the next custodian; the restore blob opens with the
// exchange key and gives back what the security domain holds.
func TestGuidedActivationAndRestoreOnCards(t *testing.T) {
	conf, dir := softhsmtest.Env(t)
	var module string
	for _, l := range []string{"alice", "bob", "carol"} {
		module = softhsmtest.AddToken(t, conf, dir, l).Module
	}
	tmp := t.TempDir()
	ceremonyDir := filepath.Join(tmp, "ceremony")
	act := filepath.Join(tmp, "activation")

	r := &reader{script: [][]string{{"alice"}, {"bob"}, {"carol"}}}
	b := guidedBackends()
	b.Discovery.Modules = func() []ceremony.ModuleChoice { return []ceremony.ModuleChoice{{Path: module, Source: "test"}} }
	b.Discovery.Tokens = r.tokens
	pin := softhsmtest.PIN
	ui := ceremonytest.New(t, "3", "2", "1", act, "1", // N, M, RSA 2048, output, module
		"1",      // generate now
		"1", pin, // custodian 1: card in, PIN
		"1", pin, // custodian 2
		"1", pin) // custodian 3
	e := &ceremony.Engine{UI: ui, Backends: b, CeremonyDir: ceremonyDir}
	if err := e.ActivationKeys(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains(`Custodian 1's key is on card "alice"`, `Custodian 3's key is on card "carol"`, "ok: Activation keys made: 3 custodians, quorum 2", "recorded in the ceremony")

	// The service side: a security domain for the three certificates.
	req, err := os.ReadFile(filepath.Join(act, "download_request.json"))
	if err != nil {
		entries, _ := os.ReadDir(act)
		t.Fatalf("%v (directory holds %v)", err, entries)
	}
	certs, required, err := securitydomain.ParseDownloadRequest(req)
	if err != nil || required != 2 {
		t.Fatal(err, required)
	}
	payloads := []securitydomain.Payload{{Tag: "hsm_backup", Data: bytes.Repeat([]byte{0x5a}, 300)}}
	sdJSON, err := securitydomain.NewSecurityDomain(certs, required, payloads, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sdFile := filepath.Join(tmp, "sd.json")
	os.WriteFile(sdFile, sdJSON, 0o644)
	exchKey, exchCert := exchangeKey(t)
	exchFile := filepath.Join(tmp, "exchange.pem")
	os.WriteFile(exchFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: exchCert.Raw}), 0o644)
	first4 := strings.Join(strings.Fields(words.Sum(exchCert.Raw).Words())[:4], " ")

	// The restore: carol first, with a wrong PIN, then again; her card
	// is left in the reader for custodian 2 and refused; then alice.
	r.mu.Lock()
	r.script, r.calls = [][]string{{"carol"}, {"carol"}, {"carol"}, {"alice"}}, 0
	r.mu.Unlock()
	blobFile := filepath.Join(tmp, "blob.json")
	ui = ceremonytest.New(t, sdFile, exchFile, first4, blobFile, "y",
		"1", "1", "1", "0000", // custodian 1: card; module; card in; a wrong PIN
		"1", "1", pin, // again: card; card in (the same); the PIN
		"1", "1", "1", pin) // custodian 2: card; carol still in, refused; alice; PIN
	e = &ceremony.Engine{UI: ui, Backends: b}
	if err := e.SDRestore(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains("custodian 1's card holds share", "CKR_PIN_INCORRECT", `Still inserted, already used in this flow: "carol"`,
		"custodian 2's card holds share", "ok: Restore blob written")
	if testing.Verbose() {
		t.Log(ui.Log())
	}
	blob, err := os.ReadFile(blobFile)
	if err != nil {
		t.Fatal(err)
	}
	got, err := securitydomain.OpenRestoreBlob(blob, exchKey, exchCert)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Tag != "hsm_backup" || !bytes.Equal(got[0].Data, payloads[0].Data) {
		t.Fatalf("the blob gives back %d payloads", len(got))
	}
}

func exchangeKey(t *testing.T) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "exchange"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return k, c
}

package ceremony_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/ceremony/ceremonytest"
	"github.com/keyrite/keyrite/transcripts"
)

// closeFixture is a recorded ceremony, an operator's and a witness's key
// files, and a trust file whose policy needs both.
func closeFixture(t *testing.T) (dir, op, witness, trust string) {
	t.Helper()
	tmp := t.TempDir()
	dir = filepath.Join(tmp, "ceremony")
	if err := transcripts.RecordStep(dir, transcripts.Event{Step: "selftest", Action: "ran the self-tests"}); err != nil {
		t.Fatal(err)
	}
	_, opKey, _ := ed25519.GenerateKey(rand.Reader)
	wKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	write := func(name string, k any) string {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		p := filepath.Join(tmp, name)
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
		return p
	}
	op, witness = write("alice.pem", opKey), write("bob.pem", wKey)
	alice, _ := transcripts.NewSigner("alice", opKey)
	bob, _ := transcripts.NewSigner("bob", wKey)
	b, _ := json.Marshal(map[string]any{
		"keys":   []transcripts.TrustedKey{{Name: "alice", Role: "operator", Key: alice.VerifierKey()}, {Name: "bob", Role: "witness", Key: bob.VerifierKey()}},
		"policy": map[string]int{"operator": 1, "witness": 1},
	})
	trust = filepath.Join(tmp, "trust.json")
	os.WriteFile(trust, b, 0o644)
	return dir, op, witness, trust
}

// TestCloseCeremony: the operator signs, the policy is not met yet, the
// witness signs, and the ceremony is ready for the online side; a key that
// does not read is refused and asked again with the other answers kept.
func TestCloseCeremony(t *testing.T) {
	dir, op, witness, trust := closeFixture(t)
	ui := ceremonytest.New(t,
		"/nonexistent.pem", op, trust, "1", // the missing key is refused as typed; the trust file's role
		"1",                 // another signer
		witness, trust, "3", // witness, as the trust file says too
	)
	e := engine(ui)
	e.CeremonyDir = dir
	if err := e.CloseCeremony(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains("signing key /nonexistent.pem: no such file", "ok: Signed", "signer: alice (operator)",
		"policy: not met yet: operator 1 of 1, witness 0 of 1", "signer: bob (witness)", "ok: Ready for the online side")
	trustFile, err := transcripts.ReadTrust(trust)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := transcripts.Verify(dir, trustFile)
	if err != nil || !rep.Policy.Met {
		t.Fatalf("verify: %v %+v", err, rep.Policy)
	}
}

// TestResumeShowsUncoveredSteps: opening a signed ceremony in which a step
// was recorded after the signature shows its steps and signatures, and
// warns that the signers must sign again.
func TestResumeShowsUncoveredSteps(t *testing.T) {
	dir, op, _, _ := closeFixture(t)
	ui := ceremonytest.New(t, op, "", "2", "2")
	e := engine(ui)
	e.CeremonyDir = dir
	if err := e.CloseCeremony(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	if err := transcripts.RecordStep(dir, transcripts.Event{Step: "byok.export", Action: "exported a key"}); err != nil {
		t.Fatal(err)
	}
	ui = ceremonytest.New(t, "8")
	e = engine(ui)
	e.CeremonyDir = dir
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	ui.Contains("warning: Ceremony "+dir, "signed:", "by alice (operator)", "were recorded after the last signature", "byok.export")
}

// TestCeremonyDirNotACeremony: a directory that holds files but no
// transcript is refused as the ceremony directory (before, the .byok was
// written there and the recording failed).
func TestCeremonyDirNotACeremony(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	empty := t.TempDir()
	ui := ceremonytest.New(t, dir, empty, "8")
	if err := engine(ui).Run(); err != nil {
		t.Fatal(err)
	}
	ui.Contains("holds files but no transcript.jsonl: it is no ceremony")
	if !strings.Contains(ui.Log(), "Steps will be recorded in "+empty) {
		t.Error(ui.Log())
	}
}

// TestNewCeremonyNoWarning: a ceremony directory that does not exist yet
// is no problem to report (before, "cannot read it: no such file" was
// shown as a warning at the start).
func TestNewCeremonyNoWarning(t *testing.T) {
	ui := ceremonytest.New(t, "8")
	e := engine(ui)
	e.CeremonyDir = filepath.Join(t.TempDir(), "new")
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ui.Log(), "cannot read") || strings.Contains(ui.Log(), "warning") {
		t.Errorf("log:\n%s", ui.Log())
	}
}

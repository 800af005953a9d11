package transcripts

import (
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestSignVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	opts := testOptions()
	buildCeremony(t, dir, opts)
	op := testSigner(t, "alice", edKey("alice"))
	wit := testSigner(t, "bob", ecKey(t, "bob"))
	trust := testTrust(t, map[string]int{"operator": 1, "witness": 1},
		map[string]*Signer{"alice": op, "bob": wit}, map[string]string{"alice": "operator", "bob": "witness"})

	if _, err := SignWith(dir, op, "operator", opts); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, trust)
	if !errors.Is(err, ErrVerify) || rep.Policy == nil || rep.Policy.Met {
		t.Fatalf("policy should not be met with only the operator: %v", err)
	}
	if _, err := SignWith(dir, wit, "witness", opts); err != nil {
		t.Fatal(err)
	}
	if _, err := SignWith(dir, wit, "witness", opts); !errors.Is(err, ErrAlreadySigned) {
		t.Fatalf("second sign: %v", err)
	}
	rep, err = Verify(dir, trust)
	if err != nil {
		t.Fatalf("verify: %v\n%+v", err, rep.Problems)
	}
	if !rep.Policy.Met || rep.Signed != 5 || len(rep.SignedEvents()) != 5 {
		t.Fatalf("report: %+v", rep.Policy)
	}
	if _, err := Verify(dir, nil); err != nil {
		t.Fatal(err)
	}
	// A witness signing under the wrong role is refused against the trust file.
	wrong := testTrust(t, map[string]int{"operator": 1}, map[string]*Signer{"alice": op, "bob": wit}, map[string]string{"alice": "operator", "bob": "custodian"})
	if _, err := Verify(dir, wrong); err == nil {
		t.Fatal("role mismatch accepted")
	}
	// The Ed25519 note verifies with the standard note package alone.
	ed, err := note.NewVerifier(op.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	msg := mustRead(t, filepath.Join(dir, "signatures", "5-"+keyIDHex(op.KeyHash())+".note"))
	if _, err := note.Open(msg, note.VerifierList(ed)); err != nil {
		t.Fatalf("standard note verifier: %v", err)
	}
	// An unsigned later offline event breaks the policy until signed again.
	c, err := OpenWith(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Record(Event{Step: "late.step", Action: "something after signing"}); err != nil {
		t.Fatal(err)
	}
	// The uploader's own record naming the checkpoint is fine.
	cp := rep.Policy.Checkpoint
	if err := c.Record(Event{Step: "upload.import", Action: "imported app-key", Actor: Actor{Name: "up", Role: "uploader"}, ActedOn: cp}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := Verify(dir, trust); err == nil {
		t.Fatal("unsigned offline event accepted")
	}
}

package transcripts

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestSignAfterInterruptedSign: a temporary signature file of keyrite's own
// naming (what a sign killed before the link leaves; cmd/keyrite's
// transcript_sign_killed script kills a real one) is reported as an
// interrupted sign, not tampering; the next sign removes it and reports
// that, signing the same state (co-signatures made on it still count); the
// next Open removes one and records it in an aborted record. A file of
// another name is left alone, and refused.
func TestSignAfterInterruptedSign(t *testing.T) {
	dir, opts, op, wit, trust := operatorAndWitness(t)
	if _, err := SignWith(dir, wit, "witness", opts); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(SignaturesDir, ".5-"+keyIDHex(op.KeyHash())+".note.tmp-1234567")
	if err := os.WriteFile(filepath.Join(dir, leftover), []byte("keyrite.ceremony/"), 0o600); err != nil {
		t.Fatal(err)
	}

	rep, err := Verify(dir, nil)
	if err == nil || len(rep.Problems) != 1 {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
	if p := rep.Problems[0]; p.File != leftover || !p.Interrupted || !errors.Is(p.Err(), ErrInterruptedSign) {
		t.Errorf("problem %+v: want an interrupted sign's leftover", p)
	}

	res, err := SignWith(dir, op, "operator", opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.RemovedTemp, []string{leftover}) || res.Recovered != nil || res.Checkpoint.Size != 5 {
		t.Errorf("removed %q, recovered %v, size %d: want the leftover removed and size 5, nothing recorded", res.RemovedTemp, res.Recovered, res.Checkpoint.Size)
	}
	if rep, err := Verify(dir, trust); err != nil || rep.Signed != 5 {
		t.Fatalf("verify with trust: %v %+v", err, rep.Problems)
	}

	// The next Open (a recorded step) removes one and records it.
	other := filepath.Join(SignaturesDir, ".5-0badc0de.dsse.json.tmp-42")
	if err := os.WriteFile(filepath.Join(dir, other), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := OpenWith(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	rec := c.Recovered()
	c.Close()
	if rec == nil || !slices.Equal(rec.RemovedTemp, []string{other}) || rec.AbortedSeq != 6 {
		t.Fatalf("recovery %+v: want %s removed, aborted record 6", rec, other)
	}
	if _, err := os.Lstat(filepath.Join(dir, other)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v", other, err)
	}
	if rep, err := Verify(dir, nil); err != nil || rep.Events[5].Deviations[0] != "unfinished temporary file "+other+" was removed" {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}

	// Another name is not keyrite's: reported as a problem, not removed,
	// and signing is refused.
	foreign := filepath.Join(SignaturesDir, ".notes.tmp-1")
	if err := os.WriteFile(filepath.Join(dir, foreign), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(dir, nil)
	if err == nil || len(rep.Problems) != 1 || rep.Problems[0].Interrupted || rep.Problems[0].Err() != nil {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
	if _, err := SignWith(dir, op, "operator", opts); err == nil {
		t.Fatal("signed over a file keyrite did not write")
	}
	if _, err := os.Lstat(filepath.Join(dir, foreign)); err != nil {
		t.Errorf("%s: %v", foreign, err)
	}
}

// TestSignCompletesInterruptedPair: a note whose DSSE file an interrupted
// sign never wrote, at the current state, is an interrupted sign; another
// signer may sign meanwhile, and the same key signing again completes it.
func TestSignCompletesInterruptedPair(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	opts := testOptions()
	buildCeremony(t, dir, opts)
	op := testSigner(t, "alice", edKey("alice"))
	wit := testSigner(t, "bob", ecKey(t, "bob"))
	res, err := SignWith(dir, op, "operator", opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, res.DSSEFile)); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, nil)
	if err == nil || len(rep.Problems) != 1 || !rep.Problems[0].Interrupted || !errors.Is(rep.Problems[0].Err(), ErrInterruptedSign) {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
	if _, err := SignWith(dir, wit, "witness", opts); err != nil {
		t.Fatalf("another signer: %v", err)
	}
	if _, err := SignWith(dir, op, "operator", opts); err != nil {
		t.Fatalf("the same signer again: %v", err)
	}
	if rep, err := Verify(dir, nil); err != nil || len(rep.Checkpoints[0].Signatures) != 2 {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}

	// Once the transcript has moved on, signing again cannot complete it:
	// not an interrupted sign's leftover any more.
	if err := os.Remove(filepath.Join(dir, res.DSSEFile)); err != nil {
		t.Fatal(err)
	}
	if err := RecordStep(dir, Event{Step: "x.y", Action: "a later step"}); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(dir, nil)
	if err == nil || len(rep.Problems) != 1 || rep.Problems[0].Interrupted || rep.Problems[0].Err() != nil {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
}

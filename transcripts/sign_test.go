package transcripts

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"
)

// operatorAndWitness builds a small ceremony in a temp dir and returns it
// with its options, an operator (Ed25519) and a witness (ECDSA P-256)
// signer, and a trust file requiring one of each.
func operatorAndWitness(t *testing.T) (string, Options, *Signer, *Signer, *Trust) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "c")
	opts := testOptions()
	buildCeremony(t, dir, opts)
	op := testSigner(t, "alice", edKey("alice"))
	wit := testSigner(t, "bob", ecKey(t, "bob"))
	trust := testTrust(t, map[string]int{"operator": 1, "witness": 1},
		map[string]*Signer{"alice": op, "bob": wit}, map[string]string{"alice": "operator", "bob": "witness"})
	return dir, opts, op, wit, trust
}

func TestSignVerify(t *testing.T) {
	dir, opts, op, wit, trust := operatorAndWitness(t)

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
	if err := c.Record(Event{Step: "uploader.import", Action: "imported app-key", Actor: Actor{Name: "up", Role: "uploader"}, ActedOn: cp}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := Verify(dir, trust); err == nil {
		t.Fatal("unsigned offline event accepted")
	}
}

// edVerifier is an independent DSSE verifier: plain crypto/ed25519 over the
// PAE the DSSE library computes.
type edVerifier struct{ pub ed25519.PublicKey }

func (v edVerifier) Verify(_ context.Context, data, sig []byte) error {
	if !ed25519.Verify(v.pub, data, sig) {
		return errors.New("bad signature")
	}
	return nil
}
func (v edVerifier) KeyID() (string, error)   { return "", nil }
func (v edVerifier) Public() crypto.PublicKey { return v.pub }

// TestAttestationStandardTooling checks the golden attestations the way a
// third party would: DSSE library verification with a bare Ed25519 key,
// in-toto parsing with protojson, and subject digests recomputed from the
// files.
func TestAttestationStandardTooling(t *testing.T) {
	op, _, _ := goldenSigners(t)
	data := mustRead(t, filepath.Join(goldenDir, "signatures", "5-"+keyIDHex(op.KeyHash())+".dsse.json"))
	var env dsse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	ev, err := dsse.NewEnvelopeVerifier(edVerifier{edKey("alice").Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Verify(context.Background(), &env); err != nil {
		t.Fatalf("DSSE: %v", err)
	}
	payload, _ := env.DecodeB64Payload()
	var st intoto.Statement
	if err := protojson.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.GetType() != intoto.StatementTypeUri || st.GetPredicateType() != PredicateType || len(st.GetSubject()) != 2 {
		t.Fatalf("statement: %v", &st)
	}
	for _, s := range st.GetSubject() {
		file := mustRead(t, filepath.Join(goldenDir, s.GetName()))
		sum := sha256.Sum256(file)
		if hex.EncodeToString(sum[:]) != s.GetDigest()["sha256"] {
			t.Errorf("subject %s: digest does not match the file", s.GetName())
		}
	}
}

// TestECDSANoteIndependent verifies an ECDSA P-256 note signature with
// crypto/ecdsa alone, following C2SP signed-note type 0x02.
func TestECDSANoteIndependent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	buildCeremony(t, dir, testOptions())
	k := ecKey(t, "carol")
	s := testSigner(t, "carol", k)
	res, err := Sign(dir, s, "custodian")
	if err != nil {
		t.Fatal(err)
	}
	msg := mustRead(t, filepath.Join(dir, res.NoteFile))
	text, sigLine, _ := strings.Cut(string(msg), "\n\n")
	text += "\n"
	b64 := strings.TrimSuffix(strings.TrimPrefix(sigLine, "— carol "), "\n")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	id := sha256.Sum256(spki)
	if !bytes.Equal(raw[:4], id[:4]) {
		t.Fatalf("key ID %x, want SHA-256(SPKI)[:4] %x", raw[:4], id[:4])
	}
	d := sha256.Sum256([]byte(text))
	if !ecdsa.VerifyASN1(&k.PublicKey, d[:], raw[4:]) {
		t.Fatal("ECDSA note signature does not verify with crypto/ecdsa")
	}
}

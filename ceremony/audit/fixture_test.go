package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/keyrite/keyrite/transcripts"
)

// Deterministic clock, randomness, build and keys, so that the ceremony's
// bytes, and so the golden screens, are the same on every run.

type fixedRand byte

func (r fixedRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func testOptions() transcripts.Options {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := 0
	return transcripts.Options{
		Now:      func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) },
		Rand:     fixedRand(0x5a),
		Tool:     &transcripts.Tool{Name: "keyrite", Version: "v0.0.0-test", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26"},
		Operator: "alice",
	}
}

func signer(t testing.TB, name string) *transcripts.Signer {
	t.Helper()
	seed := sha256.Sum256([]byte(name))
	s, err := transcripts.NewSigner(name, ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// events is a small BYOK ceremony.
func events(t testing.TB) []transcripts.Event {
	kek := readTestdata(t, "kek.pem")
	blob := readTestdata(t, "app-key.byok")
	hsm := &transcripts.HSMInfo{
		ModulePath: "/usr/lib/softhsm/libsofthsm2.so", ModuleSHA256: "4f1c2fbbd8b4b8d2e7a0d3f58b8c5f5d8c2f3e4d5c6b7a8990a1b2c3d4e5f607",
		TokenLabel: "vendor", Manufacturer: "SoftHSM project", Model: "SoftHSM v2", Serial: "7e1a2b3c4d5e6f70", Firmware: "2.6",
	}
	return []transcripts.Event{
		{Step: "selftest", Action: "ran the known-answer self-tests",
			Params: []transcripts.Param{{Name: "kwp", Value: "ok"}, {Name: "rsa-oaep-sha256", Value: "ok"}}},
		{Step: "kek.inspect", Action: "inspected the KEK downloaded from the vault",
			Inputs: []transcripts.Artifact{transcripts.NewArtifact("kek.pem", transcripts.KindKEK, kek)},
			Params: []transcripts.Param{{Name: "kid", Value: "https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"}}},
		{Step: "byok.export", Action: "exported app-key wrapped under the KEK",
			Actor:   transcripts.Actor{Name: "alice", Role: "operator"},
			Inputs:  []transcripts.Artifact{transcripts.NewArtifact("kek.pem", transcripts.KindKEK, kek)},
			Outputs: []transcripts.Artifact{transcripts.NewArtifact("app-key.byok", transcripts.KindBYOK, blob)},
			Params: []transcripts.Param{{Name: "key_uri", Value: "pkcs11:token=vendor;object=app-key"}, {Name: "name", Value: "app-key"},
				{Name: "ops", Value: "encrypt,decrypt,wrapKey,unwrapKey"}},
			HSM: hsm, Mechanism: "CKM_RSA_AES_KEY_WRAP"},
		{Step: "witness.confirm", Action: "bob compared the .byok fingerprint aloud",
			Actor:      transcripts.Actor{Name: "bob", Role: "witness"},
			Deviations: []string{"rehearsal: SoftHSM stands in for the production HSM"}},
	}
}

// fixture records the ceremony in a new directory, signs it as alice
// (operator) and bob (witness), then records the extra events unsigned. It
// returns the directory and the trust file's policy (operator 1, witness 1).
func fixture(t testing.TB, extra ...transcripts.Event) (string, *transcripts.Trust) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "c")
	opts := testOptions()
	record := func(evs []transcripts.Event) {
		c, err := transcripts.OpenWith(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, ev := range evs {
			if err := c.Record(ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	record(events(t))
	alice, bob := signer(t, "alice"), signer(t, "bob")
	if _, err := transcripts.SignWith(dir, alice, "operator", opts); err != nil {
		t.Fatal(err)
	}
	if _, err := transcripts.SignWith(dir, bob, "witness", opts); err != nil {
		t.Fatal(err)
	}
	if len(extra) > 0 {
		record(extra)
	}
	trust, err := transcripts.NewTrust([]transcripts.TrustedKey{
		{Name: "alice", Role: "operator", Key: alice.VerifierKey()},
		{Name: "bob", Role: "witness", Key: bob.VerifierKey()},
	}, map[string]int{"operator": 1, "witness": 1})
	if err != nil {
		t.Fatal(err)
	}
	return dir, trust
}

// asciiRenderer draws without colour, as under NO_COLOR.
func asciiRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return r
}

// newTestModel verifies dir and builds its view at w x h, without colour,
// with a fixed directory name in the header.
func newTestModel(t testing.TB, dir string, trust *transcripts.Trust, w, h int) *Model {
	t.Helper()
	rep, _ := transcripts.Verify(dir, trust)
	return New(rep, Options{Renderer: asciiRenderer(), Width: w, Height: h, Dir: "/media/usb/ceremony"})
}

// synthetic is a report of n events with no artifacts, for the benchmarks:
// recording 10,000 events would fsync 10,000 times.
func synthetic(n int) *transcripts.Report {
	rep := &transcripts.Report{Dir: "/media/usb/big", Origin: "keyrite.example/ceremony/big", Lines: int64(n), OK: true, Signed: int64(n / 2)}
	for i := 1; i <= n; i++ {
		rep.Events = append(rep.Events, transcripts.Entry{
			V: 1, Seq: int64(i), Line: int64(i), Prev: fmt.Sprintf("%064x", i),
			OperatorTime: "2026-01-02T03:04:05.000Z", Step: []string{"custody.split", "sd.restore", "byok.export", "witness.confirm"}[i%4],
			Actor:  transcripts.Actor{Name: "alice", Role: "operator"},
			Action: fmt.Sprintf("step %d of the long rehearsal: custodian share opened (x=%d)", i, i%10),
			Params: []transcripts.Param{{Name: "n", Value: fmt.Sprint(i)}, {Name: "token", Value: fmt.Sprintf("card-%d", i%7)}},
			Tool:   transcripts.Tool{Name: "keyrite", Version: "v0.0.0-test"}, Result: "ok",
		})
	}
	rep.Unsigned = n - n/2
	rep.Checkpoints = []transcripts.CheckpointReport{{
		CheckpointRef: transcripts.CheckpointRef{Origin: rep.Origin, Size: int64(n / 2), RootHash: fmt.Sprintf("%064x", n)},
		Words:         "aardvark adroitness absurd adviser",
		Signatures:    []transcripts.SignatureReport{{Name: "alice", Role: "operator", KeyType: "Ed25519", KeyID: "0a1b2c3d", Valid: true}},
	}}
	return rep
}

package transcripts

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Deterministic test clock, randomness, build and keys.

type fixedRand byte

func (r fixedRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func testOptions() Options {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := 0
	return Options{
		Now:      func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) },
		Rand:     fixedRand(0x5a),
		Tool:     &Tool{Name: "keyrite", Version: "v0.0.0-test", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26"},
		Operator: "alice",
	}
}

func edKey(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

func ecKey(t testing.TB, seed string) *ecdsa.PrivateKey {
	s := sha256.Sum256([]byte(seed))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), s[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testSigner(t testing.TB, name string, key crypto.Signer) *Signer {
	t.Helper()
	s, err := NewSigner(name, key)
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

// testEvents is a small BYOK ceremony.
func testEvents(t testing.TB) []Event {
	kek := readTestdata(t, "kek.pem")
	blob := readTestdata(t, "app-key.byok")
	hsm := &HSMInfo{
		ModulePath: "/usr/lib/softhsm/libsofthsm2.so", ModuleSHA256: "4f1c2fbbd8b4b8d2e7a0d3f58b8c5f5d8c2f3e4d5c6b7a8990a1b2c3d4e5f607",
		TokenLabel: "vendor", Manufacturer: "SoftHSM project", Model: "SoftHSM v2", Serial: "7e1a2b3c4d5e6f70", Firmware: "2.6",
	}
	return []Event{
		{
			Step: "selftest", Action: "ran the known-answer self-tests",
			Params: []Param{{"kwp", "ok"}, {"rsa-oaep-sha256", "ok"}},
		},
		{
			Step: "kek.inspect", Action: "inspected the KEK downloaded from the vault",
			Inputs: []Artifact{NewArtifact("kek.pem", KindKEK, kek)},
			Params: []Param{{"kid", "https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"}},
		},
		{
			Step: "byok.export", Action: "exported app-key wrapped under the KEK",
			Actor:     Actor{Name: "alice", Role: "operator"},
			Inputs:    []Artifact{NewArtifact("kek.pem", KindKEK, kek)},
			Outputs:   []Artifact{NewArtifact("app-key.byok", KindBYOK, blob)},
			Params:    []Param{{"key_uri", "pkcs11:token=vendor;object=app-key"}, {"name", "app-key"}, {"ops", "encrypt,decrypt,wrapKey,unwrapKey"}},
			HSM:       hsm,
			Mechanism: "CKM_RSA_AES_KEY_WRAP",
		},
		{
			Step: "witness.confirm", Action: "bob compared the .byok fingerprint aloud",
			Actor:      Actor{Name: "bob", Role: "witness"},
			Deviations: []string{"rehearsal: SoftHSM stands in for the production HSM"},
		},
	}
}

// buildCeremony records testEvents in dir with the deterministic options.
func buildCeremony(t testing.TB, dir string, opts Options) {
	t.Helper()
	c, err := OpenWith(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, ev := range testEvents(t) {
		if err := c.Record(ev); err != nil {
			t.Fatal(err)
		}
	}
}

func testTrust(t testing.TB, policy map[string]int, signers map[string]*Signer, roles map[string]string) *Trust {
	t.Helper()
	var keys []TrustedKey
	for name, s := range signers {
		keys = append(keys, TrustedKey{Name: name, Role: roles[name], Key: s.VerifierKey()})
	}
	tr, err := NewTrust(keys, policy)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

var testRSA *rsa.PrivateKey

func mustRSAKey(t testing.TB) *rsa.PrivateKey {
	if testRSA == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		testRSA = k
	}
	return testRSA
}

func readFileOS(p string) ([]byte, error) { return os.ReadFile(p) }

func readTreeF(f *testing.F, root string) map[string][]byte { return readTree(f, root) }

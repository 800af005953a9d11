package transcripts

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const goldenDir = "testdata/golden/ceremony"

// goldenSigners are the deterministic Ed25519 keys of the golden ceremony.
func goldenSigners(t testing.TB) (op, wit *Signer, trust *Trust) {
	op = testSigner(t, "alice", edKey("alice"))
	wit = testSigner(t, "bob", edKey("bob"))
	trust = testTrust(t, map[string]int{"operator": 1, "witness": 1},
		map[string]*Signer{"alice": op, "bob": wit}, map[string]string{"alice": "operator", "bob": "witness"})
	return
}

// makeGolden builds and signs the golden ceremony in dir.
func makeGolden(t testing.TB, dir string) {
	opts := testOptions()
	buildCeremony(t, dir, opts)
	op, wit, _ := goldenSigners(t)
	if _, err := SignWith(dir, op, "operator", opts); err != nil {
		t.Fatal(err)
	}
	if _, err := SignWith(dir, wit, "witness", opts); err != nil {
		t.Fatal(err)
	}
}

func readTree(t testing.TB, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestGolden pins the canonical bytes of every file of a ceremony made with
// a fixed clock, fixed randomness and deterministic Ed25519 keys. Regenerate
// with `go test -run Golden -update` and review the diff.
func TestGolden(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	makeGolden(t, dir)
	got := readTree(t, dir)
	if *update {
		os.RemoveAll(goldenDir)
		for name, b := range got {
			p := filepath.Join(goldenDir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := readTree(t, goldenDir)
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", name, got[name], b)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is new; run go test -run Golden -update", name)
		}
	}
	// The golden directory itself verifies against the trust file.
	_, _, trust := goldenSigners(t)
	if rep, err := Verify(goldenDir, trust); err != nil {
		t.Fatalf("golden ceremony does not verify: %v\n%v", err, rep.Problems)
	}
}

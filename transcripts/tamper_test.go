package transcripts

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	for name, b := range readTree(t, src) {
		p := filepath.Join(dst, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func sortedNames(m map[string][]byte) []string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// positions samples byte offsets of a file: the first and last 8, and about
// 48 spread evenly in between.
func positions(n int) []int {
	seen := map[int]bool{}
	var out []int
	add := func(i int) {
		if i >= 0 && i < n && !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for i := 0; i < 8; i++ {
		add(i)
		add(n - 1 - i)
	}
	step := max(1, n/48)
	for i := 0; i < n; i += step {
		add(i)
	}
	return out
}

// TestTamperEveryFile flips bytes in every file of a signed ceremony
// (several bits per position), deletes every file, and adds one: Verify with
// the trust file must fail each time. It also checks the untouched copy
// verifies, so that failures are due to the change.
func TestTamperEveryFile(t *testing.T) {
	_, _, trust := goldenSigners(t)
	dir := filepath.Join(t.TempDir(), "c")
	copyTree(t, goldenDir, dir)
	if _, err := Verify(dir, trust); err != nil {
		t.Fatal(err)
	}
	files := readTree(t, dir)
	tried := 0
	for _, name := range sortedNames(files) {
		orig := files[name]
		path := filepath.Join(dir, filepath.FromSlash(name))
		for _, i := range positions(len(orig)) {
			for _, bit := range []byte{0x01, 0x20, 0x80} {
				mod := bytes.Clone(orig)
				mod[i] ^= bit
				if err := os.WriteFile(path, mod, 0o644); err != nil {
					t.Fatal(err)
				}
				tried++
				if _, err := Verify(dir, trust); err == nil {
					t.Errorf("%s: flipping bit %#x of byte %d went undetected", name, bit, i)
				}
				if bit == 0x01 {
					if _, err := Verify(dir, nil); err == nil {
						t.Errorf("%s: flipping bit %#x of byte %d went undetected without a trust file", name, bit, i)
					}
				}
			}
		}
		os.WriteFile(path, orig, 0o644)
		// Deleting the file.
		os.Remove(path)
		if _, err := Verify(dir, trust); err == nil {
			t.Errorf("deleting %s went undetected", name)
		}
		os.WriteFile(path, orig, 0o644)
		// Truncating it by one byte, and appending one.
		os.WriteFile(path, orig[:len(orig)-1], 0o644)
		if _, err := Verify(dir, trust); err == nil {
			t.Errorf("truncating %s went undetected", name)
		}
		os.WriteFile(path, append(bytes.Clone(orig), '\n'), 0o644)
		if _, err := Verify(dir, trust); err == nil {
			t.Errorf("appending to %s went undetected", name)
		}
		os.WriteFile(path, orig, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "artifacts", "extra.pem"), []byte("x"), 0o644)
	if _, err := Verify(dir, trust); err == nil {
		t.Errorf("an added artifact went undetected")
	}
	os.Remove(filepath.Join(dir, "artifacts", "extra.pem"))
	if _, err := Verify(dir, trust); err != nil {
		t.Fatalf("restored copy does not verify: %v", err)
	}
	t.Logf("%d byte flips over %d files, all detected", tried, len(files))
}

// TestTamperEvents reorders, inserts, duplicates, removes and truncates
// events, with and without re-signing by an outsider.
func TestTamperEvents(t *testing.T) {
	_, _, trust := goldenSigners(t)
	orig := mustRead(t, filepath.Join(goldenDir, TranscriptFile))
	lines := bytes.SplitAfter(orig, []byte("\n"))
	lines = lines[:len(lines)-1] // the empty remainder after the last newline
	join := func(ls ...[]byte) []byte { return bytes.Join(ls, nil) }
	cases := map[string][]byte{
		"swap 2 and 3":      join(lines[0], lines[2], lines[1], lines[3], lines[4]),
		"swap last two":     join(lines[0], lines[1], lines[2], lines[4], lines[3]),
		"duplicate 3":       join(lines[0], lines[1], lines[2], lines[2], lines[3], lines[4]),
		"remove 2":          join(lines[0], lines[2], lines[3], lines[4]),
		"remove first":      join(lines[1], lines[2], lines[3], lines[4]),
		"drop last":         join(lines[0], lines[1], lines[2], lines[3]),
		"drop last newline": orig[:len(orig)-1],
		"half last line":    join(lines[0], lines[1], lines[2], lines[3], lines[4][:len(lines[4])/2]),
		"insert blank":      join(lines[0], lines[1], []byte("\n"), lines[2], lines[3], lines[4]),
		"append copy":       join(orig, lines[4]),
		"empty":             {},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "c")
			copyTree(t, goldenDir, dir)
			if err := os.WriteFile(filepath.Join(dir, TranscriptFile), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(dir, trust); err == nil {
				t.Fatal("undetected")
			}
		})
	}
	// Dropping the last event and every signature gives a shorter transcript
	// that is well formed but signed by nobody: the trust policy catches it.
	dir := filepath.Join(t.TempDir(), "c")
	copyTree(t, goldenDir, dir)
	os.WriteFile(filepath.Join(dir, TranscriptFile), join(lines[0], lines[1], lines[2], lines[3]), 0o644)
	os.RemoveAll(filepath.Join(dir, SignaturesDir))
	if _, err := Verify(dir, trust); err == nil {
		t.Fatal("unsigned shortened transcript accepted under a trust policy")
	}
	// An outsider re-signing a modified transcript does not meet the policy.
	mallory := testSigner(t, "alice", edKey("mallory")) // same name, other key
	if _, err := SignWith(dir, mallory, "operator", testOptions()); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(dir, trust); err == nil {
		t.Fatalf("outsider's signature met the policy: %+v", rep.Policy)
	}
}

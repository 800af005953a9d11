package transcripts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestVerifyRefusesSpecialFiles: a transcript or signature file that is a
// device or a FIFO is reported, not read forever (or waited on).
func TestVerifyRefusesSpecialFiles(t *testing.T) {
	_, _, trust := goldenSigners(t)
	files := readTree(t, goldenDir)
	for _, name := range sortedNames(files) {
		if strings.HasPrefix(name, ArtifactsDir+"/") {
			continue // Verify's own Lstat check covers artifacts
		}
		for _, special := range []string{"devzero", "fifo"} {
			dir := filepath.Join(t.TempDir(), "c")
			copyTree(t, goldenDir, dir)
			p := filepath.Join(dir, filepath.FromSlash(name))
			os.Remove(p)
			var err error
			if special == "fifo" {
				err = syscall.Mkfifo(p, 0o600)
			} else {
				err = os.Symlink("/dev/zero", p)
			}
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(dir, trust)
			if err == nil {
				t.Fatalf("%s as %s: verified", name, special)
			}
			found := false
			for _, pr := range rep.Problems {
				found = found || strings.Contains(pr.Message, "not a regular file")
			}
			if !found {
				t.Errorf("%s as %s: problems %v, want one saying not a regular file", name, special, rep.Problems)
			}
		}
	}
}

func TestReadFileLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, make([]byte, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readFile(p, 99); !errors.Is(err, errTooLarge) {
		t.Fatalf("100 bytes with limit 99: %v", err)
	}
	if b, err := readFile(p, 100); err != nil || len(b) != 100 {
		t.Fatalf("100 bytes with limit 100: %d %v", len(b), err)
	}
}

// TestReadArtifactChanged: an artifact grown or replaced by a special file
// after Verify is an ErrVerify, read no further than its recorded size.
func TestReadArtifactChanged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	copyTree(t, goldenDir, dir)
	rep, err := Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	name := rep.Artifacts[0].Name
	p := filepath.Join(dir, ArtifactsDir, name)
	os.Remove(p)
	if err := os.Symlink("/dev/zero", p); err != nil {
		t.Fatal(err)
	}
	if _, err := rep.ReadArtifact(name); !errors.Is(err, ErrVerify) {
		t.Fatalf("artifact replaced by /dev/zero: %v, want ErrVerify", err)
	}
	os.Remove(p)
	if err := os.WriteFile(p, make([]byte, rep.Artifacts[0].Size+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := rep.ReadArtifact(name); !errors.Is(err, ErrVerify) {
		t.Fatalf("artifact grown: %v, want ErrVerify", err)
	}
}

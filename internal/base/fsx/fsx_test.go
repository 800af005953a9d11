package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.byok")
	if err := WriteNew(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteNew(p, []byte("two"), 0o644); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want ErrExist", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "one" {
		t.Fatalf("content %q", b)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", st.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
}

func TestWriteNewMissingDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope", "out")
	if err := WriteNew(p, []byte("x"), 0o600); err == nil {
		t.Fatal("want error")
	}
}

func TestCommitDir(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "shares")
	tmp, err := TempDirFor(out)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tmp, "a"), []byte("a"), 0o600)
	if err := CommitDir(tmp, out); err != nil {
		t.Fatal(err)
	}
	tmp2, _ := os.MkdirTemp(dir, "x")
	if err := CommitDir(tmp2, out); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("got %v", err)
	}
	os.Mkdir(filepath.Join(dir, "empty"), 0o700)
	if err := CommitDir(tmp2, filepath.Join(dir, "empty")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("empty dir replaced: %v", err)
	}
}

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, v := range []string{"one", "two"} {
		if err := Replace(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != v {
			t.Fatalf("content %q, want %q", b, v)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
}

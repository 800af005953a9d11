package fsx

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/keyrite/keyrite/internal/base/fsx/fsxtest"
)

// TestWriteNewFullTmpfs is the case of the report: a 12,000-byte secret
// written where 8192 bytes are free. The write must fail with ENOSPC
// (matchable with errors.Is), leave no temporary file and no part of the
// secret, and not stop a later write once there is room.
func TestWriteNewFullTmpfs(t *testing.T) {
	dir := fsxtest.TinyFS(t, 64<<10, 0)
	unfill := fsxtest.Fill(t, dir, 8192)
	secret := make([]byte, 12000)
	rand.Read(secret)
	out := filepath.Join(dir, "secret-out.txt")
	err := WriteNew(out, secret, 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteNew on a full disk: %v, want ENOSPC", err)
	}
	if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after a failed write", out)
	}
	fsxtest.CheckClean(t, dir, secret)

	unfill()
	if err := WriteNew(out, secret, 0o600); err != nil {
		t.Fatalf("WriteNew once there is room: %v", err)
	}
	fsxtest.CheckClean(t, dir, nil, "secret-out.txt")
}

// TestReplaceFullTmpfs: a Replace that does not fit keeps the old version.
func TestReplaceFullTmpfs(t *testing.T) {
	dir := fsxtest.TinyFS(t, 64<<10, 0)
	p := filepath.Join(dir, "state.json")
	if err := Replace(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	fsxtest.Fill(t, dir, 8192)
	secret := make([]byte, 12000)
	rand.Read(secret)
	if err := Replace(p, secret, 0o600); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Replace on a full disk: %v, want ENOSPC", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("the old version was lost: %d bytes", len(b))
	}
	fsxtest.CheckClean(t, dir, secret, "state.json")
}

// TestBatchFullTmpfs: a directory output that fills the disk on its third
// file leaves nothing, and the error wraps ENOSPC.
func TestBatchFullTmpfs(t *testing.T) {
	dir := fsxtest.TinyFS(t, 64<<10, 0)
	fsxtest.Fill(t, dir, 8192)
	secret := make([]byte, 3000)
	rand.Read(secret)
	out := filepath.Join(dir, "shares")
	if err := writeBatch(out, secret); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("batch on a full disk: %v, want ENOSPC", err)
	}
	checkAbsent(t, out)
	fsxtest.CheckClean(t, dir, secret)
}

// TestWriteNewNoInodesTmpfs: a file system out of inodes (ENOSPC from
// creating the temporary file or directory) leaves nothing either.
func TestWriteNewNoInodesTmpfs(t *testing.T) {
	dir := fsxtest.TinyFS(t, 64<<10, 2) // the root and the filler
	fsxtest.Fill(t, dir, 8192)
	if err := WriteNew(filepath.Join(dir, "out"), []byte("x"), 0o600); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteNew without inodes: %v, want ENOSPC", err)
	}
	if err := writeBatch(filepath.Join(dir, "shares"), []byte("x")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("batch without inodes: %v, want ENOSPC", err)
	}
	fsxtest.CheckClean(t, dir, nil)
}

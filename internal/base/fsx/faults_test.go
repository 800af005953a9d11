package fsx

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keyrite/keyrite/internal/base/fsx/fsxfault"
	"github.com/keyrite/keyrite/internal/base/fsx/fsxtest"
)

// The faults every writer is tested under: each step of a write failing,
// ENOSPC where a full disk gives it, EIO where a failing one does.
func writeFaults(dir string) map[string]fsxfault.Fault {
	return map[string]fsxfault.Fault{
		"create":        {Op: fsxfault.Create},
		"write/none":    {Op: fsxfault.Write},
		"write/partial": {Op: fsxfault.Write, After: 8192},
		"chmod":         {Op: fsxfault.Chmod, Err: syscall.EPERM},
		"fsync":         {Op: fsxfault.Sync, Err: syscall.EIO},
		"link":          {Op: fsxfault.Link},
		"rename":        {Op: fsxfault.Rename},
		"fsync-dir":     {Op: fsxfault.SyncDir, Path: dir, Err: syscall.EIO},
		"close":         {Op: fsxfault.Close, Err: syscall.EIO},
	}
}

func newSecret(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkFailed checks the error of a write that a fault made fail: it wraps
// the fault's error and does not name a temporary file.
func checkFailed(t *testing.T, err error, f fsxfault.Fault) {
	t.Helper()
	checkFailedIn(t, err, f, false)
}

// checkFailedIn is checkFailed for a write into a temporary directory
// (batch), whose name the error may give.
func checkFailedIn(t *testing.T, err error, f fsxfault.Fault, batch bool) {
	t.Helper()
	want := f.Err
	if want == nil {
		want = syscall.ENOSPC
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want one wrapping %v", err, want)
	}
	if !batch && strings.Contains(err.Error(), ".tmp-") {
		t.Errorf("error names the temporary file: %v", err)
	}
}

func checkAbsent(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists after a failed write (%v)", path, err)
	}
}

// TestWriteNewFaults makes each step of WriteNew fail in turn: the output
// must not exist, no temporary file (dot-files included) or byte of the
// secret may stay, the error must wrap the cause, and a write once the fault
// is gone must succeed.
func TestWriteNewFaults(t *testing.T) {
	secret := newSecret(t, 12000)
	for name, f := range writeFaults("") {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if f.Op == fsxfault.SyncDir {
				f.Path = dir
			}
			out := filepath.Join(dir, "secret-out.txt")
			restore := fsxfault.Set(f)
			err := WriteNew(out, secret, 0o600)
			restore()
			if f.Op == fsxfault.Rename { // WriteNew links, it never renames
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkFailed(t, err, f)
			checkAbsent(t, out)
			fsxtest.CheckClean(t, dir, secret)
			if err := WriteNew(out, secret, 0o600); err != nil {
				t.Fatalf("after the fault: %v", err)
			}
		})
	}
}

// TestWriteNewTempNotRemovable: when the temporary file cannot be removed
// either, the error says so and names it, and it holds none of the data.
func TestWriteNewTempNotRemovable(t *testing.T) {
	secret := newSecret(t, 12000)
	for name, f := range map[string]fsxfault.Fault{
		"write":        {Op: fsxfault.Write, After: 8192},
		"after-link":   {Op: fsxfault.SyncDir, Err: syscall.EIO}, // the output is taken back
		"its-own-name": {},                                       // removing the temporary name after the link fails
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "secret-out.txt")
			// Every removal of the temporary file fails.
			faults := []fsxfault.Fault{{Op: fsxfault.Remove, Path: filepath.Join(dir, ".secret-out.txt.tmp-*"), Err: syscall.EIO}}
			if f.Op != "" {
				faults = append(faults, f)
			}
			restore := fsxfault.Set(faults...)
			err := WriteNew(out, secret, 0o600)
			restore()
			if err == nil {
				t.Fatal("no error")
			}
			if f.Op == fsxfault.Write && !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("error %v, want ENOSPC", err)
			}
			if !strings.Contains(err.Error(), "could not be removed") {
				t.Errorf("error does not say what was left: %v", err)
			}
			if u := UnwrapPathErr(err); !strings.Contains(u.Error(), "could not be removed") {
				t.Errorf("UnwrapPathErr drops what was left: %v", u)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Name() == "secret-out.txt" {
					continue
				}
				if !strings.Contains(err.Error(), filepath.Join(dir, e.Name())) {
					t.Errorf("%s left behind and not named in %v", e.Name(), err)
				}
				if st, _ := os.Stat(filepath.Join(dir, e.Name())); st.Size() != 0 {
					t.Errorf("%s left behind with %d bytes", e.Name(), st.Size())
				}
			}
		})
	}
}

// TestWriteNewOutputNotRemovable: when the directory fsync fails after the
// link and the output cannot be taken back, it stays whole (never
// truncated) and the error says so.
func TestWriteNewOutputNotRemovable(t *testing.T) {
	secret := newSecret(t, 5000)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	restore := fsxfault.Set(
		fsxfault.Fault{Op: fsxfault.SyncDir, Path: dir, Err: syscall.EIO},
		fsxfault.Fault{Op: fsxfault.Remove, Path: out, Err: syscall.EROFS},
	)
	err := WriteNew(out, secret, 0o600)
	restore()
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), out+" was written whole but could not be removed") {
		t.Fatalf("error %v", err)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, secret) {
		t.Errorf("the output was damaged: %d bytes", len(b))
	}
	fsxtest.CheckClean(t, dir, nil, "out")
}

// TestReplaceFaults: a failed Replace keeps the old version and leaves no
// temporary file; after the rename only a directory fsync can fail, and the
// new version is then in place.
func TestReplaceFaults(t *testing.T) {
	secret := newSecret(t, 12000)
	for name, f := range writeFaults("") {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if f.Op == fsxfault.SyncDir {
				f.Path = dir
			}
			p := filepath.Join(dir, "state.json")
			if err := Replace(p, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			restore := fsxfault.Set(f)
			err := Replace(p, secret, 0o600)
			restore()
			if f.Op == fsxfault.Link { // Replace renames, it never links
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkFailed(t, err, f)
			want := []byte("old")
			if f.Op == fsxfault.SyncDir || f.Op == fsxfault.Close {
				want = secret
				fsxtest.CheckClean(t, dir, nil, "state.json")
			} else {
				fsxtest.CheckClean(t, dir, secret, "state.json")
			}
			if b, _ := os.ReadFile(p); !bytes.Equal(b, want) {
				t.Errorf("content after the failure: %d bytes, want %d", len(b), len(want))
			}
		})
	}
}

// TestCommitDirFaults: a directory output whose rename or final directory
// fsync fails is not left at its path; the temporary directory stays, whole,
// for the caller to remove, as callers do.
func TestCommitDirFaults(t *testing.T) {
	secret := newSecret(t, 3000)
	for name, f := range map[string]fsxfault.Fault{
		"rename":    {Op: fsxfault.Rename},
		"fsync-dir": {Op: fsxfault.SyncDir, Err: syscall.EIO},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "shares")
			if f.Op == fsxfault.SyncDir {
				f.Path = dir // the commit's fsync, not the ones of the files in tmp
			}
			tmp, err := TempDirFor(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteNew(filepath.Join(tmp, "share-1"), secret, 0o600); err != nil {
				t.Fatal(err)
			}
			restore := fsxfault.Set(f)
			err = CommitDir(tmp, out)
			restore()
			checkFailed(t, err, f)
			checkAbsent(t, out)
			if b, _ := os.ReadFile(filepath.Join(tmp, "share-1")); !bytes.Equal(b, secret) {
				t.Fatalf("the temporary directory was not left whole for the caller")
			}
			os.RemoveAll(tmp)
			fsxtest.CheckClean(t, dir, secret)
		})
	}
}

// TestBatchFaults is how callers write a directory output (custody split,
// sd keygen, a byok batch): files into TempDirFor's directory, CommitDir,
// and RemoveAll of the temporary directory on any error. A disk that fills
// on the second file, or a failed commit, leaves nothing.
func TestBatchFaults(t *testing.T) {
	secret := newSecret(t, 3000)
	for name, f := range map[string]fsxfault.Fault{
		"mkdir":            {Op: fsxfault.Create},
		"second-file":      {Op: fsxfault.Write, After: 4000},
		"file-create":      {Op: fsxfault.Create, After: 1},
		"file-fsync-dir":   {Op: fsxfault.SyncDir, After: 1, Err: syscall.EIO},
		"commit":           {Op: fsxfault.Rename},
		"commit-fsync-dir": {Op: fsxfault.SyncDir, Err: syscall.EIO},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "shares")
			if name == "commit-fsync-dir" {
				f.Path = dir
			}
			restore := fsxfault.Set(f)
			err := writeBatch(out, secret)
			restore()
			checkFailedIn(t, err, f, true)
			checkAbsent(t, out)
			fsxtest.CheckClean(t, dir, secret)
		})
	}
}

// writeBatch writes three files into the new directory out, as callers do.
func writeBatch(out string, secret []byte) (err error) {
	tmp, err := TempDirFor(out)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	for _, n := range []string{"share-1", "share-2", "share-3"} {
		if err := WriteNew(filepath.Join(tmp, n), secret, 0o600); err != nil {
			return err
		}
	}
	return CommitDir(tmp, out)
}

func TestFaultsNotNested(t *testing.T) {
	restore := fsxfault.Set(fsxfault.Fault{Op: fsxfault.Sync})
	defer restore()
	defer func() {
		if recover() == nil {
			t.Error("a second Set did not panic")
		}
	}()
	fsxfault.Set(fsxfault.Fault{Op: fsxfault.Sync})
}

// Package fsx writes outputs the way a ceremony needs them written: never
// over an existing file, atomically (a reader sees nothing or everything), and
// durably (data and directory entry fsynced before success is reported).
//
// # Failures
//
// A write that fails at any step leaves nothing behind: not the output, and
// not the temporary file beside it, whether the disk filled part-way through
// the data or an fsync, chmod, close, link, rename or the final directory
// fsync failed (an output already linked into place is taken back;
// CommitDir moves a directory back to the caller's temporary directory, which
// the caller removes). A
// temporary file is truncated before it is removed, so that one that cannot
// be removed holds no data; the error then names it. Truncating frees the
// blocks, it does not overwrite them: clearing what reached the disk is
// beyond what a program can promise.
//
// Errors name the output (or its directory, for a directory fsync; the
// temporary file only when it is left behind) and wrap the system's error:
// on a full disk, errors.Is(err, syscall.ENOSPC) holds.
//
// Tests make any of these steps fail with package fsxfault, and run on a
// real full file system with package fsxtest.
package fsx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/keyrite/keyrite/internal/base/fsx/fsxfault"
	"golang.org/x/sys/unix"
)

// ErrExist is returned (wrapped) when an output already exists.
var ErrExist = fs.ErrExist

// WriteNew writes data to path with the given permissions. It fails with an
// error wrapping fs.ErrExist if path exists, and leaves nothing behind on
// any failure (see Failures): data goes to a temporary file in the same
// directory, is fsynced, then linked into place (link(2) refuses to
// replace), and the directory is fsynced.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return existErr(path)
	}
	t, err := createTemp(path)
	if err != nil {
		return err
	}
	if err := t.fill(data, perm); err != nil {
		return t.discard(err)
	}
	if err := do(fsxfault.Link, path, func() error { return os.Link(t.name, path) }); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return t.discard(existErr(path))
		}
		return t.discard(pathErr("link", path, err))
	}
	// The output exists from here, so a failure must also take it back: a
	// caller told that the write failed must find nothing at path. The
	// temporary name goes first, so that one directory fsync covers both.
	if err := t.removeName(); err != nil {
		return t.unpublish(pathErr("link", path, err))
	}
	if err := SyncDir(filepath.Dir(path)); err != nil {
		return t.unpublish(err)
	}
	if err := t.close(); err != nil {
		return t.unpublish(err)
	}
	return nil
}

// Replace writes data to path atomically, replacing any previous version:
// a reader sees the old content or the new, never a mix. Use it only for
// state that is meant to change (never for ceremony outputs: see WriteNew).
// A failure before the rename leaves the old version and no temporary file;
// once the rename is done the old version is gone, so a failed directory
// fsync is reported with the new version in place.
func Replace(path string, data []byte, perm os.FileMode) error {
	t, err := createTemp(path)
	if err != nil {
		return err
	}
	if err := t.fill(data, perm); err != nil {
		return t.discard(err)
	}
	if err := do(fsxfault.Rename, path, func() error { return os.Rename(t.name, path) }); err != nil {
		return t.discard(pathErr("rename", path, err))
	}
	t.name = "" // it is path now
	if err := SyncDir(filepath.Dir(path)); err != nil {
		t.f.Close()
		return err
	}
	return t.close()
}

// temp is a temporary file written beside an output, out.
type temp struct {
	out  string
	name string   // its name; "" once removed or renamed
	f    *os.File // nil once closed
	info os.FileInfo
}

func createTemp(out string) (*temp, error) {
	var f *os.File
	err := do(fsxfault.Create, out, func() (err error) {
		f, err = os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
		return err
	})
	if err != nil {
		return nil, pathErr("create", out, err)
	}
	t := &temp{out: out, name: f.Name(), f: f}
	if t.info, err = f.Stat(); err != nil {
		return nil, t.discard(pathErr("stat", out, err))
	}
	return t, nil
}

// fill writes data, sets perm and fsyncs: the file is then complete.
func (t *temp) fill(data []byte, perm os.FileMode) error {
	n, faultErr := fsxfault.Allow(len(data))
	if _, err := t.f.Write(data[:n]); err != nil {
		return pathErr("write", t.out, err)
	}
	if faultErr != nil {
		return pathErr("write", t.out, faultErr)
	}
	if err := do(fsxfault.Chmod, t.out, func() error { return t.f.Chmod(perm) }); err != nil {
		return pathErr("chmod", t.out, err)
	}
	if err := do(fsxfault.Sync, t.out, t.f.Sync); err != nil {
		return pathErr("fsync", t.out, err)
	}
	return nil
}

// close closes the file. The data is already fsynced, but a close can still
// report a write-back error (NFS), and that is a failure too.
func (t *temp) close() error {
	err := t.f.Close()
	t.f = nil
	if ferr := fsxfault.Check(fsxfault.Close, t.out); ferr != nil {
		err = ferr
	}
	if err != nil {
		return pathErr("close", t.out, err)
	}
	return nil
}

func (t *temp) removeName() error {
	err := do(fsxfault.Remove, t.name, func() error { return os.Remove(t.name) })
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	t.name = ""
	return nil
}

// discard removes the temporary file after the failure err and returns err,
// naming the file if it could not be removed. The data is truncated first,
// through the open file, so that a file left behind holds none of it; discard
// is never called while the file is also the output (see unpublish).
func (t *temp) discard(err error) error {
	if t.f != nil {
		t.f.Truncate(0)
		t.f.Close()
		t.f = nil
	}
	return t.dropName(err)
}

// dropName removes the temporary name, if it is still there, after err.
func (t *temp) dropName(err error) error {
	if t.name == "" {
		return err
	}
	if rerr := t.removeName(); rerr != nil {
		return withNote(err, fmt.Sprintf("the unfinished temporary file %s could not be removed (%v): remove it by hand", t.name, errno(rerr)))
	}
	return err
}

// unpublish takes the output back after a step that followed its link
// failed with err, then discards the temporary file. If path no longer names
// this file, it is someone else's and is left alone; if it cannot be removed,
// the output stays whole (never truncated) and err says so.
func (t *temp) unpublish(err error) error {
	st, lerr := os.Lstat(t.out)
	if lerr != nil || !os.SameFile(st, t.info) {
		return t.discard(err)
	}
	if rerr := do(fsxfault.Remove, t.out, func() error { return os.Remove(t.out) }); rerr != nil {
		if t.f != nil {
			t.f.Close()
			t.f = nil
		}
		return t.dropName(withNote(err, fmt.Sprintf("%s was written whole but could not be removed again (%v)", t.out, errno(rerr))))
	}
	return t.discard(err)
}

// CommitDir moves a fully written temporary directory tmp to path, failing
// (wrapping fs.ErrExist) if path exists. Both must be on one file system.
// Use TempDirFor to create tmp beside path. On any failure tmp is left for
// the caller to remove with its content, as it made it: when the rename
// succeeded but the directory fsync failed, the directory is first moved
// back to tmp, so that nothing is left at path.
func CommitDir(tmp, path string) error {
	if err := do(fsxfault.Rename, path, func() error { return renameNoReplace(tmp, path) }); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return pathErr("rename", path, err)
	}
	if err := SyncDir(filepath.Dir(path)); err != nil {
		if rerr := renameNoReplace(path, tmp); rerr != nil {
			return withNote(err, fmt.Sprintf("%s was moved into place but could not be moved back to %s (%v)", path, tmp, errno(rerr)))
		}
		return err
	}
	return nil
}

// renameNoReplace renames old to new, failing (wrapping fs.ErrExist) if new
// exists, even as an empty directory.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// File system without RENAME_NOREPLACE: check, then rename. rename(2)
		// would replace an empty directory, so the check is what refuses it.
		if _, statErr := os.Lstat(new); statErr == nil {
			return existErr(new)
		}
		err = os.Rename(old, new)
	}
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
		return existErr(new)
	}
	return err
}

// TempDirFor makes a temporary directory beside path, for CommitDir. It fails
// early if path already exists, so no work is done for an output that would be
// refused anyway.
func TempDirFor(path string) (string, error) {
	if _, err := os.Lstat(path); err == nil {
		return "", existErr(path)
	}
	var dir string
	err := do(fsxfault.Create, path, func() (err error) {
		dir, err = os.MkdirTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
		return err
	})
	if err != nil {
		return "", pathErr("mkdir", path, err)
	}
	return dir, nil
}

// SyncDir fsyncs a directory so that entries created in it survive a crash.
func SyncDir(dir string) error {
	return do(fsxfault.SyncDir, dir, func() error {
		d, err := os.Open(dir)
		if err != nil {
			return err
		}
		defer d.Close()
		if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
			return pathErr("fsync", dir, err)
		}
		return nil
	})
}

// do runs one step of a write, unless a test's fault (package fsxfault)
// makes it fail first; the fault's error is then returned as the step's.
func do(op fsxfault.Op, path string, step func() error) error {
	if err := fsxfault.Check(op, path); err != nil {
		if op == fsxfault.SyncDir {
			return pathErr("fsync", path, err)
		}
		return err
	}
	return step()
}

func existErr(path string) error {
	return fmt.Errorf("%s already exists: %w", path, fs.ErrExist)
}

// pathErr describes a failed step on path (the output, never a temporary
// name) around the system's error.
func pathErr(op, path string, err error) error {
	return &fs.PathError{Op: op, Path: path, Err: errno(err)}
}

// withNote adds what a failed clean-up left to err. An error from pathErr
// stays a *fs.PathError on the output, the note going with the system's
// error, so that UnwrapPathErr keeps it.
func withNote(err error, note string) error {
	if pe, ok := err.(*fs.PathError); ok {
		return &fs.PathError{Op: pe.Op, Path: pe.Path, Err: &notedErr{pe.Err, note}}
	}
	return fmt.Errorf("%w; %s", err, note)
}

type notedErr struct {
	err  error
	note string
}

func (e *notedErr) Error() string { return e.err.Error() + "; " + e.note }
func (e *notedErr) Unwrap() error { return e.err }

// errno strips the *fs.PathError, *os.LinkError or *os.SyscallError around
// err, whose text would name a temporary file.
func errno(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	case errors.As(err, &se):
		return se.Err
	}
	return err
}

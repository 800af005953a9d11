// Package fsx writes outputs the way a ceremony needs them written: never
// over an existing file, atomically (a reader sees nothing or everything), and
// durably (data and directory entry fsynced before success is reported).
package fsx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrExist is returned (wrapped) when an output already exists.
var ErrExist = fs.ErrExist

// WriteNew writes data to path with the given permissions. It fails with an
// error wrapping fs.ErrExist if path exists, and leaves no partial file behind
// on any failure: data goes to a temporary file in the same directory, is
// fsynced, then linked into place (link(2) refuses to replace), and the
// directory is fsynced.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists: %w", path, fs.ErrExist)
	}
	tmpName, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmpName)
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: %w", path, fs.ErrExist)
		}
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Replace writes data to path atomically, replacing any previous version:
// a reader sees the old content or the new, never a mix. Use it only for
// state that is meant to change (never for ceremony outputs: see WriteNew).
func Replace(path string, data []byte, perm os.FileMode) error {
	tmpName, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmpName)
	if err := os.Rename(tmpName, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// writeTemp writes data, fsynced and with perm, to a new temporary file in
// path's directory and returns its name. On error nothing is left behind.
func writeTemp(path string, data []byte, perm os.FileMode) (name string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	name = tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return "", err
	}
	if err = tmp.Chmod(perm); err != nil {
		return "", err
	}
	if err = tmp.Sync(); err != nil {
		return "", err
	}
	if err = tmp.Close(); err != nil {
		return "", err
	}
	return name, nil
}

// CommitDir moves a fully written temporary directory tmp to path, failing
// (wrapping fs.ErrExist) if path exists. Both must be on one file system.
// Use TempDirFor to create tmp beside path.
func CommitDir(tmp, path string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// File system without RENAME_NOREPLACE: check, then rename. rename(2)
		// would replace an empty directory, so the check is what refuses it.
		if _, statErr := os.Lstat(path); statErr == nil {
			return fmt.Errorf("%s already exists: %w", path, fs.ErrExist)
		}
		err = os.Rename(tmp, path)
	}
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
		return fmt.Errorf("%s already exists: %w", path, fs.ErrExist)
	}
	if err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// TempDirFor makes a temporary directory beside path, for CommitDir. It fails
// early if path already exists, so no work is done for an output that would be
// refused anyway.
func TempDirFor(path string) (string, error) {
	if _, err := os.Lstat(path); err == nil {
		return "", fmt.Errorf("%s already exists: %w", path, fs.ErrExist)
	}
	return os.MkdirTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
}

// SyncDir fsyncs a directory so that entries created in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}

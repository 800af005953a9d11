// Package fsxtest gives tests a real full file system: a small tmpfs mounted
// for one test, filled to a chosen number of free bytes, and a check that a
// failed write left nothing behind in it.
//
// Mounting needs root (or CAP_SYS_ADMIN); where it is not permitted the
// tests that ask for one are skipped, and the fault injection of package
// fsxfault covers the same paths.
package fsxtest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TinyFS mounts a tmpfs of size bytes (and at most inodes files, if not 0)
// on a new directory for the test and returns it; it is unmounted when the
// test ends. The test is skipped if mounting is not permitted.
func TinyFS(t testing.TB, size, inodes int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tinyfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := "mode=0755,size=" + strconv.Itoa(size)
	if inodes > 0 {
		opts += ",nr_inodes=" + strconv.Itoa(inodes)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		t.Skipf("cannot mount a tmpfs for a full-disk test (%v): the injected faults cover this", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// FillerName is the file Fill writes; CheckClean ignores it.
const FillerName = "zz-filler"

// Fill writes a file named FillerName into dir, on a file system from
// TinyFS, so that exactly free bytes stay available (free is rounded down to
// the block size). It returns a function that removes the filler, freeing
// the space again.
func Fill(t testing.TB, dir string, free int) (unfill func()) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * st.Bsize
	n := avail - int64(free)
	if n < 0 {
		t.Fatalf("fill %s: only %d bytes free, %d wanted", dir, avail, free)
	}
	p := filepath.Join(dir, FillerName)
	if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if got := int64(st.Bavail) * st.Bsize; got > int64(free) {
		t.Fatalf("fill %s: %d bytes still free, want at most %d", dir, got, free)
	}
	return func() {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
}

// CheckClean fails the test if anything under dir, dot-files included, is
// a temporary file of fsx's naming (".NAME.tmp-*"), is not one of the
// names in keep (paths relative to dir; FillerName is always kept), or holds
// secret (or its first 32 bytes: what a partial write leaves).
func CheckClean(t testing.TB, dir string, secret []byte, keep ...string) {
	t.Helper()
	allowed := map[string]bool{FillerName: true, "lost+found": true}
	for _, k := range keep {
		allowed[filepath.Clean(k)] = true
	}
	probe := secret
	if len(probe) > 32 {
		probe = probe[:32]
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("%s: a temporary file was left behind", rel)
		} else if !allowed[rel] && !d.IsDir() {
			t.Errorf("%s: left behind", rel)
		}
		if d.Type().IsRegular() && len(probe) > 0 && rel != FillerName {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.Contains(b, probe) {
				t.Errorf("%s: holds the secret (%d bytes)", rel, len(b))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

package fsx

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadLimited(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k.pem")
	os.WriteFile(p, []byte("abc"), 0o600)
	if b, err := ReadLimited(p, "key file", 16); err != nil || string(b) != "abc" {
		t.Fatalf("%q %v", b, err)
	}
	for _, c := range []struct{ path, want string }{
		{p + ".missing", "no such file"},
		{dir, "is a directory"},
		{"/dev/zero", "larger than"},
	} {
		if _, err := ReadLimited(c.path, "key file", 1024); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.path, err, c.want)
		}
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 2048), 0o600)
	if _, err := ReadLimited(big, "KEK file", 1024); err == nil || !strings.Contains(err.Error(), "KEK file "+big+": larger than 1 KiB") {
		t.Errorf("big: %v", err)
	}
}

func TestReadLimitedTooLargeSentinel(t *testing.T) {
	if _, err := ReadLimited("/dev/zero", "security domain", 1024); !errors.Is(err, ErrTooLarge) || err.Error() != "security domain /dev/zero: larger than 1 KiB" {
		t.Fatalf("%v", err)
	}
}

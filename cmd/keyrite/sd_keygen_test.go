package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keyrite/keyrite/internal/base/fsx/fsxfault"
	"github.com/keyrite/keyrite/transcripts"
)

// TestSDKeygenNothingHalfDone: when the step cannot be recorded after the
// keys were made (here the ceremony's artifacts cannot be written), the
// outputs are not published: no --out-dir, no temporary directory, no
// private key anywhere, no event; once the fault is gone the same command
// succeeds and its step verifies.
func TestSDKeygenNothingHalfDone(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "act")
	cer := filepath.Join(dir, "c")
	args := []string{"sd", "keygen", "--custodians", "3", "--quorum", "2", "--out-dir", out, "--ceremony", cer}

	undo := fsxfault.Set(fsxfault.Fault{Op: fsxfault.Link, Path: filepath.Join(cer, transcripts.ArtifactsDir, "*"), Err: syscall.EIO})
	code, stdout, stderr := runKeyrite(t, args...)
	undo()
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"keyrite: error: recording the step in ceremony " + cer + ": transcripts: writing artifact download_request.json: ",
		"input/output error; nothing was written to " + out + " (the software keys were discarded)\n",
		"keyrite: hint: fix the ceremony directory",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	names, _ := os.ReadDir(dir)
	for _, n := range names {
		if n.Name() != "c" {
			t.Errorf("left behind: %s", n.Name())
		}
	}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if data, _ := os.ReadFile(path); strings.Contains(string(data), "PRIVATE KEY") {
				t.Errorf("%s holds a private key", path)
			}
		}
		return nil
	})
	if rep, _ := transcripts.Verify(cer, nil); len(rep.Events) != 1 {
		t.Errorf("%d events, want only the opening record", len(rep.Events))
	}

	if code, stdout, stderr := runKeyrite(t, args...); code != 0 {
		t.Fatalf("again, without the fault: exit %d\n%s%s", code, stdout, stderr)
	}
	rep, err := transcripts.Verify(cer, nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if n := len(rep.Events); n != 2 || rep.Events[1].Step != "sd.keygen" {
		t.Fatalf("events: %+v", rep.Events)
	}
	if _, err := os.Stat(filepath.Join(out, "wrap_0.pem")); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/keyrite/keyrite/internal/base/fsx/fsxfault"
)

// A test hook, in the test binary only (which the CLI scripts run as
// keyrite): with KEYRITE_TEST_PAUSE_SIGN set to a file name pattern (e.g.
// "*.note"), `keyrite transcript sign` stops before it links a signature
// file matching it into signatures/, its temporary file complete, writes
// the path to the file KEYRITE_TEST_PAUSED names and waits to be killed. A
// script then kills it there (testdata/script/transcript_sign_killed.txt),
// as a crash or a kill -9 would.
func init() {
	pattern := os.Getenv("KEYRITE_TEST_PAUSE_SIGN")
	if pattern == "" {
		return
	}
	marker := os.Getenv("KEYRITE_TEST_PAUSED")
	fsxfault.SetHook(func(op fsxfault.Op, path string) {
		if op != fsxfault.Link || filepath.Base(filepath.Dir(path)) != "signatures" {
			return
		}
		if ok, _ := filepath.Match(pattern, filepath.Base(path)); !ok {
			return
		}
		os.WriteFile(marker, []byte(path), 0o644)
		time.Sleep(time.Hour) // not select{}: the runtime would call that a deadlock
	})
}

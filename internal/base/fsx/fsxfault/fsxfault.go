// Package fsxfault lets tests make package fsx fail the way a full or
// failing disk does: a write that stops after N bytes, an fsync, chmod,
// close, link, rename or directory fsync that returns an error. Tests of
// every writer use it to check that a failure leaves nothing behind, without
// needing permission to mount a small file system (see package fsxtest for
// the real one).
//
// fsx consults it before each of those steps; production code never sets a
// fault or a hook, and with none set a check is two atomic loads.
package fsxfault

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
)

// Op names a step of fsx's writes.
type Op string

// The steps a Fault can make fail.
const (
	Create  Op = "create"    // creating a temporary file or directory
	Write   Op = "write"     // writing a temporary file's data
	Chmod   Op = "chmod"     // setting its permissions
	Sync    Op = "fsync"     // fsyncing it
	Close   Op = "close"     // closing it
	Link    Op = "link"      // linking it into place (WriteNew)
	Rename  Op = "rename"    // renaming it or a directory into place (Replace, CommitDir)
	SyncDir Op = "fsync dir" // fsyncing the directory that holds an output
	Remove  Op = "remove"    // removing a temporary file after a failure
)

// A Fault makes one step fail.
type Fault struct {
	Op Op
	// After, for Write, is how many bytes are written (over all writes while
	// the fault is set, as on a disk that fills up) before writes fail; for
	// the other steps, how many calls succeed before every later one fails.
	After int
	// Path, if set, limits the fault to calls on paths it matches (a
	// filepath.Match pattern): the output for Create, Chmod, Sync, Close,
	// Link and Rename, the directory for SyncDir, the file removed for
	// Remove. It does not apply to Write.
	Path string
	// Err is the error returned; nil means ENOSPC.
	Err error
}

var (
	active atomic.Bool
	mu     sync.Mutex
	faults []*state
)

type state struct {
	Fault
	n int // bytes written (Write) or calls seen
}

// Set makes fsx fail as the faults say until restore is called. It panics
// if faults are already set: tests that set faults must not run in parallel
// with each other or with tests that expect fsx to succeed.
func Set(fs ...Fault) (restore func()) {
	mu.Lock()
	defer mu.Unlock()
	if active.Load() {
		panic("fsxfault: faults already set")
	}
	faults = nil
	for _, f := range fs {
		if f.Err == nil {
			f.Err = syscall.ENOSPC
		}
		faults = append(faults, &state{Fault: f})
	}
	active.Store(true)
	return func() {
		mu.Lock()
		defer mu.Unlock()
		faults = nil
		active.Store(false)
	}
}

var hook atomic.Pointer[func(Op, string)]

// SetHook makes fsx call h before each step it checks (with the step and
// its path), before any fault applies, until restore is called: a test can
// stop a write there, for instance to kill the process between a complete
// temporary file and its link into place (Link), as a crash would.
func SetHook(h func(op Op, path string)) (restore func()) {
	hook.Store(&h)
	return func() { hook.Store(nil) }
}

// Check is called by fsx before op on path; it returns the error the step
// must fail with, or nil.
func Check(op Op, path string) error {
	if h := hook.Load(); h != nil {
		(*h)(op, path)
	}
	if !active.Load() {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	for _, f := range faults {
		if f.Op != op || op == Write || (f.Path != "" && !match(f.Path, path)) {
			continue
		}
		f.n++
		if f.n > f.After {
			return f.Err
		}
	}
	return nil
}

// Allow is called by fsx before writing n bytes: it returns how many of
// them may be written, and the error to fail with after those (nil when all
// may be written).
func Allow(n int) (int, error) {
	if !active.Load() {
		return n, nil
	}
	mu.Lock()
	defer mu.Unlock()
	for _, f := range faults {
		if f.Op != Write {
			continue
		}
		room := max(f.After-f.n, 0)
		if n > room {
			f.n += room
			return room, f.Err
		}
		f.n += n
	}
	return n, nil
}

func match(pattern, path string) bool {
	ok, err := filepath.Match(pattern, path)
	return ok && err == nil
}

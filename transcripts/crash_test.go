package transcripts

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The crash tests re-run this test binary as a helper that records the test
// ceremony and dies (os.Exit, no deferred cleanup, like a kill) at the N-th
// step boundary, optionally after writing part of the line being appended.

const (
	envCrashDir  = "KEYRITE_TEST_CRASH_DIR"
	envCrashAt   = "KEYRITE_TEST_CRASH_AT"   // N: die at the N-th fault point
	envCrashMode = "KEYRITE_TEST_CRASH_MODE" // "exit" or "partial"
)

const crashExitCode = 42

func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("helper process for TestCrash")
	}
	at, _ := strconv.Atoi(os.Getenv(envCrashAt))
	mode := os.Getenv(envCrashMode)
	n := 0
	testFault = func(stage string, f *os.File, data []byte) {
		n++
		if n != at {
			return
		}
		fmt.Fprintf(os.Stderr, "crash at %s\n", stage)
		if mode == "partial" && stage == "line" {
			f.Write(data[:len(data)/2])
			f.Sync()
		}
		os.Exit(crashExitCode)
	}
	buildCeremony(t, dir, testOptions())
	fmt.Fprintf(os.Stderr, "completed after %d fault points\n", n)
}

func runCrashHelper(t *testing.T, dir string, at int, mode string) (crashed bool, stage string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashAt+"="+strconv.Itoa(at), envCrashMode+"="+mode)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == crashExitCode {
		s := string(out)
		if i := strings.Index(s, "crash at "); i >= 0 {
			s = strings.TrimSpace(strings.SplitN(s[i+len("crash at "):], "\n", 2)[0])
		}
		return true, s
	}
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	return false, ""
}

// TestCrash kills the recording at every step boundary (before each
// artifact is written, before the line, after the line is durable) and in
// the middle of writing each line, then checks that the directory verifies
// up to its last complete event, that every problem is marked as left by an
// interruption, that reopening closes it with one explicit aborted record,
// and that the ceremony can then be completed and verifies.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns helper processes")
	}
	total := len(testEvents(t)) + 1 // events plus the opening record
	for _, mode := range []string{"exit", "partial"} {
		for at := 1; ; at++ {
			dir := filepath.Join(t.TempDir(), "c")
			crashed, stage := runCrashHelper(t, dir, at, mode)
			if !crashed {
				if at < 5 {
					t.Fatalf("%s: the helper never reached fault point %d", mode, at)
				}
				break
			}
			if mode == "partial" && stage != "line" {
				continue // same as "exit" at this point
			}
			name := fmt.Sprintf("%s/%d/%s", mode, at, stage)
			t.Logf("crashed: %s", name)
			rep, err := Verify(dir, nil)
			complete := len(rep.Events)
			if err != nil {
				for _, p := range rep.Problems {
					if !p.Interrupted {
						t.Errorf("%s: problem not marked as interrupted: %s", name, p)
					}
				}
			}
			// Events before the crash all verify; the one being written does
			// not appear, or appears complete only after its line was synced.
			if complete < 1 || complete > total {
				t.Fatalf("%s: %d events verify", name, complete)
			}
			// Reopen: closes the interruption, then finish the ceremony.
			c, err := OpenWith(dir, testOptions())
			if err != nil {
				t.Fatalf("%s: reopening: %v", name, err)
			}
			rec := c.Recovered()
			if (rec != nil) != (err != nil || len(rep.Problems) > 0) {
				t.Errorf("%s: recovery %v, but verify problems %v", name, rec, rep.Problems)
			}
			if mode == "partial" && (rec == nil || len(rec.Torn) != 1) {
				t.Errorf("%s: want one torn line acknowledged, got %+v", name, rec)
			}
			done := complete - 1 // test events already recorded
			for _, ev := range testEvents(t)[done:] {
				if err := c.Record(ev); err != nil {
					t.Fatalf("%s: recording after recovery: %v", name, err)
				}
			}
			c.Close()
			rep, err = Verify(dir, nil)
			if err != nil {
				t.Fatalf("%s: after recovery: %v", name, err)
			}
			aborted := 0
			for _, e := range rep.Events {
				if e.Step == StepAborted {
					aborted++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[rec != nil]; aborted != want {
				t.Errorf("%s: %d aborted records, want %d", name, aborted, want)
			}
			if len(rep.Events) != total+aborted {
				t.Errorf("%s: %d events after completion, want %d", name, len(rep.Events), total+aborted)
			}
			// Reopening again changes nothing.
			c, err = OpenWith(dir, testOptions())
			if err != nil || c.Recovered() != nil {
				t.Fatalf("%s: second reopen: %v %v", name, err, c.Recovered())
			}
			c.Close()
		}
	}
}

// TestRecoverTempAndOrphan: a temporary file of an interrupted atomic write
// is removed and an artifact no event bound is kept under a new name and
// bound by the aborted record, freeing its name for the retried step.
func TestRecoverTempAndOrphan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	c, err := OpenWith(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	adir := filepath.Join(dir, ArtifactsDir)
	os.WriteFile(filepath.Join(adir, ".app-key.byok.tmp-123"), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(adir, "app-key.byok"), []byte(`{"half":"written"}`), 0o444)
	rep, err := Verify(dir, nil)
	if err == nil || len(rep.Problems) != 2 || !rep.Problems[0].Interrupted || !rep.Problems[1].Interrupted {
		t.Fatalf("verify before recovery: %v %+v", err, rep.Problems)
	}
	c, err = OpenWith(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec := c.Recovered()
	if rec == nil || len(rec.RemovedTemp) != 1 || len(rec.Orphans) != 1 || rec.Orphans[0] != "app-key.byok.orphan-2" {
		t.Fatalf("recovery: %+v", rec)
	}
	if err := c.Record(Event{Step: "byok.export", Action: "retried", Outputs: []Artifact{NewArtifact("app-key.byok", KindBYOK, readTestdata(t, "app-key.byok"))}}); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(dir, nil); err != nil {
		t.Fatalf("%v %+v", err, rep.Problems)
	}
}

// TestFirstOpenKilled: a first Open killed while it wrote the opening
// record leaves only its temporary transcript file; the next Open removes
// it and makes the ceremony (before, the directory counted as "not empty"
// and no ceremony could be made in it). Another file is still refused.
func TestFirstOpenKilled(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "."+TranscriptFile+".tmp-12345"), []byte(`{"v":1`), 0o640)
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := Verify(dir, nil); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, ".notes.tmp-1"), nil, 0o640)
	if _, err := Open(other); !errors.Is(err, ErrNotCeremony) {
		t.Fatalf("a foreign file: %v", err)
	}
}

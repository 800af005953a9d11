package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/transcripts"
)

const killKid = "https://keyrite-test.managedhsm.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"

// keyriteBinary is the real keyrite command: this test binary, which
// testscript.Main (TestMain) put in $PATH under that name.
func keyriteBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs and kills keyrite processes")
	}
	bin, err := exec.LookPath("keyrite")
	if err != nil {
		t.Fatalf("keyrite is not in $PATH: %v", err)
	}
	return bin
}

// killBatch is a batch of soft AES keys, named PREFIX1 ... PREFIXn.
type killBatch struct {
	keys     map[string][]byte // name -> key
	keysFile string
}

func newKillBatch(t *testing.T, dir, prefix string, n int) killBatch {
	t.Helper()
	b := killBatch{keys: map[string][]byte{}, keysFile: filepath.Join(dir, prefix+"-keys.txt")}
	kdir := filepath.Join(dir, prefix+"-keys")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		t.Fatal(err)
	}
	var list strings.Builder
	for i := 1; i <= n; i++ {
		k := make([]byte, 32)
		rand.Read(k)
		name := fmt.Sprintf("%s%d", prefix, i)
		p := filepath.Join(kdir, name+".bin")
		if err := os.WriteFile(p, k, 0o600); err != nil {
			t.Fatal(err)
		}
		b.keys[name] = k
		fmt.Fprintln(&list, p)
	}
	if err := os.WriteFile(b.keysFile, []byte(list.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b killBatch) command(bin, outDir, cdir string) *exec.Cmd {
	vec, _ := filepath.Abs(tuiVectors)
	cmd := exec.Command(bin, "byok", "export", "--keys", b.keysFile, "--kek", vec+"/byok/kek-rsa2048.pem", "--kid", killKid,
		"--out-dir", outDir, "--ceremony", cdir)
	cmd.Env = os.Environ()
	return cmd
}

// checkKilled checks what a killed batch left: the ceremony verifies, or
// fails only with what an interruption leaves (which the next open closes);
// no key is recorded twice; and the output, if published, holds exactly
// the recorded .byok of every key.
func checkKilled(t *testing.T, cdir, outDir string, batches ...killBatch) (state string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(cdir, transcripts.TranscriptFile)); errors.Is(err, fs.ErrNotExist) {
		// Killed before the ceremony was made: it is empty (or has only
		// the empty artifacts directory), and nothing is published.
		ents, _ := os.ReadDir(cdir)
		for _, e := range ents {
			if e.Name() != transcripts.ArtifactsDir {
				t.Fatalf("no transcript, but %s holds %s", cdir, e.Name())
			}
		}
		if _, err := os.Stat(outDir); err == nil {
			t.Fatal("the output was published, and the ceremony has no transcript")
		}
		return "no ceremony yet"
	}
	rep, err := transcripts.Verify(cdir, nil)
	if err != nil {
		for _, p := range rep.Problems {
			if !p.Interrupted {
				t.Fatalf("after a kill the ceremony does not verify, and not for an interruption: %s", p)
			}
		}
		state = "interrupted in the ceremony, "
	}
	recorded := map[string]string{} // .byok name -> sha256
	for _, e := range rep.Events {
		if e.Step != "byok.export" {
			continue
		}
		a := e.Outputs[0]
		if _, ok := recorded[a.Name]; ok {
			t.Fatalf("%s is recorded twice", a.Name)
		}
		recorded[a.Name] = a.SHA256
	}
	ents, err := os.ReadDir(outDir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("%s%d recorded, not published", state, len(recorded)/10*10)
	}
	n := 0
	for _, b := range batches {
		n += len(b.keys)
	}
	if len(ents) != n {
		t.Fatalf("the published output holds %d files, want all %d", len(ents), n)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(outDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum, ok := recorded[e.Name()]
		if !ok || fmt.Sprintf("%x", sha256Sum(data)) != sum {
			t.Fatalf("published %s is not recorded in the ceremony", e.Name())
		}
	}
	return state + "published"
}

// checkDone checks a completed batch: the ceremony verifies with no
// problem, records each key exactly once, and the output holds the recorded
// .byok files, which unwrap to the keys; no staging directory is left.
func checkDone(t *testing.T, cdir, outDir string, b killBatch) *transcripts.Report {
	t.Helper()
	rep, err := transcripts.Verify(cdir, nil)
	if err != nil {
		t.Fatalf("the completed ceremony does not verify: %v", err)
	}
	count := map[string]int{}
	for _, e := range rep.Events {
		if e.Step == "byok.export" {
			count[e.Outputs[0].Name]++
		}
	}
	sample := 0
	for name, key := range b.keys {
		if count[name+".byok"] != 1 {
			t.Fatalf("%s.byok is recorded %d times, want once", name, count[name+".byok"])
		}
		rec, err := rep.ReadArtifact(name + ".byok")
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(outDir, name+".byok")
		if data, err := os.ReadFile(out); err != nil || !bytes.Equal(data, rec) {
			t.Fatalf("%s differs from the recorded .byok (%v)", out, err)
		}
		if sample++; sample <= 5 && !bytes.Equal(tuiUnwrap(t, out), key) {
			t.Fatalf("%s does not unwrap to its key", out)
		}
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != len(b.keys) {
		t.Fatalf("%s holds %d files, want %d", outDir, len(ents), len(b.keys))
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(outDir), "."+filepath.Base(outDir)+".tmp-*")); len(m) > 0 {
		t.Fatalf("staging directories left: %v", m)
	}
	return rep
}

func randDuration(max time.Duration) time.Duration {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(max)+1))
	return time.Duration(n.Int64())
}

// TestBYOKExportKillLoop kills `keyrite byok export --ceremony` (the real
// binary, SIGKILL) at random points of a 50-key batch, again and again on
// the same directories, checking after each kill that the ceremony verifies
// (or shows only what an interruption leaves) and that nothing unrecorded
// is published; then a run to the end resumes the batch, and every key is
// recorded exactly once.
func TestBYOKExportKillLoop(t *testing.T) {
	bin := keyriteBinary(t)
	work := t.TempDir()
	b := newKillBatch(t, work, "k", 50)

	// How long a whole run takes here (the quicker of two, the first
	// being cold), to spread the kills over it.
	var full time.Duration
	for i := range 2 {
		start := time.Now()
		if out, err := b.command(bin, filepath.Join(work, fmt.Sprintf("scratch%d-out", i)), filepath.Join(work, fmt.Sprintf("scratch%d-c", i))).CombinedOutput(); err != nil {
			t.Fatalf("a full run: %v\n%s", err, out)
		}
		if d := time.Since(start); i == 0 || d < full {
			full = d
		}
	}
	t.Logf("a full run takes %v", full)

	// Rounds on fresh directories: in each, runs are killed until one
	// completes (or four were killed, and one runs to the end).
	deadline := time.Now().Add(20 * time.Second)
	kills, rounds, states := 0, 0, map[string]int{}
	for ; (kills < 20 || rounds < 5) && time.Now().Before(deadline); rounds++ {
		dir := filepath.Join(work, fmt.Sprintf("round%d", rounds))
		os.Mkdir(dir, 0o755)
		cdir, outDir := filepath.Join(dir, "c"), filepath.Join(dir, "out")
		for attempt := 0; attempt < 4; attempt++ {
			cmd := b.command(bin, outDir, cdir)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Later runs in a round resume: they have less to do.
			d := full
			if attempt > 0 {
				d = full * 3 / 4
			}
			time.Sleep(randDuration(d))
			cmd.Process.Kill()
			err := cmd.Wait()
			var ee *exec.ExitError
			if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == -1) {
				t.Fatalf("round %d, run %d: %v\n%s", rounds, attempt, err, stderr.String())
			}
			state := checkKilled(t, cdir, outDir, b)
			if err == nil {
				break
			}
			kills++
			states[state]++
		}
		if out, err := b.command(bin, outDir, cdir).CombinedOutput(); err != nil {
			t.Fatalf("round %d: the run to the end: %v\n%s", rounds, err, out)
		}
		checkDone(t, cdir, outDir, b)
	}
	t.Logf("%d rounds, %d kills; what they left: %v", rounds, kills, states)
	if kills < 5 || rounds < 3 {
		t.Fatalf("only %d runs were killed", kills)
	}
	// A run of a completed batch has nothing to do.
	dir := filepath.Join(work, "round0")
	out, err := b.command(bin, filepath.Join(dir, "out"), filepath.Join(dir, "c")).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("nothing to do")) {
		t.Fatalf("a run of the completed batch: %v\n%s", err, out)
	}
	checkDone(t, filepath.Join(dir, "c"), filepath.Join(dir, "out"), b)
}

// TestBYOKExportTwoBatchesOneCeremony starts two batches into one ceremony
// at once: the second to open it is refused before it does anything (no
// output, no staging directory, no event), and succeeds when run again;
// neither batch is split by the other's events.
func TestBYOKExportTwoBatchesOneCeremony(t *testing.T) {
	bin := keyriteBinary(t)
	work := t.TempDir()
	a, b := newKillBatch(t, work, "a", 30), newKillBatch(t, work, "b", 30)
	refused := 0
	for round := 0; round < 3; round++ {
		dir := filepath.Join(work, fmt.Sprintf("round%d", round))
		os.Mkdir(dir, 0o755)
		cdir := filepath.Join(dir, "c")
		outs := []string{filepath.Join(dir, "out-a"), filepath.Join(dir, "out-b")}
		cmds := []*exec.Cmd{a.command(bin, outs[0], cdir), b.command(bin, outs[1], cdir)}
		errs := make([]bytes.Buffer, 2)
		for i, c := range cmds {
			c.Stderr = &errs[i]
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		failed := -1
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				if failed >= 0 {
					t.Fatalf("both batches failed:\n%s\n%s", errs[0].String(), errs[1].String())
				}
				failed = i
			}
		}
		if failed >= 0 {
			refused++
			if !strings.Contains(errs[failed].String(), "is in use by another keyrite process") {
				t.Fatalf("the refused batch says:\n%s", errs[failed].String())
			}
			if _, err := os.Stat(outs[failed]); err == nil {
				t.Fatal("the refused batch published its output")
			}
			if m, _ := filepath.Glob(filepath.Join(dir, ".out-*.tmp-*")); len(m) > 0 {
				t.Fatalf("the refused batch left %v", m)
			}
			rep, err := transcripts.Verify(cdir, nil)
			if err != nil || len(rep.Events) != 31 {
				t.Fatalf("after one batch: %d events (want 31), %v", len(rep.Events), err)
			}
			c := []killBatch{a, b}[failed].command(bin, outs[failed], cdir)
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("the refused batch, run again: %v\n%s", err, out)
			}
		}
		repA := checkDone(t, cdir, outs[0], a)
		checkDone(t, cdir, outs[1], b)
		// Each batch's events are contiguous.
		var order []byte
		for _, e := range repA.Events {
			if e.Step == "byok.export" {
				if c := e.Outputs[0].Name[0]; len(order) == 0 || order[len(order)-1] != c {
					order = append(order, c)
				}
			}
		}
		if len(order) != 2 {
			t.Fatalf("the batches' events interleave: %s", order)
		}
	}
	t.Logf("%d of 3 rounds had a batch refused while the other held the ceremony", refused)
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

package transcripts

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// writeLargeCeremony writes a ceremony of n events quickly (one fsync at the
// end instead of one per event) with the same encoder Record uses: each
// event has parameters, a tool description and the KEK as an input.
func writeLargeCeremony(tb testing.TB, dir string, n int) {
	tb.Helper()
	opts := testOptions()
	c, err := OpenWith(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	kek := NewArtifact("kek.pem", KindKEK, readTestdata(tb, "kek.pem"))
	if err := c.Record(Event{Step: "kek.inspect", Action: "inspected the KEK", Inputs: []Artifact{kek}}); err != nil {
		tb.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, TranscriptFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 0; i < n-2; i++ {
		ev := Event{
			Step: "witness.confirm", Action: fmt.Sprintf("witness %d confirmed the KEK fingerprint aloud", i),
			Actor:  Actor{Name: "bob", Role: "witness"},
			Inputs: []Artifact{kek},
			Params: []Param{{"kid", "https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"}, {"round", fmt.Sprint(i)}},
			Result: "ok",
		}
		e := c.entry(ev, c.seq+1, c.prev)
		line, err := encodeEntry(e)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(line)
		w.WriteByte('\n')
		c.seq++
		c.prev = lineHash(line)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Sync()
	f.Close()
	c.Close()
}

// BenchmarkVerify100k verifies a 100,000-event transcript (about 60 MB) with
// a signed checkpoint over all of it, against a trust file.
func BenchmarkVerify100k(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "c")
	writeLargeCeremony(b, dir, 100000)
	op, wit, trust := goldenSigners(b)
	for _, s := range []*Signer{op, wit} {
		role := map[*Signer]string{op: "operator", wit: "witness"}[s]
		if _, err := SignWith(dir, s, role, testOptions()); err != nil {
			b.Fatal(err)
		}
	}
	st, _ := os.Stat(filepath.Join(dir, TranscriptFile))
	b.SetBytes(st.Size())
	cpu0, n := cpuTime(), 0
	for b.Loop() {
		rep, err := Verify(dir, trust)
		if err != nil || len(rep.Events) != 100000 {
			b.Fatalf("%v (%d events)", err, len(rep.Events))
		}
		n++
	}
	// CPU time per verification: on a shared machine, wall time measures
	// the neighbours.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(n), "cpu-s/op")
}

// cpuTime is this process's user+system CPU time: on a shared machine the
// wall clock says more about the neighbours than about Verify.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

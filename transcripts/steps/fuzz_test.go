package steps

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keyrite/keyrite/transcripts"
)

// FuzzParse: any line the transcript accepts reads as its step kind or is
// refused with an EntryError, and what reads re-encodes without panicking.
// Seeded with the golden lines.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.jsonl"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:len(b)-1])
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := transcripts.ParseEntry(line)
		if err != nil {
			return
		}
		s, err := Parse(e)
		if err != nil {
			if _, ok := err.(*EntryError); !ok {
				t.Fatalf("error %T: %v", err, err)
			}
			return
		}
		if s == nil {
			return
		}
		if s.Step() != e.Step {
			t.Fatalf("%s parsed as %s", e.Step, s.Step())
		}
		if ev := s.Event(); ev.Step != e.Step {
			t.Fatalf("%s re-encoded as %s", e.Step, ev.Step)
		}
		ClaimsOf(e)
	})
}

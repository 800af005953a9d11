package selftest

import (
	"errors"
	"strings"
	"testing"
)

func TestAllPass(t *testing.T) {
	r, err := run("")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Passed) != len(tests) {
		t.Fatalf("passed %v", r.Passed)
	}
	if !strings.HasPrefix(r.Summary(), "passed 9 known-answer tests (sha256, byok-unwrap") {
		t.Fatal(r.Summary())
	}
}

func TestForcedFailureStops(t *testing.T) {
	for _, k := range tests {
		_, err := run(k.name)
		if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), k.name) {
			t.Errorf("breaking %s: %v", k.name, err)
		}
	}
}

func BenchmarkRun(b *testing.B) {
	for b.Loop() {
		if _, err := run(""); err != nil {
			b.Fatal(err)
		}
	}
}

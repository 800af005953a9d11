package tui

import (
	"fmt"
	"testing"

	"github.com/keyrite/keyrite/ceremony"
)

// BenchmarkFirstFrame: a new model's first frame (goal: under 100 ms).
func BenchmarkFirstFrame(b *testing.B) {
	for b.Loop() {
		m := newTestModel(80, 24)
		_ = m.View()
	}
}

// BenchmarkRedraw10000: a redraw at 200x60 with 10,000 lines of history
// (goal: under 16 ms).
func BenchmarkRedraw10000(b *testing.B) {
	m := newTestModel(200, 60)
	for i := range 10000 {
		m.Update(showMsg{Kind: ceremony.Info, Text: fmt.Sprintf("line %d: custodian share opened (x=%d); the card may be removed", i, i%10)})
	}
	for b.Loop() {
		_ = m.View()
	}
}

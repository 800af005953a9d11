package audit

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyrite/keyrite/transcripts"
)

// BenchmarkFirstFrame: from the ceremony directory to the first frame at
// 80x24: Verify, replay's re-checks, the model and its view (goal: under
// 100 ms).
func BenchmarkFirstFrame(b *testing.B) {
	dir, trust := fixture(b)
	r := asciiRenderer()
	for b.Loop() {
		rep, _ := transcripts.Verify(dir, trust)
		m := New(rep, Options{Renderer: r, Width: 80, Height: 24})
		_ = m.View()
	}
}

// BenchmarkRedraw10000: a key press and the redraw it causes at 200x60
// with 10,000 events (goal: under 16 ms). Only the rows on screen are
// formatted.
func BenchmarkRedraw10000(b *testing.B) {
	m := New(synthetic(10000), Options{Renderer: asciiRenderer(), Width: 200, Height: 60})
	send(m, tea.KeyMsg{Type: tea.KeyEnd}, tea.KeyMsg{Type: tea.KeyPgUp})
	keys := []tea.Msg{tea.KeyMsg{Type: tea.KeyDown}, tea.KeyMsg{Type: tea.KeyUp}}
	i := 0
	for b.Loop() {
		m.Update(keys[i%2])
		i++
		_ = m.View()
	}
}

// BenchmarkSearch10000: one key typed into the search over 10,000 events,
// and the redraw.
func BenchmarkSearch10000(b *testing.B) {
	m := New(synthetic(10000), Options{Renderer: asciiRenderer(), Width: 200, Height: 60})
	send(m, keys("/"), keys("c"), keys("a"), keys("r"))
	msgs := []tea.Msg{keys("d"), tea.KeyMsg{Type: tea.KeyBackspace}}
	i := 0
	for b.Loop() {
		m.Update(msgs[i%2])
		i++
		_ = m.View()
	}
}

// BenchmarkFirstFrame10000: the model and its first frame at 200x60 over
// a verified report of 10,000 events (Verify's own time is transcripts').
func BenchmarkFirstFrame10000(b *testing.B) {
	rep := synthetic(10000)
	r := asciiRenderer()
	for b.Loop() {
		m := New(rep, Options{Renderer: r, Width: 200, Height: 60})
		_ = m.View()
	}
}

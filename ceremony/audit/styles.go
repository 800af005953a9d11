package audit

import "github.com/charmbracelet/lipgloss"

// styles are made with the model's renderer, so that its colour profile
// (Ascii under NO_COLOR, or when the output is no terminal) decides whether
// any escape sequence is written. Nothing is told by colour alone: every
// mark and state is also a character or a word.
type styles struct {
	title, dim, heading, ok, fail, warn, selected, tabOn, tabOff, key lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	return styles{
		title:    r.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
		dim:      r.NewStyle().Foreground(lipgloss.Color("8")),
		heading:  r.NewStyle().Bold(true),
		ok:       r.NewStyle().Foreground(lipgloss.Color("10")),
		fail:     r.NewStyle().Foreground(lipgloss.Color("9")).Bold(true),
		warn:     r.NewStyle().Foreground(lipgloss.Color("11")),
		selected: r.NewStyle().Reverse(true),
		tabOn:    r.NewStyle().Bold(true).Reverse(true),
		tabOff:   r.NewStyle().Foreground(lipgloss.Color("8")),
		key:      r.NewStyle().Bold(true),
	}
}

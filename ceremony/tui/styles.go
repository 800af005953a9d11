package tui

import "github.com/charmbracelet/lipgloss"

type styles struct {
	title, dim, rule, heading, info, success, warning, error, prompt, selected lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	return styles{
		title:    r.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
		dim:      r.NewStyle().Foreground(lipgloss.Color("8")),
		rule:     r.NewStyle().Foreground(lipgloss.Color("8")),
		heading:  r.NewStyle().Bold(true),
		info:     r.NewStyle(),
		success:  r.NewStyle().Foreground(lipgloss.Color("10")),
		warning:  r.NewStyle().Foreground(lipgloss.Color("11")),
		error:    r.NewStyle().Foreground(lipgloss.Color("9")).Bold(true),
		prompt:   r.NewStyle().Bold(true),
		selected: r.NewStyle().Reverse(true),
	}
}

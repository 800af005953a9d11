package audit

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key the auditor's view answers to. None of them changes
// the ceremony: the view has no action that writes.
type keyMap struct {
	Up, Down, PageUp, PageDown, Home, End key.Binding
	Details, List                         key.Binding
	NextView, PrevView                    key.Binding
	Events, Signatures, Problems          key.Binding
	Filter, Help, Quit                    key.Binding

	move key.Binding // the footer's one entry for ↑ and ↓
}

func newKeyMap() keyMap {
	return keyMap{
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:     key.NewBinding(key.WithKeys("pgup", "ctrl+b", "b"), key.WithHelp("pgup", "page up")),
		PageDown:   key.NewBinding(key.WithKeys("pgdown", "ctrl+f", "f", " "), key.WithHelp("pgdn", "page down")),
		Home:       key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("home/g", "first")),
		End:        key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("end/G", "last")),
		Details:    key.NewBinding(key.WithKeys("enter", "right", "l"), key.WithHelp("enter/→", "details")),
		List:       key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←", "back to the list")),
		NextView:   key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "views")),
		PrevView:   key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous view")),
		Events:     key.NewBinding(key.WithKeys("e", "1"), key.WithHelp("e/1", "events")),
		Signatures: key.NewBinding(key.WithKeys("s", "2"), key.WithHelp("s/2", "signatures")),
		Problems:   key.NewBinding(key.WithKeys("p", "3"), key.WithHelp("p/3", "problems")),
		Filter:     key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "search")),
		Help:       key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:       key.NewBinding(key.WithKeys("q", "esc", "ctrl+c"), key.WithHelp("q/esc", "quit (esc steps back first)")),
		move:       key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑↓", "move")),
	}
}

// ShortHelp is the footer line.
func (k keyMap) ShortHelp() []key.Binding {
	quit := key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit"))
	return []key.Binding{k.move, k.Details, k.NextView, k.Filter, k.Help, quit}
}

// FullHelp is the `?` overlay.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{k.Details, k.List, k.NextView, k.PrevView, k.Events, k.Signatures, k.Problems},
		{k.Filter, k.Help, k.Quit},
	}
}

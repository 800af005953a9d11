package ceremony

import (
	"errors"
	"strings"
)

// UI is what the engine needs from a face: show things, ask things, report
// progress. Implementations must never echo what AskSecret reads.
//
// Every method that asks returns ErrCancelled (possibly wrapped) when the
// person cancels (Esc, Ctrl-C, end of input); the engine then stops the flow
// without acting further.
type UI interface {
	// Show displays a message.
	Show(Message)
	// Confirm asks a yes/no question.
	Confirm(prompt string) (bool, error)
	// Choose asks to pick one of options and returns its index.
	Choose(prompt string, options []string) (int, error)
	// AskSecret reads a secret (a PIN) without echo. The caller clears it.
	AskSecret(prompt string) ([]byte, error)
	// AskText reads one line of text.
	AskText(prompt string) (string, error)
	// Progress reports that step is at done of total (total 0: unknown).
	Progress(step string, done, total int)
}

// ErrCancelled is returned when the person cancels.
var ErrCancelled = errors.New("ceremony: cancelled")

// Kind says how a message should be presented.
type Kind int

// Message kinds.
const (
	Info    Kind = iota // ordinary text
	Heading             // the start of a flow or step
	Success             // something was done and checked
	Warning             // something to look at before going on
	Error               // a refusal or failure; the flow may ask again
)

func (k Kind) String() string {
	switch k {
	case Heading:
		return "heading"
	case Success:
		return "ok"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return "info"
}

// A Message is something shown to the person. It never holds a secret.
type Message struct {
	Kind   Kind
	Title  string
	Text   string  // free text, may span lines
	Fields []Field // name/value pairs, shown aligned, in order
}

// A Field is one named value of a message, e.g. a fingerprint.
type Field struct {
	Name  string
	Value string
}

// String renders m as plain text: the form the plain face prints and the
// scripted face records.
func (m Message) String() string {
	var b strings.Builder
	prefix := ""
	switch m.Kind {
	case Heading:
		prefix = "== "
	case Success:
		prefix = "ok: "
	case Warning:
		prefix = "warning: "
	case Error:
		prefix = "error: "
	}
	if m.Title != "" {
		b.WriteString(prefix + m.Title + "\n")
		prefix = ""
	}
	if m.Text != "" {
		for _, l := range strings.Split(m.Text, "\n") {
			b.WriteString(prefix + l + "\n")
			prefix = ""
		}
	}
	w := 0
	for _, f := range m.Fields {
		w = max(w, len(f.Name))
	}
	for _, f := range m.Fields {
		lines := strings.Split(f.Value, "\n")
		b.WriteString("  " + f.Name + ":" + strings.Repeat(" ", w-len(f.Name)+1) + lines[0] + "\n")
		for _, l := range lines[1:] {
			b.WriteString("  " + strings.Repeat(" ", w+2) + l + "\n")
		}
	}
	return b.String()
}

// WordLines splits a word phrase into lines of n words, for display.
func WordLines(phrase string, n int) string {
	ws := strings.Fields(phrase)
	var lines []string
	for i := 0; i < len(ws); i += n {
		lines = append(lines, strings.Join(ws[i:min(i+n, len(ws))], " "))
	}
	return strings.Join(lines, "\n")
}

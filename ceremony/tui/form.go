package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"

	"github.com/keyrite/keyrite/ceremony"
)

// formRequest is a whole form from the engine. Its select options were
// computed in the engine's goroutine before it was sent, so that the
// Bubble Tea program runs no engine code concurrently (huh computes
// dynamic options and descriptions in commands, that is, other goroutines).
type formRequest struct {
	form  *ceremony.Form
	opts  map[string][]ceremony.Option // by field key
	first string                       // the first field's key
	reply chan error                   // buffered (1)
}

type formMsg *formRequest

// activeForm is a form on screen: the huh form and what the engine asked.
type activeForm struct {
	req    *formRequest
	huh    *huh.Form
	status string // the focused field's live check
	// checked is the field key and value status was computed for: a key
	// that changes neither (an arrow, a blink) does not check again.
	checked string
}

// newActiveForm builds the huh form: one group, a field per asked field,
// each bound to the engine's field so that answers are kept.
func newActiveForm(r *formRequest, width, height int) *activeForm {
	var fields []huh.Field
	for _, fl := range r.form.Fields {
		if fl.Skipped() {
			continue
		}
		if r.first == "" {
			r.first = fl.Key
		}
		fields = append(fields, huhField(fl, r.opts[fl.Key]))
	}
	g := huh.NewGroup(fields...)
	if r.form.Title != "" {
		g = g.Title(r.form.Title)
	}
	if r.form.Text != "" {
		g = g.Description(r.form.Text)
	}
	f := huh.NewForm(g).WithShowHelp(false).WithTheme(huh.ThemeBase()).WithWidth(max(20, width-2)).WithHeight(formHeight(height))
	return &activeForm{req: r, huh: f}
}

func huhField(fl *ceremony.FormField, opts []ceremony.Option) huh.Field {
	check := func(s string) error {
		if strings.TrimSpace(s) == "" && fl.Optional {
			return nil
		}
		return fl.Validate()
	}
	switch fl.Kind {
	case ceremony.SelectField:
		s := huh.NewSelect[string]().Key(fl.Key).Title(fl.Title).Value(&fl.Value).
			Options(huhOptions(opts, []string{fl.Value})...).
			Validate(func(string) error { return fl.Validate() })
		if fl.Help != "" {
			s = s.Description(fl.Help)
		}
		return s
	case ceremony.MultiSelectField:
		m := huh.NewMultiSelect[string]().Key(fl.Key).Title(fl.Title).Value(&fl.Values).
			Options(huhOptions(opts, fl.Values)...).Filterable(true).
			Validate(func([]string) error { return fl.Validate() })
		if fl.Help != "" {
			m = m.Description(fl.Help + " · space or x picks, / filters")
		}
		return m
	}
	in := huh.NewInput().Key(fl.Key).Title(fl.Title).Value(&fl.Value).
		Validate(func(s string) error {
			if fl.Kind == ceremony.PathField {
				fl.Value = ceremony.ExpandHome(s)
			}
			return check(fl.Value)
		})
	if fl.Help != "" {
		in = in.Description(fl.Help)
	}
	return in
}

func huhOptions(opts []ceremony.Option, selected []string) []huh.Option[string] {
	out := make([]huh.Option[string], len(opts))
	for i, o := range opts {
		sel := false
		for _, v := range selected {
			sel = sel || v == o.Value
		}
		out[i] = huh.NewOption(o.Label, o.Value).Selected(sel)
	}
	return out
}

// formKey handles a key while a form is on screen: Esc (or Shift-Tab on the
// first field) goes back a step, Ctrl-C cancels the flow, anything else goes
// to the form. It reports the answer when the form is done.
func (m *Model) formKey(k tea.KeyMsg) tea.Cmd {
	af := m.form
	switch k.String() {
	case "ctrl+c":
		m.cancel()
		return nil
	case "esc":
		// Esc first ends a list's filter; then it goes back a step.
		if f, ok := af.huh.GetFocusedField().(interface{ GetFiltering() bool }); ok && f.GetFiltering() {
			break
		}
		m.finishForm(ceremony.ErrBack)
		return nil
	case "shift+tab":
		if f := af.huh.GetFocusedField(); f != nil && f.GetKey() == af.req.first {
			m.finishForm(ceremony.ErrBack)
			return nil
		}
	}
	return m.updateForm(k)
}

// updateForm passes msg to the huh form and answers the engine when the
// form is complete.
func (m *Model) updateForm(msg tea.Msg) tea.Cmd {
	af := m.form
	fm, cmd := af.huh.Update(msg)
	af.huh = fm.(*huh.Form)
	if f := af.huh.GetFocusedField(); f != nil {
		v, _ := f.GetValue().(string)
		if k := f.GetKey() + "\x00" + v; k != af.checked {
			af.checked, af.status = k, m.fieldStatus()
		}
	}
	switch af.huh.State {
	case huh.StateCompleted:
		m.finishForm(nil)
	case huh.StateAborted:
		m.finishForm(ceremony.ErrCancelled)
	}
	return cmd
}

// fieldStatus is the focused field's live check of what is typed: its
// Status when valid, else the problem.
func (m *Model) fieldStatus() string {
	f := m.form.huh.GetFocusedField()
	if f == nil {
		return ""
	}
	fl := m.form.req.form.Field(f.GetKey())
	if fl == nil || fl.Kind == ceremony.SelectField || fl.Kind == ceremony.MultiSelectField {
		return ""
	}
	v, _ := f.GetValue().(string)
	if strings.TrimSpace(v) == "" {
		return ""
	}
	saved := fl.Value
	fl.Value = v
	if fl.Kind == ceremony.PathField {
		fl.Value = ceremony.ExpandHome(v)
	}
	defer func() { fl.Value = saved }()
	if err := fl.Validate(); err != nil {
		return "✗ " + err.Error()
	}
	if fl.Status != nil {
		if s := fl.Status(fl.Value); s != "" {
			return "✓ " + s
		}
	}
	return "✓"
}

func (m *Model) finishForm(err error) {
	af := m.form
	m.form = nil
	if err == nil {
		m.history = append(m.history, formRecord(af.req))
	}
	af.req.reply <- err
}

// formRecord is what stays in the history of an answered form.
func formRecord(r *formRequest) ceremony.Message {
	msg := ceremony.Message{Kind: ceremony.Info, Title: r.form.Title}
	label := func(key, v string) string {
		for _, o := range r.opts[key] {
			if o.Value == v {
				return o.Label
			}
		}
		return v
	}
	for _, fl := range r.form.Fields {
		if fl.Skipped() {
			continue
		}
		v := label(fl.Key, fl.Value)
		if fl.Kind == ceremony.MultiSelectField {
			var ls []string
			for _, x := range fl.Values {
				ls = append(ls, label(fl.Key, x))
			}
			v = strings.Join(ls, "\n")
		}
		msg.Fields = append(msg.Fields, ceremony.Field{Name: fl.Title, Value: v})
	}
	return msg
}

// formFooter is the form on screen, its focused field's live check and the
// keys; it takes at most two thirds of the screen, the history the rest.
func (m *Model) formFooter(w int) []string {
	lines := strings.Split(m.form.huh.View(), "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1] // huh pads the group to its height
	}
	if room := formHeight(m.height); len(lines) > room {
		lines = lines[:room]
	}
	if st := m.form.status; st != "" {
		style := m.st.success
		if strings.HasPrefix(st, "✗") {
			style = m.st.warning
		}
		for _, l := range wrap(st, w) {
			lines = append(lines, style.Render(l))
		}
	}
	return append(lines, m.st.dim.Render(clip("Enter next · Shift-Tab/Esc back · Ctrl-C cancel · F1 help · PgUp/PgDn scroll", w)))
}

// formHeight is how many lines a form may take: two thirds of the screen,
// the history the rest.
func formHeight(screen int) int { return max(6, screen*2/3-2) }

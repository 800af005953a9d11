// Package tui is the full-screen face of the ceremony engine, drawn with
// Bubble Tea and Lip Gloss. The engine runs in its own goroutine and calls
// the ceremony.UI methods of a bridge, which hand each question to the
// Bubble Tea program as a message and wait for the answer; the Model knows
// nothing of the flows.
//
// Keys: Enter answers; y and n answer a yes/no question; arrows (or j/k, h/l,
// Tab) move between choices; Ctrl-U clears the input; PgUp/PgDn scroll the
// history; Esc or Ctrl-C cancels the question (and so the flow).
//
// A secret (PIN) is never drawn: not its characters, not even its length.
package tui

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/keyrite/keyrite/ceremony"
)

type reqKind int

const (
	askConfirm reqKind = iota
	askChoose
	askText
	askSecret
)

// request is one question from the engine.
type request struct {
	kind    reqKind
	prompt  string
	options []string
	reply   chan reply // buffered (1): the model never blocks on it
}

type reply struct {
	ok     bool
	index  int
	text   string
	secret []byte
	err    error
}

// Messages the bridge sends to the model.
type (
	showMsg     ceremony.Message
	progressMsg struct {
		step        string
		done, total int
	}
	askMsg   *request
	doneMsg  struct{ err error }
	stepsMsg struct {
		steps   []string
		current int
	}
)

// Model is the Bubble Tea model of the guided ceremony.
type Model struct {
	st            styles
	width, height int
	history       []ceremony.Message
	progress      progressMsg
	req           *request
	cursor        int
	text          []rune
	secret        []byte
	scroll        int // lines scrolled up from the bottom of the history
	cancelled     bool
	done          bool
	err           error
	problem       string
	form          *activeForm // a form on screen, or nil
	steps         stepsMsg    // the flow's step list
	help          bool        // the help overlay is shown
}

// NewModel returns a model drawing with r (which fixes the colour profile)
// at the given size, until the first WindowSizeMsg says otherwise.
func NewModel(r *lipgloss.Renderer, width, height int) *Model {
	return &Model{st: newStyles(r), width: width, height: height}
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// Done reports whether the flow has finished, and its error.
func (m *Model) Done() (bool, error) { return m.done, m.err }

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		if m.form != nil {
			m.form.huh = m.form.huh.WithWidth(max(20, m.width-2)).WithHeight(formHeight(m.height))
		}
	case showMsg:
		m.history = append(m.history, ceremony.Message(msg))
		m.scroll = 0
	case progressMsg:
		m.progress = msg
	case askMsg:
		m.ask(msg)
	case formMsg:
		if m.cancelled {
			msg.reply <- ceremony.ErrCancelled
			return m, nil
		}
		m.form = newActiveForm(msg, m.width, m.height)
		return m, m.form.huh.Init()
	case stepsMsg:
		m.steps = msg
	case doneMsg:
		m.done, m.err = true, msg.err
		m.req = nil
	case tea.KeyMsg:
		if k := msg.String(); k == "f1" || (k == "?" && m.form == nil && m.req == nil || k == "?" && m.req != nil && m.req.kind != askText && m.req.kind != askSecret) {
			m.help = !m.help
			return m, nil
		}
		if m.help && (msg.Type == tea.KeyEsc || msg.String() == "q") {
			m.help = false
			return m, nil
		}
		if m.form != nil {
			return m, m.formKey(msg)
		}
		return m, m.key(msg)
	default:
		if m.form != nil {
			return m, m.updateForm(msg)
		}
	}
	return m, nil
}

func (m *Model) ask(r *request) {
	if m.cancelled {
		r.reply <- reply{err: ceremony.ErrCancelled}
		return
	}
	m.req, m.cursor, m.text, m.problem = r, 0, nil, ""
	m.wipeSecret()
	if r.kind == askConfirm {
		m.cursor = 1 // "no": a yes must be chosen deliberately
	}
}

func (m *Model) answer(rep reply) {
	// Keep the question and its answer in the history (a secret as hidden).
	a := ""
	switch m.req.kind {
	case askConfirm:
		a = "no"
		if rep.ok {
			a = "yes"
		}
	case askChoose:
		a = fmt.Sprintf("%d) %s", rep.index+1, m.req.options[rep.index])
	case askText:
		a = rep.text
	case askSecret:
		a = "(hidden)"
	}
	if rep.err == nil {
		m.history = append(m.history, ceremony.Message{Kind: ceremony.Info, Text: "? " + m.req.prompt + " → " + a})
	}
	m.req.reply <- rep
	m.req, m.text, m.problem = nil, nil, ""
}

// appendSecret adds typed characters to the secret, clearing the old buffer
// when it has to grow, so that no partial copy is left behind (best effort).
func (m *Model) appendSecret(s string) {
	if len(m.secret)+len(s) > cap(m.secret) {
		grown := make([]byte, len(m.secret), max(64, 2*(len(m.secret)+len(s))))
		copy(grown, m.secret)
		clear(m.secret)
		m.secret = grown
	}
	m.secret = append(m.secret, s...)
}

func (m *Model) wipeSecret() {
	clear(m.secret)
	m.secret = nil
}

func (m *Model) cancel() {
	m.cancelled = true
	if m.form != nil {
		m.finishForm(ceremony.ErrCancelled)
	}
	if m.req != nil {
		m.wipeSecret()
		m.answer(reply{err: ceremony.ErrCancelled})
	}
}

func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	switch k.Type {
	case tea.KeyCtrlC, tea.KeyEsc:
		if m.done {
			return tea.Quit
		}
		m.cancel()
		return nil
	case tea.KeyPgUp:
		m.scroll += max(1, m.historyHeight()-1)
		return nil
	case tea.KeyPgDown:
		m.scroll = max(0, m.scroll-max(1, m.historyHeight()-1))
		return nil
	}
	if m.done {
		if k.Type == tea.KeyEnter || k.String() == "q" {
			return tea.Quit
		}
		return nil
	}
	if m.req == nil {
		return nil
	}
	switch m.req.kind {
	case askConfirm:
		switch k.String() {
		case "y", "Y":
			m.answer(reply{ok: true})
		case "n", "N":
			m.answer(reply{ok: false})
		case "left", "right", "tab", "shift+tab", "h", "l":
			m.cursor = 1 - m.cursor
		case "enter":
			m.answer(reply{ok: m.cursor == 0})
		default:
			m.problem = "press y or n, or choose with the arrows and Enter"
		}
	case askChoose:
		switch s := k.String(); s {
		case "up", "k", "shift+tab":
			m.cursor = (m.cursor + len(m.req.options) - 1) % len(m.req.options)
		case "down", "j", "tab":
			m.cursor = (m.cursor + 1) % len(m.req.options)
		case "enter":
			m.answer(reply{index: m.cursor})
		default:
			if len(s) == 1 && s[0] >= '1' && s[0] <= '9' && int(s[0]-'1') < len(m.req.options) {
				m.cursor = int(s[0] - '1')
			}
		}
	case askText:
		switch k.Type {
		case tea.KeyRunes, tea.KeySpace:
			m.text = append(m.text, k.Runes...)
		case tea.KeyBackspace:
			if len(m.text) > 0 {
				m.text = m.text[:len(m.text)-1]
			}
		case tea.KeyCtrlU:
			m.text = nil
		case tea.KeyEnter:
			m.answer(reply{text: string(m.text)})
		}
	case askSecret:
		switch k.Type {
		case tea.KeyRunes, tea.KeySpace:
			m.appendSecret(string(k.Runes))
		case tea.KeyBackspace:
			// Remove the last character, not its last byte: a PIN or
			// password may hold non-ASCII letters.
			if len(m.secret) > 0 {
				_, n := utf8.DecodeLastRune(m.secret)
				clear(m.secret[len(m.secret)-n:])
				m.secret = m.secret[:len(m.secret)-n]
			}
		case tea.KeyCtrlU:
			m.wipeSecret()
		case tea.KeyEnter:
			s := m.secret
			m.secret = nil // the engine owns it now, and clears it
			m.answer(reply{secret: s})
		}
	}
	return nil
}

// View implements tea.Model.
func (m *Model) View() string {
	w := max(m.width, 20)
	if m.help {
		return m.helpView(w)
	}
	var b strings.Builder
	b.WriteString(m.header(w) + "\n")
	if sl := m.stepLine(w); sl != "" {
		b.WriteString(sl + "\n")
	}
	b.WriteString(m.st.rule.Render(strings.Repeat("─", w)) + "\n")
	h := m.historyHeight()
	hist := m.historyTail(w, h+m.scroll)
	scroll := min(m.scroll, max(0, len(hist)-h))
	end := len(hist) - scroll
	start := max(0, end-h)
	shown := hist[start:end]
	for i := 0; i < h-len(shown); i++ {
		b.WriteString("\n")
	}
	for _, l := range shown {
		b.WriteString(l + "\n")
	}
	b.WriteString(m.st.rule.Render(strings.Repeat("─", w)) + "\n")
	b.WriteString(strings.Join(m.footer(w), "\n"))
	return b.String()
}

// stepLine is the flow's step list: done steps ticked, the current one
// marked, the next ones plain; "" when no flow has set steps.
func (m *Model) stepLine(w int) string {
	if len(m.steps.steps) == 0 {
		return ""
	}
	var parts []string
	for i, s := range m.steps.steps {
		switch {
		case i < m.steps.current:
			parts = append(parts, m.st.success.Render("✓ "+s))
		case i == m.steps.current:
			parts = append(parts, m.st.selected.Render("▸ "+s))
		default:
			parts = append(parts, m.st.dim.Render("· "+s))
		}
	}
	line := strings.Join(parts, "  ")
	if lipgloss.Width(line) > w {
		// Too narrow for every name: the current step and the count.
		cur := min(m.steps.current, len(m.steps.steps)-1)
		line = clip(fmt.Sprintf("step %d of %d: %s", m.steps.current+1, len(m.steps.steps), m.steps.steps[cur]), w)
	}
	return line
}

// helpText is the help overlay's text.
const helpText = `Keys
  Enter        answer, or go to the next field
  Tab          next field          Shift-Tab   previous field (on the first: back a step)
  Esc          back to the previous step, answers kept
  ↑/↓ j/k      move in a list      space or x  pick in a multi-choice list
  /            filter a list       y / n       answer a yes/no question
  PgUp/PgDn    scroll the history  Ctrl-U      clear the input
  Ctrl-C       cancel the flow (nothing more is done)
  ? or F1      this help (Esc or q closes it)

Nothing is done before a summary is confirmed. PINs are never shown,
not even their length. Every answer and result stays in the history,
and is printed to the terminal when the screen closes.`

func (m *Model) helpView(w int) string {
	var b strings.Builder
	b.WriteString(m.header(w) + "\n")
	b.WriteString(m.st.rule.Render(strings.Repeat("─", w)) + "\n")
	for _, l := range strings.Split(helpText, "\n") {
		for _, wl := range wrap(l, w) {
			b.WriteString(wl + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func (m *Model) header(w int) string {
	left := m.st.title.Render("keyrite") + m.st.dim.Render(" · guided ceremony")
	right := ""
	if p := m.progress; p.step != "" {
		right = p.step
		if p.total > 0 {
			const barw = 10
			fill := min(barw, barw*p.done/p.total)
			right = fmt.Sprintf("%s %d/%d [%s%s]", p.step, p.done, p.total, strings.Repeat("#", fill), strings.Repeat(".", barw-fill))
		}
	}
	if lipgloss.Width(left)+lipgloss.Width(right) >= w && right != "" {
		// Narrow: the counter stays, the rest gives way.
		left = m.st.title.Render("keyrite")
		if p := m.progress; p.total > 0 {
			right = clip(fmt.Sprintf("%s %d/%d", p.step, p.done, p.total), max(1, w-lipgloss.Width(left)-1))
		} else {
			right = clip(right, max(1, w-lipgloss.Width(left)-1))
		}
	}
	gap := w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return left
	}
	return left + strings.Repeat(" ", gap) + m.st.dim.Render(right)
}

// footerLines is how many lines the footer takes.
func (m *Model) footerLines() int {
	return len(m.footer(max(m.width, 20)))
}

func (m *Model) historyHeight() int {
	extra := 0
	if len(m.steps.steps) > 0 {
		extra = 1
	}
	return max(1, m.height-3-extra-m.footerLines())
}

// historyTail is the last need lines of the history at width w (all of
// them when there are fewer): only the messages they come from are
// wrapped, so that a redraw costs the same with a long history.
func (m *Model) historyTail(w, need int) []string {
	start := len(m.history)
	n := 0
	for start > 0 && n < need {
		start--
		n += len(m.messageLines(m.history[start], w))
	}
	var lines []string
	for _, msg := range m.history[start:] {
		lines = append(lines, m.messageLines(msg, w)...)
	}
	return lines
}

func (m *Model) messageLines(msg ceremony.Message, w int) []string {
	msg = reflowWords(msg, w)
	st := m.st.info
	switch msg.Kind {
	case ceremony.Heading:
		st = m.st.heading
	case ceremony.Success:
		st = m.st.success
	case ceremony.Warning:
		st = m.st.warning
	case ceremony.Error:
		st = m.st.error
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(msg.String(), "\n"), "\n") {
		for _, wl := range wrap(l, w) {
			lines = append(lines, st.Render(wl))
		}
	}
	return lines
}

func (m *Model) footer(w int) []string {
	if m.done {
		if m.err != nil {
			return []string{m.st.error.Render(clip("stopped: "+m.err.Error(), w)), m.st.dim.Render("Enter or q to exit")}
		}
		return []string{m.st.success.Render("done"), m.st.dim.Render("Enter or q to exit")}
	}
	if m.form != nil {
		return m.formFooter(w)
	}
	if m.req == nil {
		if m.cancelled {
			return []string{m.st.warning.Render(clip("cancelling: the step under way finishes first (an HSM operation is not cut off halfway); nothing more is done after it", w)), ""}
		}
		return []string{m.st.dim.Render("working…"), m.st.dim.Render("PgUp/PgDn scroll · Esc cancel")}
	}
	var out []string
	for _, l := range wrap("? "+m.req.prompt, w) {
		out = append(out, m.st.prompt.Render(l))
	}
	var help string
	switch m.req.kind {
	case askConfirm:
		yes, no := "  yes  ", "  no  "
		if m.cursor == 0 {
			yes = m.st.selected.Render("> yes <")
		} else {
			no = m.st.selected.Render("> no <")
		}
		out = append(out, "  "+yes+"  "+no)
		help = "y/n or ←/→ and Enter · Esc cancel"
	case askChoose:
		for i, o := range m.req.options {
			line := fmt.Sprintf("  %d) %s", i+1, o)
			if i == m.cursor {
				out = append(out, m.st.selected.Render(clip(">"+line[1:], w)))
			} else {
				out = append(out, clip(line, w))
			}
		}
		help = "↑/↓ or number, Enter · Esc cancel"
	case askText:
		t := string(m.text)
		if room := w - 4; len([]rune(t)) > room {
			r := []rune(t)
			t = "…" + string(r[len(r)-room+1:])
		}
		out = append(out, "> "+t+"_")
		help = "Enter to answer · Ctrl-U clear · Esc cancel"
	case askSecret:
		out = append(out, "> "+m.st.dim.Render("(input hidden)"))
		help = "type it and press Enter; nothing is shown · Esc cancel"
	}
	if m.problem != "" {
		out = append(out, m.st.warning.Render(clip(m.problem, w)))
	}
	out = append(out, m.st.dim.Render(clip(help+" · PgUp/PgDn scroll", w)))
	return out
}

// wrap breaks s into lines of at most w cells, at spaces where possible,
// keeping the spacing within a line (aligned field values stay aligned);
// continuation lines are indented. A word too long for any line (a URL) is
// cut where the line ends.
func wrap(s string, w int) []string {
	if lipgloss.Width(s) <= w {
		return []string{s}
	}
	indent := len(s) - len(strings.TrimLeft(s, " "))
	cont := strings.Repeat(" ", min(indent+2, w/2))
	var lines []string
	cur := ""
	for _, tok := range wordRE.FindAllStringSubmatch(s, -1) {
		space, word := tok[1], tok[2]
		switch {
		case strings.TrimSpace(cur) == "":
			cur += space + word
		case lipgloss.Width(cur)+len(space)+lipgloss.Width(word) <= w:
			cur += space + word
		case lipgloss.Width(word) > w-len(cont):
			cur += space + word // cut below
		default:
			lines = append(lines, cur)
			cur = cont + word
		}
		for lipgloss.Width(cur) > w {
			r := []rune(cur)
			lines = append(lines, string(r[:w]))
			cur = cont + string(r[w:])
		}
	}
	if strings.TrimSpace(cur) != "" {
		lines = append(lines, cur)
	}
	return lines
}

var wordRE = regexp.MustCompile(`(\s*)(\S+)`)

func clip(s string, w int) string {
	r := []rune(s)
	if len(r) <= w {
		return s
	}
	return string(r[:max(0, w-1)]) + "…"
}

// reflowWords lays out the word lists of msg's fields (a field named
// "words" or "... words") for width w: groups of four words, as people read
// them aloud, as many groups to a line as fit, never a group cut.
func reflowWords(msg ceremony.Message, w int) ceremony.Message {
	nameW := 0
	for _, f := range msg.Fields {
		nameW = max(nameW, len(f.Name))
	}
	room := w - nameW - 4 // "  NAME: "
	var fields []ceremony.Field
	for _, f := range msg.Fields {
		if f.Name == "words" || strings.HasSuffix(f.Name, " words") {
			f.Value = groupWords(strings.Fields(f.Value), room)
		}
		fields = append(fields, f)
	}
	msg.Fields = fields
	return msg
}

func groupWords(ws []string, room int) string {
	var groups []string
	for i := 0; i < len(ws); i += 4 {
		groups = append(groups, strings.Join(ws[i:min(i+4, len(ws))], " "))
	}
	var lines []string
	cur := ""
	for _, g := range groups {
		switch {
		case cur == "":
			cur = g
		case len(cur)+2+len(g) <= room:
			cur += "  " + g
		default:
			lines = append(lines, cur)
			cur = g
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return strings.Join(lines, "\n")
}

// Package audit is the auditor's view of a ceremony directory: a read-only
// Bubble Tea model over what transcripts.Verify found and what
// transcripts/replay re-checked. The event list (searchable with `/`) sits
// beside, or at narrow widths above, the selected event's details: every
// recorded field, its artifacts with SHA-256 and words, parameters, HSM,
// the replay re-checks of the event and the problems that name it. Other
// views list the checkpoints with their signatures and the trust policy,
// and every problem.
//
// The model never writes: it is built from a *transcripts.Report (Verify
// opens files read-only and takes no lock) and its replay, which reads
// artifacts through Report.ReadArtifact. No key of the view acts on the
// ceremony.
package audit

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/replay"
)

// view is one of the tabs.
type view int

const (
	viewEvents view = iota
	viewSignatures
	viewProblems
	numViews
)

// sigState says how an event is covered by signatures.
type sigState int

const (
	sigNone   sigState = iota // no valid signature covers it
	sigValid                  // covered by valid signatures that do not meet the trust policy
	sigPolicy                 // covered by a checkpoint meeting the policy (without a trust file: by a valid signature)
)

// Marks, characters so that nothing is told by colour alone.
const (
	markSigned   = "✓"
	markPartial  = "~"
	markUnsigned = "·"
	markProblem  = "!"
)

// row is one event with what the view shows and searches of it, computed
// once: a frame formats only the rows on screen.
type row struct {
	entry    *transcripts.Entry
	checks   []replay.Check
	cp       *transcripts.CheckpointReport // the first checkpoint covering the event
	sig      sigState
	problems []transcripts.Problem
	failed   int    // failed re-checks
	hay      string // lower-case text the filter searches
	seq      string
	time     string // MM-DD hh:mm:ss of the operator's clock
	actor    string
}

// Options set up a Model.
type Options struct {
	// Renderer draws the styles; its colour profile decides whether any
	// escape sequence is written (lipgloss.NewRenderer(out) honours
	// NO_COLOR). Nil: lipgloss.DefaultRenderer().
	Renderer *lipgloss.Renderer
	// Width and Height are the first frame's size, until the terminal
	// reports its own (default 80x24).
	Width, Height int
	// Dir is the ceremony directory as the header shows it (default:
	// the report's).
	Dir string
}

// Model is the auditor's view. Create it with New.
type Model struct {
	rep  *transcripts.Report
	play *replay.Script
	dir  string

	r     *lipgloss.Renderer
	st    styles
	keys  keyMap
	help  help.Model
	input textinput.Model

	width, height int
	bodyH         int
	wide          bool
	listW         int
	listRows      int

	rows      []row
	shown     []int // indexes into rows that pass the filter
	cursor    int   // index into shown
	offset    int   // first shown row on screen
	query     string
	filtering bool

	view        view
	focusDetail bool
	showHelp    bool

	detail    viewport.Model // the selected event's details
	detailFor string         // what detail holds: "row:width"
	page      viewport.Model // the signatures or problems view
	pageFor   string

	sameDay      bool                  // every event on one date: the list shows times only
	loose        []transcripts.Problem // problems about no verified event
	failedChecks []replay.Check
}

// New builds the view of rep, re-checking its events with replay.
func New(rep *transcripts.Report, opts Options) *Model {
	r := opts.Renderer
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	if opts.Width <= 0 || opts.Height <= 0 {
		opts.Width, opts.Height = 80, 24
	}
	m := &Model{rep: rep, play: replay.Replay(rep), dir: opts.Dir, r: r, st: newStyles(r), keys: newKeyMap()}
	if m.dir == "" {
		m.dir = rep.Dir
	}
	m.help = help.New()
	m.help.Styles = help.Styles{
		Ellipsis: m.st.dim, ShortKey: m.st.key, ShortDesc: m.st.dim, ShortSeparator: m.st.dim,
		FullKey: m.st.key, FullDesc: r.NewStyle(), FullSeparator: m.st.dim,
	}
	m.input = textinput.New()
	m.input.Prompt = "/"
	m.input.Placeholder = "step, action, parameter, artifact, digest or words"
	m.input.PromptStyle = m.st.key
	m.input.TextStyle = r.NewStyle()
	m.input.PlaceholderStyle = m.st.dim
	m.input.Cursor.Style = r.NewStyle().Reverse(true)
	m.input.Cursor.TextStyle = r.NewStyle()
	m.input.Cursor.SetMode(cursor.CursorStatic)
	m.detail = viewport.New(1, 1)
	m.page = viewport.New(1, 1)
	m.buildRows()
	m.setQuery("")
	m.resize(opts.Width, opts.Height)
	return m
}

// Report is the verification report the view shows.
func (m *Model) Report() *transcripts.Report { return m.rep }

func (m *Model) buildRows() {
	rep := m.rep
	byLine := map[int64]int{}
	bySeq := map[int64]int{}
	m.rows = make([]row, len(rep.Events))
	policyMet := rep.Policy != nil && rep.Policy.Met
	for i := range rep.Events {
		e := &rep.Events[i]
		rw := &m.rows[i]
		rw.entry = e
		byLine[e.Line] = i
		bySeq[e.Seq] = i
		if i < len(m.play.Steps) {
			rw.checks = m.play.Steps[i].Checks
		}
		for _, c := range rw.checks {
			if !c.OK {
				rw.failed++
				m.failedChecks = append(m.failedChecks, c)
			}
		}
		for j := range rep.Checkpoints {
			if rep.Checkpoints[j].Size >= e.Line {
				rw.cp = &rep.Checkpoints[j]
				break
			}
		}
		switch {
		case rw.cp != nil && e.Line <= rep.Signed && (!rep.SignersChecked || policyMet):
			rw.sig = sigPolicy
		case rw.cp != nil:
			rw.sig = sigValid
		}
		rw.seq = strconv.FormatInt(e.Seq, 10)
		rw.time = shortTime(e.OperatorTime)
		rw.actor = e.Actor.Name
		if e.Actor.Role != "" {
			rw.actor += "/" + e.Actor.Role
		}
		rw.hay = haystack(e)
	}
	m.sameDay = len(rep.Events) > 0
	for i := range rep.Events {
		t, t0 := rep.Events[i].OperatorTime, rep.Events[0].OperatorTime
		if len(t) < 19 || len(t0) < 19 || t[:10] != t0[:10] {
			m.sameDay = false
			break
		}
	}
	if m.sameDay {
		for i := range m.rows {
			m.rows[i].time = m.rows[i].time[6:]
		}
	}
	for _, p := range rep.Problems {
		i, ok := -1, false
		if p.Seq > 0 {
			i, ok = bySeq[p.Seq]
		}
		if !ok && p.Line > 0 && p.File == transcripts.TranscriptFile {
			i, ok = byLine[p.Line]
		}
		if ok {
			m.rows[i].problems = append(m.rows[i].problems, p)
		} else {
			m.loose = append(m.loose, p)
		}
	}
}

// haystack is what the filter searches in an event, lower-cased.
func haystack(e *transcripts.Entry) string {
	var b strings.Builder
	add := func(s ...string) {
		for _, x := range s {
			b.WriteString(x)
			b.WriteByte('\n')
		}
	}
	add("#"+strconv.FormatInt(e.Seq, 10), e.Step, e.Action, e.Actor.Name, e.Actor.Role, e.OperatorTime, e.Result, e.Mechanism)
	for _, p := range e.Params {
		add(p.Name + "=" + p.Value)
	}
	for _, list := range [][]transcripts.ArtifactRef{e.Inputs, e.Outputs} {
		for _, a := range list {
			add(a.Name, string(a.Kind), a.SHA256, a.Words, artifactWords(a))
		}
	}
	if h := e.HSM; h != nil {
		add(h.ModulePath, h.ModuleSHA256, h.TokenLabel, h.Manufacturer, h.Model, h.Serial, h.Firmware)
	}
	add(e.Deviations...)
	if e.ActedOn != nil {
		add(e.ActedOn.RootHash)
	}
	return strings.ToLower(b.String())
}

func shortTime(t string) string {
	if len(t) >= 19 {
		return t[5:10] + " " + t[11:19]
	}
	return t
}

// setQuery filters the events: every space-separated term must occur
// (case-insensitively) in the event's step, action, actor, parameters,
// artifact names, kinds, digests or words, HSM or deviations. The
// selected event stays selected if it still matches.
func (m *Model) setQuery(q string) {
	sel := m.selected()
	m.query = q
	terms := strings.Fields(strings.ToLower(q))
	m.shown = m.shown[:0]
	for i := range m.rows {
		ok := true
		for _, t := range terms {
			if !strings.Contains(m.rows[i].hay, t) {
				ok = false
				break
			}
		}
		if ok {
			m.shown = append(m.shown, i)
		}
	}
	m.cursor = 0
	for k, i := range m.shown {
		if i == sel {
			m.cursor = k
			break
		}
	}
	m.offset = 0
	m.follow()
	m.sync()
}

// selected is the index of the selected row, or -1.
func (m *Model) selected() int {
	if m.cursor < 0 || m.cursor >= len(m.shown) {
		return -1
	}
	return m.shown[m.cursor]
}

// Selected is the selected event, or nil when the filter matches none.
func (m *Model) Selected() *transcripts.Entry {
	if i := m.selected(); i >= 0 {
		return m.rows[i].entry
	}
	return nil
}

// Shown is the number of events the filter lets through.
func (m *Model) Shown() int { return len(m.shown) }

const headerH = 4

func (m *Model) resize(w, h int) {
	m.width, m.height = max(w, 20), max(h, 8)
	m.bodyH = max(m.height-headerH-1, 3)
	m.wide = m.width >= 100
	var dw, dh int
	if m.wide {
		m.listW = min(max(m.width*9/20, 36), 72)
		m.listRows = m.bodyH - 1
		dw, dh = m.width-m.listW-3, m.bodyH-1
	} else {
		m.listW = m.width
		m.listRows = max((m.bodyH-2)/3, 1)
		dw, dh = m.width, max(m.bodyH-m.listRows-2, 1)
	}
	m.detail.Width, m.detail.Height = dw, dh
	m.page.Width, m.page.Height = m.width, m.bodyH
	m.help.Width = m.width
	m.input.Width = max(m.width-40, 8)
	m.follow()
	m.sync()
}

// follow scrolls the list so that the cursor is on screen.
func (m *Model) follow() {
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+m.listRows {
		m.offset = m.cursor - m.listRows + 1
	}
	m.offset = max(min(m.offset, len(m.shown)-m.listRows), 0)
}

// sync puts the selected event's details, and the current page, in their
// viewports when what they should hold changed.
func (m *Model) sync() {
	sel := m.selected()
	if k := fmt.Sprintf("%d:%d", sel, m.detail.Width); k != m.detailFor {
		m.detailFor = k
		if sel < 0 {
			msg := "no event matches the search"
			if len(m.rows) == 0 {
				msg = "no event verifies: see the problems (3)"
			}
			m.detail.SetContent(m.st.dim.Render(msg))
		} else {
			m.detail.SetContent(m.eventDetail(&m.rows[sel], m.detail.Width))
		}
		m.detail.GotoTop()
	}
	if k := fmt.Sprintf("%d:%d", m.view, m.page.Width); k != m.pageFor && m.view != viewEvents {
		m.pageFor = k
		if m.view == viewSignatures {
			m.page.SetContent(m.signaturesPage(m.page.Width))
		} else {
			m.page.SetContent(m.problemsPage(m.page.Width))
		}
		m.page.GotoTop()
	}
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
	case tea.KeyMsg:
		cmd := m.onKey(msg)
		m.sync()
		return m, cmd
	}
	return m, nil
}

func (m *Model) onKey(msg tea.KeyMsg) tea.Cmd {
	if msg.Type == tea.KeyCtrlC {
		return tea.Quit
	}
	if m.filtering {
		switch msg.Type {
		case tea.KeyEsc:
			m.filtering = false
			m.input.Blur()
			m.input.SetValue("")
			m.setQuery("")
			return nil
		case tea.KeyEnter:
			m.filtering = false
			m.input.Blur()
			return nil
		case tea.KeyUp, tea.KeyDown, tea.KeyPgUp, tea.KeyPgDown:
			m.move(msg)
			return nil
		}
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		if v := m.input.Value(); v != m.query {
			m.setQuery(v)
		}
		return cmd
	}
	if m.showHelp {
		if key.Matches(msg, m.keys.Help, m.keys.Quit) {
			m.showHelp = false
		}
		return nil
	}
	k := m.keys
	switch {
	case key.Matches(msg, k.Help):
		m.showHelp = true
	case key.Matches(msg, k.Quit):
		if msg.Type == tea.KeyEsc {
			// Esc steps back before it quits: out of the details, then
			// out of the search.
			switch {
			case m.focusDetail:
				m.focusDetail = false
				return nil
			case m.view != viewEvents:
				m.view = viewEvents
				return nil
			case m.query != "":
				m.input.SetValue("")
				m.setQuery("")
				return nil
			}
		}
		return tea.Quit
	case key.Matches(msg, k.Filter):
		m.view, m.focusDetail, m.filtering = viewEvents, false, true
		m.input.SetValue(m.query)
		m.input.CursorEnd()
		return m.input.Focus()
	case key.Matches(msg, k.NextView):
		m.view = (m.view + 1) % numViews
	case key.Matches(msg, k.PrevView):
		m.view = (m.view + numViews - 1) % numViews
	case key.Matches(msg, k.Events):
		m.view = viewEvents
	case key.Matches(msg, k.Signatures):
		m.view = viewSignatures
	case key.Matches(msg, k.Problems):
		m.view = viewProblems
	case key.Matches(msg, k.Details):
		if m.view == viewEvents && m.selected() >= 0 {
			m.focusDetail = true
		}
	case key.Matches(msg, k.List):
		m.focusDetail = false
	default:
		m.move(msg)
	}
	return nil
}

// move handles the movement keys: in the list, they move the selection;
// in the details or another view, they scroll.
func (m *Model) move(msg tea.KeyMsg) {
	k := m.keys
	if m.view != viewEvents || m.focusDetail {
		vp := &m.page
		if m.view == viewEvents {
			vp = &m.detail
		}
		switch {
		case key.Matches(msg, k.Up):
			vp.ScrollUp(1)
		case key.Matches(msg, k.Down):
			vp.ScrollDown(1)
		case key.Matches(msg, k.PageUp):
			vp.PageUp()
		case key.Matches(msg, k.PageDown):
			vp.PageDown()
		case key.Matches(msg, k.Home):
			vp.GotoTop()
		case key.Matches(msg, k.End):
			vp.GotoBottom()
		}
		return
	}
	c := m.cursor
	switch {
	case key.Matches(msg, k.Up):
		c--
	case key.Matches(msg, k.Down):
		c++
	case key.Matches(msg, k.PageUp):
		c -= m.listRows
	case key.Matches(msg, k.PageDown):
		c += m.listRows
	case key.Matches(msg, k.Home):
		c = 0
	case key.Matches(msg, k.End):
		c = len(m.shown) - 1
	default:
		return
	}
	m.cursor = max(min(c, len(m.shown)-1), 0)
	m.follow()
}

// View implements tea.Model. Only what is on screen is formatted: the
// list's visible rows and the viewports' visible lines.
func (m *Model) View() string {
	lines := make([]string, 0, m.height)
	lines = append(lines, m.header()...)
	var body []string
	switch {
	case m.showHelp:
		body = m.helpOverlay()
	case m.view == viewEvents && m.wide:
		left := m.listView()
		right := m.detailView()
		sep := m.st.dim.Render(" │ ")
		for i := range m.bodyH {
			l, r := "", ""
			if i < len(left) {
				l = left[i]
			} else {
				l = strings.Repeat(" ", m.listW)
			}
			if i < len(right) {
				r = right[i]
			}
			body = append(body, l+sep+r)
		}
	case m.view == viewEvents:
		body = append(m.listView(), m.detailView()...)
	default:
		body = strings.Split(m.page.View(), "\n")
	}
	for len(body) < m.bodyH {
		body = append(body, "")
	}
	lines = append(lines, body[:m.bodyH]...)
	lines = append(lines, m.footer())
	for i, l := range lines {
		lines[i] = trimRight(l)
	}
	return strings.Join(lines, "\n")
}

// trimRight drops trailing spaces (padding) so that golden screens and
// terminals agree; escape sequences are left alone.
func trimRight(s string) string { return strings.TrimRight(s, " ") }

func (m *Model) header() []string {
	rep := m.rep
	w := m.width
	st := m.st
	l1 := st.title.Render("keyrite auditor's view") + st.dim.Render(" (read-only)  ") + m.dir
	origin := rep.Origin
	if origin == "" {
		origin = "(none: the transcript's first line does not verify)"
	}
	l2 := st.dim.Render("origin ") + origin

	var parts []string
	if rep.OK {
		parts = append(parts, st.ok.Render("OK"))
	} else {
		parts = append(parts, st.fail.Render(fmt.Sprintf("FAILED (%d %s)", len(rep.Problems), plural(len(rep.Problems), "problem", "problems"))))
	}
	ev := fmt.Sprintf("%d %s", len(rep.Events), plural(len(rep.Events), "event", "events"))
	if int64(len(rep.Events)) < rep.Lines {
		ev += fmt.Sprintf(" of %d lines", rep.Lines)
	}
	parts = append(parts, ev)
	parts = append(parts, fmt.Sprintf("signed %d, unsigned %d", len(rep.Events)-rep.Unsigned, rep.Unsigned))
	switch {
	case !rep.SignersChecked:
		parts = append(parts, st.warn.Render("signers NOT CHECKED (no trust file)"))
	case rep.Policy != nil && rep.Policy.Met:
		parts = append(parts, st.ok.Render("policy met"))
	default:
		parts = append(parts, st.fail.Render("policy NOT met"))
	}
	if n := len(m.failedChecks); n > 0 {
		parts = append(parts, st.fail.Render(fmt.Sprintf("%d re-%s FAILED", n, plural(n, "check", "checks"))))
	} else {
		parts = append(parts, "re-checks ok")
	}
	l3 := strings.Join(parts, st.dim.Render(" · "))

	tabs := []string{
		fmt.Sprintf("1 Events %d", len(rep.Events)),
		fmt.Sprintf("2 Signatures %d", len(rep.Checkpoints)),
		fmt.Sprintf("3 Problems %d", len(rep.Problems)+len(m.failedChecks)),
	}
	var l4 strings.Builder
	for i, t := range tabs {
		if view(i) == m.view {
			l4.WriteString(st.tabOn.Render("[" + t + "]"))
		} else {
			l4.WriteString(st.tabOff.Render(" " + t + " "))
		}
		l4.WriteString(" ")
	}
	if m.query != "" && !m.filtering {
		l4.WriteString(st.dim.Render(" search: ") + m.query)
	}
	out := []string{l1, l2, l3, l4.String()}
	for i := range out {
		out[i] = ansi.Truncate(out[i], w, "…")
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// listView is the list's title and its visible rows, each exactly listW
// wide.
func (m *Model) listView() []string {
	st := m.st
	w := m.listW
	title := fmt.Sprintf("Events %d", len(m.shown))
	if len(m.shown) != len(m.rows) {
		title = fmt.Sprintf("Events %d of %d match", len(m.shown), len(m.rows))
	}
	if len(m.shown) > m.listRows {
		title += fmt.Sprintf("  (%d-%d)", m.offset+1, min(m.offset+m.listRows, len(m.shown)))
	}
	if !m.focusDetail {
		title = "» " + title
	}
	out := make([]string, 0, m.listRows+1)
	out = append(out, st.heading.Render(fit(title, w)))

	// Columns: cursor, signature mark, problem mark, seq, step, actor, time.
	seqW := len(strconv.Itoa(len(m.rows)))
	if n := len(m.rows); n > 0 {
		seqW = len(m.rows[n-1].seq)
	}
	rest := w - 6 - seqW - 1
	timeW, actorW := 14, 14
	if m.sameDay {
		timeW = 8
	}
	if rest < timeW+actorW+16 {
		timeW = 0
	}
	if rest < actorW+12 {
		actorW = 0
	}
	stepW := rest - timeW - actorW
	if timeW > 0 {
		stepW--
	}
	if actorW > 0 {
		stepW--
	}
	for k := m.offset; k < len(m.shown) && k < m.offset+m.listRows; k++ {
		rw := &m.rows[m.shown[k]]
		sel := k == m.cursor
		cur := "  "
		if sel {
			cur = "> "
		}
		var sig string
		switch rw.sig {
		case sigPolicy:
			sig = st.ok.Render(markSigned)
		case sigValid:
			sig = st.warn.Render(markPartial)
		default:
			sig = st.dim.Render(markUnsigned)
		}
		prob := " "
		if len(rw.problems) > 0 || rw.failed > 0 {
			prob = st.fail.Render(markProblem)
		}
		var b strings.Builder
		b.Grow(w)
		b.WriteString(padLeft(rw.seq, seqW))
		b.WriteByte(' ')
		b.WriteString(fit(rw.entry.Step, stepW))
		if actorW > 0 {
			b.WriteByte(' ')
			b.WriteString(fit(rw.actor, actorW))
		}
		if timeW > 0 {
			b.WriteByte(' ')
			b.WriteString(fit(rw.time, timeW))
		}
		text := b.String()
		if sel {
			text = st.selected.Render(text)
		}
		out = append(out, cur+sig+" "+prob+" "+text)
	}
	for len(out) < m.listRows+1 {
		out = append(out, strings.Repeat(" ", w))
	}
	return out
}

// detailView is the details' title and viewport.
func (m *Model) detailView() []string {
	title := "Details"
	if e := m.Selected(); e != nil {
		title = fmt.Sprintf("Event %d · %s", e.Seq, e.Step)
	}
	if m.focusDetail {
		title = "» " + title
	}
	if n := m.detail.TotalLineCount(); n > m.detail.Height {
		title += fmt.Sprintf("  (lines %d-%d of %d)", m.detail.YOffset+1, min(m.detail.YOffset+m.detail.Height, n), n)
	}
	w := m.detail.Width
	var t string
	if m.wide {
		t = m.st.heading.Render(fit(title, w))
	} else {
		s := ansi.Truncate("── "+title+" ", w, "…")
		t = m.st.heading.Render(s) + m.st.dim.Render(strings.Repeat("─", max(w-ansi.StringWidth(s), 0)))
	}
	return append([]string{t}, strings.Split(m.detail.View(), "\n")...)
}

func (m *Model) footer() string {
	if m.filtering {
		n := fmt.Sprintf("  %d of %d", len(m.shown), len(m.rows))
		return ansi.Truncate(m.input.View()+m.st.dim.Render(n+" · enter keeps, esc clears"), m.width, "…")
	}
	return ansi.Truncate(m.help.ShortHelpView(m.keys.ShortHelp()), m.width, "…")
}

// helpOverlay is the `?` screen: the keys and what the marks mean.
func (m *Model) helpOverlay() []string {
	inner := max(m.width-6, 10)
	h := m.help
	h.Width = inner
	var b strings.Builder
	b.WriteString(m.st.heading.Render("Keys") + m.st.dim.Render("  (? or esc closes)") + "\n")
	b.WriteString(h.FullHelpView(m.keys.FullHelp()) + "\n\n")
	b.WriteString(m.st.heading.Render("Marks in the event list") + "\n")
	legend := []string{
		markSigned + "  covered by a checkpoint meeting the trust policy (without a trust file: by a valid signature)",
		markPartial + "  covered only by valid signatures that do not meet the trust policy",
		markUnsigned + "  not covered by any valid signature",
		markProblem + "  a problem names the event, or a re-check of its artifacts failed",
	}
	for _, l := range legend {
		b.WriteString(wrapIndent(l, inner, "   ") + "\n")
	}
	b.WriteString("\nThis view never writes to the ceremony directory.")
	content := m.r.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(lipgloss.Color("8")).Padding(0, 1).Render(b.String())
	if lipgloss.Width(content) > m.width {
		content = b.String() // too narrow for a box
	}
	lines := strings.Split(m.r.PlaceHorizontal(m.width, lipgloss.Center, content), "\n")
	for i := range lines {
		lines[i] = ansi.Truncate(lines[i], m.width, "")
	}
	return lines
}

// fit cuts or pads plain text to exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		s = ansi.Truncate(s, w, "…")
		sw = ansi.StringWidth(s)
	}
	return s + strings.Repeat(" ", w-sw)
}

func padLeft(s string, w int) string {
	if n := w - len(s); n > 0 {
		return strings.Repeat(" ", n) + s
	}
	return s
}

// wrapIndent wraps plain text s to w cells at spaces (not at hyphens:
// "kek-public-key" stays whole), cutting words longer than a line, and
// continues lines with indent.
func wrapIndent(s string, w int, indent string) string {
	iw := ansi.StringWidth(indent)
	if w-iw < 8 {
		return s
	}
	lines := wrapText(s, w-iw)
	for i := 1; i < len(lines); i++ {
		lines[i] = indent + lines[i]
	}
	return strings.Join(lines, "\n")
}

func wrapText(s string, w int) []string {
	var lines []string
	var cur strings.Builder
	cw := 0
	flush := func() {
		lines = append(lines, cur.String())
		cur.Reset()
		cw = 0
	}
	for _, word := range strings.Fields(s) {
		ww := ansi.StringWidth(word)
		if cw > 0 && cw+1+ww > w {
			flush()
		}
		for ww > w {
			if cw > 0 {
				flush()
			}
			// Cut after a '/', '-' or '.' in the second half of the line
			// (a URL, a path), else at the width.
			n := w
			if head := ansi.Cut(word, 0, w); len(head) == w {
				if i := strings.LastIndexAny(head, "/-."); i >= w/2 {
					n = i + 1
				}
			}
			lines = append(lines, ansi.Cut(word, 0, n))
			word = ansi.Cut(word, n, ww)
			ww = ansi.StringWidth(word)
		}
		if cw > 0 {
			cur.WriteByte(' ')
			cw++
		}
		cur.WriteString(word)
		cw += ww
	}
	if cw > 0 || len(lines) == 0 {
		flush()
	}
	return lines
}

// sortedRoles lists a role count map as "operator 1/1, witness 0/1".
func sortedRoles(have, want map[string]int) string {
	roles := make([]string, 0, len(want))
	for r := range want {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	var parts []string
	for _, r := range roles {
		parts = append(parts, fmt.Sprintf("%s %d/%d", r, have[r], want[r]))
	}
	return strings.Join(parts, ", ")
}

// Run shows the auditor's view of rep full-screen on the terminal in/out
// until the user quits. It writes nothing but the screen.
func Run(in io.Reader, out io.Writer, rep *transcripts.Report) error {
	m := New(rep, Options{Renderer: lipgloss.NewRenderer(out)})
	p := tea.NewProgram(m, tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	if _, err := p.Run(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

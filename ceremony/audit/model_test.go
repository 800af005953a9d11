package audit

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/keyrite/keyrite/transcripts"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func keys(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

var (
	enter = tea.KeyMsg{Type: tea.KeyEnter}
	esc   = tea.KeyMsg{Type: tea.KeyEsc}
	down  = tea.KeyMsg{Type: tea.KeyDown}
	up    = tea.KeyMsg{Type: tea.KeyUp}
	pgdn  = tea.KeyMsg{Type: tea.KeyPgDown}
	pgup  = tea.KeyMsg{Type: tea.KeyPgUp}
	home  = tea.KeyMsg{Type: tea.KeyHome}
	end   = tea.KeyMsg{Type: tea.KeyEnd}
	tab   = tea.KeyMsg{Type: tea.KeyTab}
	bs    = tea.KeyMsg{Type: tea.KeyBackspace}
)

func send(m *Model, msgs ...tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	for _, msg := range msgs {
		_, cmd = m.Update(msg)
	}
	return cmd
}

// typed is a search typed one key at a time, as a person does.
func typed(s string) []tea.Msg {
	var out []tea.Msg
	for _, r := range s {
		out = append(out, keys(string(r)))
	}
	return out
}

func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func seqOf(t *testing.T, m *Model) int64 {
	t.Helper()
	e := m.Selected()
	if e == nil {
		t.Fatal("no event selected")
	}
	return e.Seq
}

// checkFrame: exactly h lines, none wider than w.
func checkFrame(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("%d lines, want %d:\n%s", len(lines), h, view)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, n, w, l)
		}
	}
}

func TestNavigation(t *testing.T) {
	dir, trust := fixture(t)
	m := newTestModel(t, dir, trust, 80, 24)
	// transcript.open, selftest, kek.inspect, byok.export, witness.confirm
	if got := seqOf(t, m); got != 1 {
		t.Fatalf("first selected %d, want 1", got)
	}
	send(m, down, down, down)
	if got := seqOf(t, m); got != 4 {
		t.Fatalf("after 3 downs: %d, want 4", got)
	}
	send(m, up)
	if got := seqOf(t, m); got != 3 {
		t.Fatalf("after up: %d", got)
	}
	send(m, end)
	if got := seqOf(t, m); got != 5 {
		t.Fatalf("end: %d", got)
	}
	send(m, down) // stays on the last
	if got := seqOf(t, m); got != 5 {
		t.Fatalf("down past the end: %d", got)
	}
	send(m, home)
	if got := seqOf(t, m); got != 1 {
		t.Fatalf("home: %d", got)
	}
	send(m, pgdn)
	if got := seqOf(t, m); got != 5 {
		t.Fatalf("pgdn: %d", got)
	}
	send(m, pgup, keys("j"), keys("G"), keys("k"), keys("g"))
	if got := seqOf(t, m); got != 1 {
		t.Fatalf("j G k g: %d", got)
	}

	// Enter moves into the details: the movement keys scroll them and
	// leave the selection alone; ← comes back.
	send(m, down, down, down, enter)
	if !m.focusDetail {
		t.Fatal("enter did not focus the details")
	}
	send(m, down, down, pgdn)
	if got := seqOf(t, m); got != 4 {
		t.Fatalf("scrolling the details moved the selection to %d", got)
	}
	if m.detail.YOffset == 0 {
		t.Error("the details did not scroll")
	}
	send(m, keys("h"))
	if m.focusDetail {
		t.Fatal("← did not return to the list")
	}
}

func TestListScrollsWithTheCursor(t *testing.T) {
	m := New(synthetic(500), Options{Renderer: asciiRenderer(), Width: 80, Height: 24})
	send(m, pgdn, pgdn, down)
	sel := seqOf(t, m)
	if sel != int64(2*m.listRows+2) {
		t.Fatalf("selected %d after two pages and a line (%d rows a page)", sel, m.listRows)
	}
	v := m.View()
	if !strings.Contains(v, "> ") {
		t.Fatalf("the cursor is off screen:\n%s", v)
	}
	send(m, end)
	if v := m.View(); !strings.Contains(v, "(496-500)") || !strings.Contains(v, "> ") {
		t.Fatalf("end:\n%s", v)
	}
}

func TestFilter(t *testing.T) {
	dir, trust := fixture(t)
	m := newTestModel(t, dir, trust, 120, 40)
	total := m.Shown()

	send(m, append([]tea.Msg{keys("/")}, typed("byok")...)...)
	if got := m.Shown(); got != 2 {
		t.Fatalf("'byok' matches %d events, want 2 (byok.export, witness.confirm)", got)
	}
	send(m, typed(" exp")...)
	if got := m.Shown(); got != 1 {
		t.Fatalf("'byok exp' matches %d events, want 1 (byok.export)", got)
	}
	if e := m.Selected(); e.Step != "byok.export" {
		t.Fatalf("selected %s", e.Step)
	}
	v := m.View()
	if !strings.Contains(v, "/byok exp") || !strings.Contains(v, "1 of 5") {
		t.Fatalf("the search line is not shown:\n%s", v)
	}
	send(m, enter)
	if m.filtering || m.Shown() != 1 {
		t.Fatal("enter did not keep the filter")
	}
	if v := m.View(); !strings.Contains(v, "search: byok exp") {
		t.Fatalf("the kept search is not shown:\n%s", v)
	}

	// A digest prefix finds the events binding the artifact; words too.
	rep := m.Report()
	kek := rep.Artifacts[0]
	if kek.Name != "kek.pem" {
		t.Fatalf("first artifact %s", kek.Name)
	}
	send(m, keys("/"), tea.KeyMsg{Type: tea.KeyCtrlU})
	send(m, typed(kek.SHA256[:10])...)
	if got := m.Shown(); got != 2 {
		t.Fatalf("the digest prefix matches %d events, want 2 (kek.inspect, byok.export)", got)
	}
	send(m, tea.KeyMsg{Type: tea.KeyCtrlU})
	send(m, typed(strings.Fields(kek.Words)[1]+" export")...)
	if got := m.Shown(); got != 1 || m.Selected().Step != "byok.export" {
		t.Fatalf("words and a term match %d events", got)
	}
	// Parameters and HSM fields are searched.
	send(m, tea.KeyMsg{Type: tea.KeyCtrlU})
	send(m, typed("OPS=ENCRYPT")...)
	if got := m.Shown(); got != 1 {
		t.Fatalf("a parameter matches %d events", got)
	}
	send(m, tea.KeyMsg{Type: tea.KeyCtrlU})
	send(m, typed("no such thing")...)
	if got := m.Shown(); got != 0 || m.Selected() != nil {
		t.Fatalf("nonsense matches %d events", got)
	}
	if v := m.View(); !strings.Contains(v, "no event matches the search") {
		t.Fatalf("no message for an empty result:\n%s", v)
	}
	send(m, bs, bs, bs, bs, bs, bs)
	if got := m.Shown(); got != 0 {
		t.Fatalf("'no such' matches %d", got)
	}

	// Esc while typing clears the search; the list is whole again.
	send(m, esc)
	if m.filtering || m.Shown() != total {
		t.Fatalf("esc left %d of %d shown", m.Shown(), total)
	}
	// Esc after a kept search clears it before it quits.
	send(m, keys("/"))
	send(m, typed("witness")...)
	send(m, enter)
	if cmd := send(m, esc); isQuit(cmd) || m.Shown() != total {
		t.Fatalf("esc with a search: quit %v, %d shown", isQuit(cmd), m.Shown())
	}
	if cmd := send(m, esc); !isQuit(cmd) {
		t.Fatal("esc without a search does not quit")
	}
}

func TestFilterKeepsTheSelection(t *testing.T) {
	dir, trust := fixture(t)
	m := newTestModel(t, dir, trust, 80, 24)
	send(m, down, down, down) // byok.export
	send(m, keys("/"))
	send(m, typed("kek")...)
	if got := seqOf(t, m); got != 4 {
		t.Fatalf("the selection moved to %d while it still matches", got)
	}
}

func TestDetails(t *testing.T) {
	dir, trust := fixture(t)
	m := newTestModel(t, dir, trust, 120, 40)
	send(m, down, down, down)
	e := m.Selected()
	if e.Step != "byok.export" {
		t.Fatalf("selected %s", e.Step)
	}
	d := m.eventDetail(&m.rows[m.selected()], 200)
	blob := e.Outputs[0]
	for _, want := range []string{
		"exported app-key wrapped under the KEK", "alice (operator)", "2026-01-02T03:04:09.000Z", e.Prev,
		"Inputs", "kek.pem (kek-public-key", "Outputs", "app-key.byok (byok, ", blob.SHA256, artifactWords(blob),
		"key_uri", "pkcs11:token=vendor;object=app-key", "ops", "CKM_RSA_AES_KEY_WRAP",
		"/usr/lib/softhsm/libsofthsm2.so", `"vendor"`, "SoftHSM project SoftHSM v2", "7e1a2b3c4d5e6f70",
		"checkpoint at size 5 meets the trust policy; alice (operator), bob (witness)",
		"Re-checks (replay)", "ok   app-key.byok: .byok vs KEK:", "ok   kek.pem: KEK: RSA-2048",
		"keyrite v0.0.0-test",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("details lack %q:\n%s", want, d)
		}
	}
	if artifactWords(blob) != blob.Words {
		t.Errorf("words of the digest %q, recorded %q", artifactWords(blob), blob.Words)
	}
	// On screen: the title and the first fields, in the right pane.
	v := m.View()
	for _, want := range []string{"Event 4 · byok.export", "exported app-key wrapped", "│"} {
		if !strings.Contains(v, want) {
			t.Errorf("screen lacks %q:\n%s", want, v)
		}
	}
	send(m, down)
	if d := m.eventDetail(&m.rows[m.selected()], 200); !strings.Contains(d, "! rehearsal: SoftHSM stands in") {
		t.Errorf("deviation not shown:\n%s", d)
	}
}

func TestSignaturesAndProblemsViews(t *testing.T) {
	dir, trust := fixture(t)
	m := newTestModel(t, dir, trust, 120, 40)
	send(m, keys("s"))
	v := m.View()
	for _, want := range []string{"[2 Signatures 1]", "Trust policy", "met  by the checkpoint at size 5", "operator 1/1, witness 1/1",
		"Checkpoint at size 5  policy met", "alice as operator: ed25519", "bob as witness", "valid, trusted", "signatures/5-"} {
		if !strings.Contains(v, want) {
			t.Errorf("signatures view lacks %q:\n%s", want, v)
		}
	}
	send(m, tab)
	if v := m.View(); !strings.Contains(v, "[3 Problems 0]") || !strings.Contains(v, "the transcript, its artifacts and signatures verify") {
		t.Errorf("problems view:\n%s", v)
	}
	send(m, tab)
	if m.view != viewEvents {
		t.Fatal("tab does not cycle back to the events")
	}
	send(m, tea.KeyMsg{Type: tea.KeyShiftTab})
	if m.view != viewProblems {
		t.Fatal("shift+tab")
	}
	// Esc from another view returns to the events, then quits.
	if cmd := send(m, esc); isQuit(cmd) || m.view != viewEvents {
		t.Fatal("esc from the problems view")
	}
}

// TestUnsignedAndPolicy: an event recorded after the signatures is marked
// unsigned, and names the problem; without a trust file the signers are
// not checked, and the header says so.
func TestUnsignedAndPolicy(t *testing.T) {
	dir, trust := fixture(t, transcripts.Event{Step: "note", Action: "added after signing"})
	m := newTestModel(t, dir, trust, 120, 40)
	last := &m.rows[len(m.rows)-1]
	if last.sig != sigNone || len(last.problems) != 1 {
		t.Fatalf("last event: sig %v, problems %v", last.sig, last.problems)
	}
	if m.rows[1].sig != sigPolicy {
		t.Fatalf("a signed event: %v", m.rows[1].sig)
	}
	v := m.View()
	for _, want := range []string{"FAILED (1 problem)", "signed 5, unsigned 1", "policy met", "✓", "· !"} {
		if !strings.Contains(v, want) {
			t.Errorf("screen lacks %q:\n%s", want, v)
		}
	}
	send(m, end)
	if d := m.eventDetail(&m.rows[m.selected()], 200); !strings.Contains(d, "NOT SIGNED by anyone") || !strings.Contains(d, "is not covered by a checkpoint meeting the trust policy") {
		t.Errorf("details of the unsigned event:\n%s", d)
	}

	m = newTestModel(t, dir, nil, 120, 40)
	if v := m.View(); !strings.Contains(v, "signers NOT CHECKED") {
		t.Errorf("no trust file:\n%s", v)
	}

	// A trust file that knows only bob: alice's signature is valid but
	// not trusted, and does not count.
	dir2, _ := fixture(t)
	wit, err := transcripts.NewTrust(trust.Keys[1:], map[string]int{"witness": 1})
	if err != nil {
		t.Fatal(err)
	}
	m = newTestModel(t, dir2, wit, 120, 40)
	if !m.Report().OK {
		t.Fatalf("witness policy: %v", m.Report().Problems)
	}
	// bob alone meets it; alice is not in this trust file.
	send(m, keys("s"))
	if v := m.View(); !strings.Contains(v, "alice as operator") || !strings.Contains(v, "NOT in the trust file") {
		t.Errorf("an untrusted signer:\n%s", v)
	}
}

// TestTampered: a changed transcript line and a changed artifact are shown:
// FAILED in the header, the problem in the problems view, and the event an
// artifact problem names is marked.
func TestTampered(t *testing.T) {
	t.Run("line", func(t *testing.T) {
		dir, trust := fixture(t)
		path := filepath.Join(dir, transcripts.TranscriptFile)
		data, _ := os.ReadFile(path)
		bad := bytes.Replace(data, []byte("inspected the KEK downloaded"), []byte("inspected the KEK uploaded!!"), 1)
		if bytes.Equal(bad, data) {
			t.Fatal("nothing tampered")
		}
		os.WriteFile(path, bad, 0o644)
		m := newTestModel(t, dir, trust, 80, 24)
		v := m.View()
		if !strings.Contains(v, "FAILED") {
			t.Errorf("header does not say FAILED:\n%s", v)
		}
		send(m, keys("p"))
		v = m.View()
		for _, want := range []string{"FAIL", "transcript.jsonl line 4", "Only the first 3 of 5 lines verify"} {
			if !strings.Contains(v, want) {
				t.Errorf("problems view lacks %q:\n%s", want, v)
			}
		}
	})
	t.Run("artifact", func(t *testing.T) {
		dir, trust := fixture(t)
		path := filepath.Join(dir, transcripts.ArtifactsDir, "app-key.byok")
		data, _ := os.ReadFile(path)
		data[len(data)/2] ^= 1
		os.WriteFile(path, data, 0o644)
		m := newTestModel(t, dir, trust, 120, 40)
		rw := &m.rows[3]
		if rw.entry.Step != "byok.export" || len(rw.problems) == 0 || rw.failed == 0 {
			t.Fatalf("byok.export: %d problems, %d failed re-checks", len(rw.problems), rw.failed)
		}
		v := m.View()
		if !strings.Contains(v, "✓ ! 4 byok.export") {
			t.Errorf("the event is not marked:\n%s", v)
		}
		send(m, down, down, down)
		d := m.eventDetail(rw, 200)
		if !strings.Contains(d, "FAIL app-key.byok: digest") || !strings.Contains(d, "artifacts/app-key.byok: file has sha256") {
			t.Errorf("details:\n%s", d)
		}
	})
}

func TestHelpOverlay(t *testing.T) {
	dir, trust := fixture(t)
	m := newTestModel(t, dir, trust, 80, 24)
	send(m, keys("?"))
	v := m.View()
	for _, want := range []string{"Keys", "search", "page down", "Marks in the event list", "never writes"} {
		if !strings.Contains(v, want) {
			t.Errorf("help lacks %q:\n%s", want, v)
		}
	}
	checkFrame(t, v, 80, 24)
	if cmd := send(m, keys("j")); isQuit(cmd) || !m.showHelp {
		t.Fatal("a key other than ? or esc closed the help")
	}
	send(m, keys("?"))
	if m.showHelp {
		t.Fatal("? did not close the help")
	}
	if cmd := send(m, keys("q")); !isQuit(cmd) {
		t.Fatal("q does not quit")
	}
	if cmd := send(m, tea.KeyMsg{Type: tea.KeyCtrlC}); !isQuit(cmd) {
		t.Fatal("ctrl+c does not quit")
	}
}

// TestResize: every view fits 80x24 and 120x40 (and a terminal in between),
// panes side by side from 100 columns, one above the other below.
func TestResize(t *testing.T) {
	dir, trust := fixture(t, transcripts.Event{Step: "note", Action: "added after signing"})
	m := newTestModel(t, dir, trust, 200, 60)
	for _, sz := range [][2]int{{80, 24}, {120, 40}, {99, 30}, {100, 30}, {200, 60}, {40, 12}} {
		send(m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		if m.wide != (sz[0] >= 100) {
			t.Errorf("%dx%d: wide %v", sz[0], sz[1], m.wide)
		}
		for _, k := range []string{"e", "s", "p", "?", "?", "e"} {
			send(m, keys(k))
			checkFrame(t, m.View(), sz[0], sz[1])
		}
		send(m, down, down, down)
		checkFrame(t, m.View(), sz[0], sz[1])
		send(m, keys("/"), keys("x"))
		checkFrame(t, m.View(), sz[0], sz[1])
		send(m, esc, home)
	}
}

// TestNoColor: with the Ascii profile (NO_COLOR) no view writes an escape
// sequence; with colours, the same views do use them.
func TestNoColor(t *testing.T) {
	dir, trust := fixture(t, transcripts.Event{Step: "note", Action: "added after signing"})
	rep, _ := transcripts.Verify(dir, trust)
	views := func(m *Model) []string {
		var out []string
		for _, msgs := range [][]tea.Msg{{}, {down, down, down}, {enter, pgdn}, {keys("s")}, {keys("p")}, {keys("?")}, {keys("?"), keys("/"), keys("k")}} {
			send(m, msgs...)
			out = append(out, m.View())
		}
		return out
	}
	for _, v := range views(New(rep, Options{Renderer: asciiRenderer(), Width: 120, Height: 40})) {
		if strings.Contains(v, "\x1b") {
			t.Fatalf("escape sequence with the Ascii profile:\n%q", v)
		}
	}
	r := lipgloss.NewRenderer(&bytes.Buffer{})
	r.SetColorProfile(termenv.ANSI256)
	if v := views(New(rep, Options{Renderer: r, Width: 120, Height: 40}))[0]; !strings.Contains(v, "\x1b[") {
		t.Fatal("no escape sequences with colours: are the styles applied?")
	}
	// NO_COLOR in the environment gives the Ascii profile to a renderer
	// made for an output, as Run makes it.
	t.Setenv("NO_COLOR", "1")
	if p := lipgloss.NewRenderer(&bytes.Buffer{}).ColorProfile(); p != termenv.Ascii {
		t.Fatalf("NO_COLOR: profile %v", p)
	}
}

// TestReadOnly: building the view and using every key changes nothing in
// the ceremony directory.
func TestReadOnly(t *testing.T) {
	dir, trust := fixture(t)
	before := snapshot(t, dir)
	m := newTestModel(t, dir, trust, 120, 40)
	for _, k := range []tea.Msg{down, down, down, enter, pgdn, keys("h"), keys("s"), keys("p"), keys("e"), keys("/"), keys("b"), enter, keys("?"), esc, end, home, keys("q")} {
		send(m, k)
		m.View()
	}
	if after := snapshot(t, dir); after != before {
		t.Fatalf("the directory changed:\nbefore %s\nafter  %s", before, after)
	}
}

func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b.WriteString(p + " " + info.Mode().String() + " " + info.ModTime().String())
		if !d.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.Write(data)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestGoldenScreens pins the screens at 80x24 and 120x40. Regenerate with
// `go test ./ceremony/audit -run Golden -update` and review the diff.
func TestGoldenScreens(t *testing.T) {
	cases := []struct {
		name  string
		extra []transcripts.Event
		msgs  []tea.Msg
	}{
		{name: "events", msgs: []tea.Msg{down, down, down}},
		{name: "details_scrolled", msgs: []tea.Msg{down, down, down, enter, pgdn}},
		{name: "search", msgs: append([]tea.Msg{keys("/")}, typed("kek")...)},
		{name: "signatures", msgs: []tea.Msg{keys("s")}},
		{name: "problems", extra: []transcripts.Event{{Step: "note", Action: "added after signing"}}, msgs: []tea.Msg{keys("p")}},
		{name: "unsigned", extra: []transcripts.Event{{Step: "note", Action: "added after signing"}}, msgs: []tea.Msg{end}},
		{name: "help", msgs: []tea.Msg{keys("?")}},
	}
	for _, tc := range cases {
		dir, trust := fixture(t, tc.extra...)
		for _, sz := range [][2]int{{80, 24}, {120, 40}} {
			name := fmt.Sprintf("%s_%dx%d", tc.name, sz[0], sz[1])
			t.Run(name, func(t *testing.T) {
				m := newTestModel(t, dir, trust, sz[0], sz[1])
				send(m, tc.msgs...)
				view := m.View()
				checkFrame(t, view, sz[0], sz[1])
				if strings.Contains(view, "\x1b[") {
					t.Error("escape sequences with the Ascii profile")
				}
				path := filepath.Join("testdata", name+".golden")
				if *update {
					if err := os.WriteFile(path, []byte(view), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if view != string(want) {
					t.Errorf("view differs from %s (run with -update to accept):\n%s", path, view)
				}
			})
		}
	}
}

func TestWrapText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		w    int
		want []string
	}{
		{"", 10, []string{""}},
		{"none: no artifact of a kind replay re-checks", 20, []string{"none: no artifact of", "a kind replay", "re-checks"}},
		{"kek.pem (kek-public-key, 451 bytes)", 16, []string{"kek.pem", "(kek-public-key,", "451 bytes)"}},
		{"abcdefghijklmnopqrstuvwxyz end", 10, []string{"abcdefghij", "klmnopqrst", "uvwxyz end"}},
		{"a ✓ b", 3, []string{"a ✓", "b"}},
		{"kid https://v.vault.azure.net/keys/kek-rsa2048/07a6 (match)", 24, []string{"kid", "https://v.vault.azure.", "net/keys/kek-rsa2048/", "07a6 (match)"}},
	} {
		if got := wrapText(tc.in, tc.w); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrapText(%q, %d) = %q, want %q", tc.in, tc.w, got, tc.want)
		}
	}
}

// TestEmptyReport: a report with no verified event (a transcript broken at
// its first line) still draws, at every size, and says where to look.
func TestEmptyReport(t *testing.T) {
	rep := &transcripts.Report{Dir: "/media/usb/c", Lines: 2, Problems: []transcripts.Problem{{File: transcripts.TranscriptFile, Line: 1, Message: "not JSON"}}}
	m := New(rep, Options{Renderer: asciiRenderer(), Width: 80, Height: 24})
	for _, sz := range [][2]int{{80, 24}, {120, 40}} {
		send(m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]}, down, end, enter, pgdn)
		v := m.View()
		checkFrame(t, v, sz[0], sz[1])
		if !strings.Contains(v, "FAILED (1 problem)") || !strings.Contains(v, "no event verifies") {
			t.Errorf("%dx%d:\n%s", sz[0], sz[1], v)
		}
		send(m, keys("p"))
		if v := m.View(); !strings.Contains(v, "transcript.jsonl line 1: not JSON") {
			t.Errorf("problems:\n%s", v)
		}
		send(m, keys("e"))
	}
}

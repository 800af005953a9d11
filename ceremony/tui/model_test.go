package tui

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/keyrite/keyrite/ceremony"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// newTestModel draws without colour (termenv Ascii) at a fixed size, so that
// views are stable across terminals.
func newTestModel(w, h int) *Model {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return NewModel(r, w, h)
}

func keys(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

var (
	enter     = tea.KeyMsg{Type: tea.KeyEnter}
	esc       = tea.KeyMsg{Type: tea.KeyEsc}
	down      = tea.KeyMsg{Type: tea.KeyDown}
	up        = tea.KeyMsg{Type: tea.KeyUp}
	right     = tea.KeyMsg{Type: tea.KeyRight}
	backspace = tea.KeyMsg{Type: tea.KeyBackspace}
	ctrlU     = tea.KeyMsg{Type: tea.KeyCtrlU}
)

func newReq(kind reqKind, prompt string, options ...string) *request {
	return &request{kind: kind, prompt: prompt, options: options, reply: make(chan reply, 1)}
}

func send(m *Model, msgs ...tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	for _, msg := range msgs {
		_, cmd = m.Update(msg)
	}
	return cmd
}

func got(t *testing.T, r *request) reply {
	t.Helper()
	select {
	case rep := <-r.reply:
		return rep
	default:
		t.Fatal("no answer")
	}
	return reply{}
}

func noAnswer(t *testing.T, r *request) {
	t.Helper()
	select {
	case rep := <-r.reply:
		t.Fatalf("unexpected answer %+v", rep)
	default:
	}
}

func TestConfirmDefaultsToNo(t *testing.T) {
	m := newTestModel(80, 24)
	r := newReq(askConfirm, "Do these words match?")
	send(m, askMsg(r), enter)
	if rep := got(t, r); rep.ok || rep.err != nil {
		t.Fatalf("Enter on the default gave %+v, want no", rep)
	}
	r = newReq(askConfirm, "again")
	send(m, askMsg(r), right, enter)
	if rep := got(t, r); !rep.ok {
		t.Fatal("→ then Enter should answer yes")
	}
	r = newReq(askConfirm, "again")
	send(m, askMsg(r), keys("x"))
	noAnswer(t, r)
	if !strings.Contains(m.View(), "press y or n") {
		t.Error("no hint after a stray key")
	}
	send(m, keys("y"))
	if rep := got(t, r); !rep.ok {
		t.Fatal("y should answer yes")
	}
}

func TestChoose(t *testing.T) {
	m := newTestModel(80, 24)
	r := newReq(askChoose, "Pick", "a", "b", "c")
	send(m, askMsg(r), down, down, enter)
	if rep := got(t, r); rep.index != 2 {
		t.Fatalf("got %d", rep.index)
	}
	r = newReq(askChoose, "Pick", "a", "b", "c")
	send(m, askMsg(r), up)
	if !strings.Contains(m.View(), ">  3) c") && !strings.Contains(m.View(), "> 3) c") {
		t.Errorf("↑ from the first option should wrap to the last:\n%s", m.View())
	}
	send(m, keys("2"), enter)
	if rep := got(t, r); rep.index != 1 {
		t.Fatalf("got %d", rep.index)
	}
	r = newReq(askChoose, "Pick", "a", "b")
	send(m, askMsg(r), keys("9"), enter)
	if rep := got(t, r); rep.index != 0 {
		t.Fatalf("an out-of-range number moved the cursor: %d", rep.index)
	}
}

func TestText(t *testing.T) {
	m := newTestModel(80, 24)
	r := newReq(askText, "KEK file")
	send(m, askMsg(r), keys("kek.pemx"), backspace)
	if !strings.Contains(m.View(), "> kek.pem_") {
		t.Errorf("input not shown:\n%s", m.View())
	}
	send(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(" pasted"), Paste: true}, enter)
	if rep := got(t, r); rep.text != "kek.pem pasted" {
		t.Fatalf("got %q", rep.text)
	}
	r = newReq(askText, "again")
	send(m, askMsg(r), keys("abc"), ctrlU, keys("d"), enter)
	if rep := got(t, r); rep.text != "d" {
		t.Fatalf("got %q", rep.text)
	}
}

func TestSecretIsNeverDrawn(t *testing.T) {
	m := newTestModel(80, 24)
	r := newReq(askSecret, "PIN for token \"custodian-1\"")
	send(m, askMsg(r), keys("4826"), keys("1"), backspace, keys("97"))
	v := m.View()
	for _, leak := range []string{"4826", "482697", "*", "•", "6 characters"} {
		if strings.Contains(v, leak) {
			t.Fatalf("the view shows %q:\n%s", leak, v)
		}
	}
	if !strings.Contains(v, "(input hidden)") {
		t.Errorf("no hidden-input marker:\n%s", v)
	}
	send(m, enter)
	rep := got(t, r)
	if string(rep.secret) != "482697" {
		t.Fatalf("got %q", rep.secret)
	}
	if m.secret != nil {
		t.Error("the model kept the secret")
	}
	// Backspace removes a whole character, however many bytes it takes.
	r = newReq(askSecret, "password for wrap_0.pem")
	send(m, askMsg(r), keys("pässé"), backspace, backspace, keys("x"), enter)
	if rep := got(t, r); string(rep.secret) != "päsx" {
		t.Fatalf("got %q, want %q", rep.secret, "päsx")
	}
}

func TestCancel(t *testing.T) {
	m := newTestModel(80, 24)
	r := newReq(askSecret, "PIN")
	send(m, askMsg(r), keys("12"), esc)
	if rep := got(t, r); !errors.Is(rep.err, ceremony.ErrCancelled) || rep.secret != nil {
		t.Fatalf("got %+v", rep)
	}
	// Later questions are cancelled at once.
	r = newReq(askText, "next")
	send(m, askMsg(r))
	if rep := got(t, r); !errors.Is(rep.err, ceremony.ErrCancelled) {
		t.Fatalf("got %+v", rep)
	}
	if !strings.Contains(m.View(), "cancelling") {
		t.Errorf("view:\n%s", m.View())
	}
}

func TestDoneWaitsForAKey(t *testing.T) {
	m := newTestModel(80, 24)
	if cmd := send(m, doneMsg{errors.New("ceremony: not confirmed")}); cmd != nil {
		t.Fatal("quit before the person saw the result")
	}
	if !strings.Contains(m.View(), "stopped: ceremony: not confirmed") {
		t.Errorf("view:\n%s", m.View())
	}
	if cmd := send(m, keys("x")); cmd != nil {
		t.Fatal("a stray key quit")
	}
	if cmd := send(m, enter); cmd == nil {
		t.Fatal("Enter did not quit")
	} else if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("Enter did not quit")
	}
}

func TestScrollAndResize(t *testing.T) {
	m := newTestModel(60, 12)
	for i := range 30 {
		send(m, showMsg{Text: fmt.Sprintf("%s line %d", strings.Repeat("x", i), i)})
	}
	if v := m.View(); !strings.Contains(v, "line 29\n") || strings.Contains(v, "line 20\n") {
		t.Errorf("the newest lines should show:\n%s", v)
	}
	send(m, tea.KeyMsg{Type: tea.KeyPgUp})
	if v := m.View(); strings.Contains(v, "line 29\n") {
		t.Errorf("PgUp did not scroll:\n%s", v)
	}
	send(m, tea.WindowSizeMsg{Width: 100, Height: 30})
	for _, l := range strings.Split(m.View(), "\n") {
		if lipgloss.Width(l) > 100 {
			t.Fatalf("line wider than the window: %q", l)
		}
	}
	if n := strings.Count(m.View(), "\n") + 1; n > 30 {
		t.Fatalf("%d lines for a 30-line window", n)
	}
}

// Golden views at 80x24, Ascii colour profile. Run with -update to rewrite.
func TestGoldenViews(t *testing.T) {
	kek := ceremony.Message{Kind: ceremony.Info, Title: "Check the KEK with the online side",
		Text: "Read the words aloud with the person at the online workstation (`keyrite kek inspect` there).",
		Fields: []ceremony.Field{
			{Name: "kid", Value: "https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"},
			{Name: "size", Value: "RSA 2048 bits"},
			{Name: "SHA-256", Value: "0e8d1dc6ea5dc2dd62d7a3e5e6b4a2c3ae27a1ee4b1f3f6ad1c0a5c6fe4a2b11"},
			{Name: "words", Value: ceremony.WordLines("aztec travesty hamlet microwave physique universe dupont glossary snowslide Pluto tapeworm concurrent dragnet hazardous dashboard butterfat spigot voyager klaxon pedigree unwind consulting dwelling ohio oakland equipment dropper jupiter choking recipe treadmill informant", 8)},
		}}
	cases := map[string][]tea.Msg{
		"menu": {
			showMsg{Kind: ceremony.Heading, Title: "keyrite guided ceremony", Text: "Answer each question; nothing is done before a summary is confirmed."},
			askMsg(newReq(askChoose, "What do you want to do?", "BYOK: export a key wrapped under a Key Exchange Key (.byok)", "Security domain: restore from a quorum of custodians (restore blob)", "Quit")),
		},
		"kek_confirm": {
			showMsg{Kind: ceremony.Heading, Title: "BYOK export"},
			progressMsg{step: "BYOK export", done: 0, total: 5},
			showMsg{Kind: ceremony.Heading, Title: "Key Exchange Key (KEK)"},
			showMsg(kek),
			askMsg(newReq(askConfirm, "Do these words match what the online side read aloud?")),
		},
		"custodian_pin": {
			progressMsg{step: "custodians", done: 1, total: 3},
			showMsg{Kind: ceremony.Success, Text: "custodian 1: share opened (x=3, CKM_RSA_X_509 + host OAEP-SHA-256 decoding); the card may be removed"},
			showMsg{Kind: ceremony.Heading, Title: "Custodian 2 of 3: insert your card, or have your key file ready"},
			showMsg{Kind: ceremony.Error, Text: "custodian-2: no share for this certificate"},
			askMsg(newReq(askSecret, `PIN for token "custodian-2" (not shown)`)),
			keys("123456"),
		},
		"text_input": {
			askMsg(newReq(askText, "KEK file")),
			keys("/media/usb/kek.pem"),
		},
	}
	for name, msgs := range cases {
		t.Run(name, func(t *testing.T) {
			m := newTestModel(80, 24)
			send(m, msgs...)
			view := m.View()
			path := filepath.Join("testdata", name+".golden")
			if *update {
				os.MkdirAll("testdata", 0o755)
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
			if strings.Contains(view, "\x1b[") {
				t.Error("escape sequences with the Ascii profile")
			}
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenForms pins the form screens of the guided steps at 80x24 and
// 120x40: the step list, the history above, the form with its live check,
// and the key hints.
func TestGoldenForms(t *testing.T) {
	objs := []ceremony.Option{
		{Label: "aes-128              AES 128    secret key   id 10  sensitive", Value: "a"},
		{Label: "aes-256              AES 256    secret key   id 12  sensitive", Value: "b"},
		{Label: "ec-p384              EC P-384   private key  id 30  sensitive", Value: "c"},
		{Label: "locked-in            AES 256    secret key   id 20  not extractable, sensitive", Value: "d"},
	}
	steps := stepsMsg{steps: []string{"KEK", "Keys", "Output", "Export"}}
	cases := map[string]func() []tea.Msg{
		"form_kek": func() []tea.Msg {
			kekFile := &ceremony.FormField{Key: "kek", Title: "KEK file", Kind: ceremony.PathField,
				Help: "what `az keyvault key download --encoding PEM` wrote on the online side, or the JSON of `az keyvault key show`",
				Status: func(string) string {
					return "RSA 2048 bits, kid https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"
				}}
			kid := &ceremony.FormField{Key: "kid", Title: "KEK key identifier (kid), with its version", Optional: true,
				Help: "https://VAULT.vault.azure.net/keys/NAME/VERSION; empty when the KEK file carries it"}
			return []tea.Msg{steps, showMsg{Kind: ceremony.Heading, Title: "BYOK export"},
				formMsg(&formRequest{form: &ceremony.Form{Title: "Key Exchange Key (KEK)", Fields: []*ceremony.FormField{kekFile, kid}}, reply: make(chan error, 1)}),
				keys("/media/usb/kek.json")}
		},
		"form_keys": func() []tea.Msg {
			keysField := &ceremony.FormField{Key: "keys", Title: "Keys to export", Kind: ceremony.MultiSelectField,
				Help: "only private and secret keys with CKA_EXTRACTABLE can be exported"}
			s := steps
			s.current = 1
			return []tea.Msg{s, showMsg{Kind: ceremony.Success, Text: "KEK confirmed: aztec travesty hamlet microwave physique universe dupont glossary"},
				formMsg(&formRequest{form: &ceremony.Form{Title: "Keys on token vendor", Fields: []*ceremony.FormField{keysField}},
					opts: map[string][]ceremony.Option{"keys": objs}, reply: make(chan error, 1)}),
				keys("x"), down, keys("x")}
		},
	}
	for name, msgs := range cases {
		for _, size := range [][2]int{{80, 24}, {120, 40}} {
			t.Run(fmt.Sprintf("%s_%dx%d", name, size[0], size[1]), func(t *testing.T) {
				m := newTestModel(size[0], size[1])
				for _, msg := range msgs() {
					step(m, msg)
				}
				view := m.View()
				path := filepath.Join("testdata", fmt.Sprintf("%s_%dx%d.golden", name, size[0], size[1]))
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
				for i, l := range strings.Split(view, "\n") {
					if w := lipgloss.Width(l); w > size[0] {
						t.Errorf("line %d is %d cells wide: %q", i, w, l)
					}
				}
				if n := strings.Count(view, "\n") + 1; n > size[1] {
					t.Errorf("%d lines on a %d-line screen", n, size[1])
				}
			})
		}
	}
}

// TestNarrowKeepsProgress: under 60 columns the progress counter stays in
// the header (before, it vanished).
func TestNarrowKeepsProgress(t *testing.T) {
	m := newTestModel(40, 12)
	send(m, progressMsg{step: "BYOK export", done: 2, total: 3})
	head := strings.Split(m.View(), "\n")[0]
	if !strings.Contains(head, "2/3") || lipgloss.Width(head) > 40 {
		t.Errorf("header %q", head)
	}
}

// TestCtrlCWhileWorking: Ctrl-C while a step is under way says what
// happens (before, it was ignored silently).
func TestCtrlCWhileWorking(t *testing.T) {
	m := newTestModel(100, 20)
	send(m, tea.KeyMsg{Type: tea.KeyCtrlC})
	if v := m.View(); !strings.Contains(v, "cancelling: the step under way finishes first") {
		t.Errorf("view:\n%s", v)
	}
}

// TestWordsInGroups: at 80 columns a 32-word fingerprint is laid out in
// groups of four, never a group cut across lines (before, the lines of
// eight words wrapped mid-list).
func TestWordsInGroups(t *testing.T) {
	phrase := "aztec travesty hamlet microwave physique universe dupont glossary spheroid revival accrue whimsical pluto jamaica klaxon retrieval scorecard exodus cement atmosphere aardvark potato select consulting cowbell cumbersome kiwi hamilton erase customer flagpole combustion"
	m := newTestModel(80, 30)
	send(m, showMsg{Kind: ceremony.Info, Title: "KEK", Fields: []ceremony.Field{{Name: "SHA-256", Value: "13e5"}, {Name: "words", Value: ceremony.WordLines(phrase, 8)}}})
	v := m.View()
	for _, group := range []string{"aztec travesty hamlet microwave", "physique universe dupont glossary", "flagpole combustion"} {
		if !strings.Contains(v, group) {
			t.Errorf("group %q cut:\n%s", group, v)
		}
	}
	for _, l := range strings.Split(v, "\n") {
		if lipgloss.Width(l) > 80 {
			t.Errorf("line too wide: %q", l)
		}
	}
}

// TestEscEndsFilterFirst: Esc while filtering a list ends the filter; only
// the next Esc goes back a step.
func TestEscEndsFilterFirst(t *testing.T) {
	m := newTestModel(100, 30)
	fl := &ceremony.FormField{Key: "keys", Title: "Keys", Kind: ceremony.MultiSelectField}
	r := &formRequest{form: &ceremony.Form{Title: "Keys", Fields: []*ceremony.FormField{fl}},
		opts: map[string][]ceremony.Option{"keys": {{Label: "aes-128", Value: "a"}, {Label: "ec-p384", Value: "b"}}}, reply: make(chan error, 1)}
	step(m, formMsg(r))
	step(m, keys("/"))
	step(m, keys("ec"))
	step(m, esc)
	select {
	case err := <-r.reply:
		t.Fatalf("Esc while filtering answered %v", err)
	default:
	}
	step(m, esc)
	select {
	case err := <-r.reply:
		if !errors.Is(err, ceremony.ErrBack) {
			t.Fatalf("got %v", err)
		}
	default:
		t.Fatal("the second Esc did not go back")
	}
}

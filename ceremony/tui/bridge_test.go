package tui

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/ceremony"
)

// drive runs flow against the model through the bridge, as tui.Run does but
// without a terminal: each question is answered with the next group of keys,
// and check sees the model (and its view) when a question arrives.
func drive(t *testing.T, m *Model, flow func(ceremony.UI) error, answers [][]tea.Msg, check func(n int, m *Model)) error {
	t.Helper()
	msgs := make(chan tea.Msg, 16)
	done := make(chan struct{})
	defer close(done)
	b := &bridge{send: func(msg tea.Msg) { msgs <- msg }, done: done}
	errc := make(chan error, 1)
	go func() { errc <- flow(b) }()
	n := 0
	timeout := time.After(10 * time.Second)
	for {
		select {
		case msg := <-msgs:
			step(m, msg)
			_, isAsk := msg.(askMsg)
			_, isForm := msg.(formMsg)
			if isAsk || isForm {
				if check != nil {
					check(n, m)
				}
				if n >= len(answers) {
					t.Fatalf("no answer for question %d; view:\n%s", n, m.View())
				}
				for _, k := range answers[n] {
					step(m, k)
				}
				n++
			}
		case err := <-errc:
			// What the flow sent before it returned is in msgs: give it
			// to the model too.
			for {
				select {
				case msg := <-msgs:
					step(m, msg)
					continue
				default:
				}
				break
			}
			return err
		case <-timeout:
			t.Fatalf("the flow did not finish; view:\n%s", m.View())
		}
	}
}

// step gives msg to the model as the Bubble Tea runtime would, running the
// commands it returns and giving it their messages in turn (batches and
// sequences unpacked). A command that does not return within 50ms (a
// cursor's blink timer) is dropped.
func step(m *Model, msg tea.Msg) {
	queue := []tea.Msg{msg}
	for len(queue) > 0 && len(queue) < 1000 {
		msg, queue = queue[0], queue[1:]
		_, cmd := m.Update(msg)
		queue = append(queue, runCmd(cmd)...)
	}
}

func runCmd(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	c := make(chan tea.Msg, 1)
	go func() { c <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-c:
	case <-time.After(50 * time.Millisecond):
		return nil
	}
	if msg == nil {
		return nil
	}
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, runCmd(c)...)
		}
		return out
	}
	// tea.Sequence's message is an unexported []tea.Cmd.
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeOf(tea.Cmd(nil)) {
		var out []tea.Msg
		for i := 0; i < v.Len(); i++ {
			out = append(out, runCmd(v.Index(i).Interface().(tea.Cmd))...)
		}
		return out
	}
	return []tea.Msg{msg}
}

func TestBridgeKEKIntake(t *testing.T) {
	data := mustRead(t, "../../testvectors/byok/kek-rsa2048.json")
	kek, err := byok.ParseKEK(data, "")
	if err != nil {
		t.Fatal(err)
	}
	fp := kek.Fingerprint()
	first4 := strings.Join(strings.Fields(fp.Words())[:4], " ")
	m := newTestModel(100, 30)
	var got *byok.KEK
	err = drive(t, m, func(ui ceremony.UI) error {
		var err error
		got, err = (&ceremony.Engine{UI: ui}).IntakeKEK()
		return err
	}, [][]tea.Msg{
		// The KEK form: a missing file is refused as typed and on Enter;
		// the answer is corrected in place.
		{keys("nope.pem"), enter, ctrlU, keys("../../testvectors/byok/kek-rsa2048.json"), enter, enter},
		{keys("aardvark aardvark aardvark aardvark"), enter, ctrlU, keys(first4), enter},
	}, func(n int, m *Model) {
		v := m.View()
		switch n {
		case 1:
			for _, want := range []string{kek.Kid, "RSA 2048 bits", fp.Hex(), "Type the first 4 or more words"} {
				if !strings.Contains(v, want) {
					t.Errorf("the words screen lacks %q:\n%s", want, v)
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Kid != kek.Kid {
		t.Fatal("wrong KEK")
	}
	if v := m.View(); !strings.Contains(v, first4) || !strings.Contains(v, "KEK confirmed") {
		t.Errorf("the answer is not in the history:\n%s", v)
	}
}

func TestBridgeCancelStopsFlow(t *testing.T) {
	m := newTestModel(80, 24)
	err := drive(t, m, func(ui ceremony.UI) error {
		_, err := (&ceremony.Engine{UI: ui}).IntakeKEK()
		return err
	}, [][]tea.Msg{{keys("x"), tea.KeyMsg{Type: tea.KeyCtrlC}}}, nil)
	if !errors.Is(err, ceremony.ErrCancelled) {
		t.Fatalf("got %v", err)
	}
}

func TestBridgeAfterProgramEnd(t *testing.T) {
	done := make(chan struct{})
	close(done)
	b := &bridge{send: func(tea.Msg) { t.Error("sent after the program ended") }, done: done}
	if _, err := b.AskText("x"); !errors.Is(err, ceremony.ErrCancelled) {
		t.Fatal(err)
	}
}

package tui

import (
	"errors"
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
			m.Update(msg)
			if _, ok := msg.(askMsg); ok {
				if check != nil {
					check(n, m)
				}
				if n >= len(answers) {
					t.Fatalf("no answer for question %d; view:\n%s", n, m.View())
				}
				for _, k := range answers[n] {
					m.Update(k)
				}
				n++
			}
		case err := <-errc:
			return err
		case <-timeout:
			t.Fatal("the flow did not finish")
		}
	}
}

func TestBridgeKEKIntake(t *testing.T) {
	data := mustRead(t, "../../testvectors/byok/kek-rsa2048.json")
	kek, err := byok.ParseKEK(data, "")
	if err != nil {
		t.Fatal(err)
	}
	fp := kek.Fingerprint()
	m := newTestModel(100, 30)
	var got *byok.KEK
	err = drive(t, m, func(ui ceremony.UI) error {
		var err error
		got, err = (&ceremony.Engine{UI: ui}).IntakeKEK()
		return err
	}, [][]tea.Msg{
		{keys("nope.pem"), enter},
		{keys("../../testvectors/byok/kek-rsa2048.json"), enter},
		{right, enter}, // move to yes, Enter
	}, func(n int, m *Model) {
		v := m.View()
		switch n {
		case 1:
			if !strings.Contains(v, "error: KEK file nope.pem: no such file") {
				t.Errorf("no error shown:\n%s", v)
			}
		case 2:
			for _, want := range []string{kek.Kid, "RSA 2048 bits", fp.Hex(), "> no <"} {
				if !strings.Contains(v, want) {
					t.Errorf("the confirm screen lacks %q:\n%s", want, v)
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
	if v := m.View(); !strings.Contains(v, "? Do these words match what the online side read aloud? → yes") {
		t.Errorf("the answer is not in the history:\n%s", v)
	}
}

func TestBridgeCancelStopsFlow(t *testing.T) {
	m := newTestModel(80, 24)
	err := drive(t, m, func(ui ceremony.UI) error {
		_, err := (&ceremony.Engine{UI: ui}).IntakeKEK()
		return err
	}, [][]tea.Msg{{keys("x"), esc}}, nil)
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

package tui

import (
	"fmt"
	"io"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/keyrite/keyrite/ceremony"
)

// bridge is the ceremony.UI the engine calls: each call becomes a message to
// the Bubble Tea program, and questions wait for the model's answer (or for
// the program to end, which cancels them).
type bridge struct {
	send func(tea.Msg)
	done <-chan struct{}
}

func (b *bridge) ask(r *request) reply {
	r.reply = make(chan reply, 1)
	select {
	case <-b.done:
		return reply{err: ceremony.ErrCancelled}
	default:
	}
	b.send(askMsg(r))
	select {
	case rep := <-r.reply:
		return rep
	case <-b.done:
		return reply{err: ceremony.ErrCancelled}
	}
}

func (b *bridge) Show(m ceremony.Message) { b.send(showMsg(m)) }

// Form implements ceremony.FormUI: the form is drawn whole, with huh.
func (b *bridge) Form(f *ceremony.Form, opts map[string][]ceremony.Option) error {
	r := &formRequest{form: f, opts: opts, reply: make(chan error, 1)}
	select {
	case <-b.done:
		return ceremony.ErrCancelled
	default:
	}
	b.send(formMsg(r))
	select {
	case err := <-r.reply:
		return err
	case <-b.done:
		return ceremony.ErrCancelled
	}
}

// Steps implements ceremony.StepsUI.
func (b *bridge) Steps(steps []string, current int) {
	b.send(stepsMsg{steps: append([]string(nil), steps...), current: current})
}

func (b *bridge) Progress(step string, done, total int) {
	b.send(progressMsg{step: step, done: done, total: total})
}

func (b *bridge) Confirm(prompt string) (bool, error) {
	r := b.ask(&request{kind: askConfirm, prompt: prompt})
	return r.ok, r.err
}

func (b *bridge) Choose(prompt string, options []string) (int, error) {
	r := b.ask(&request{kind: askChoose, prompt: prompt, options: options})
	return r.index, r.err
}

func (b *bridge) AskSecret(prompt string) ([]byte, error) {
	r := b.ask(&request{kind: askSecret, prompt: prompt})
	return r.secret, r.err
}

func (b *bridge) AskText(prompt string) (string, error) {
	r := b.ask(&request{kind: askText, prompt: prompt})
	return r.text, r.err
}

// Run runs flow with the full-screen UI on the terminal in/out, and returns
// flow's error. After the screen closes, everything that was shown (never a
// secret) is printed to out, so that the record stays in the terminal.
func Run(in io.Reader, out io.Writer, flow func(ceremony.UI) error) error {
	m := NewModel(lipgloss.NewRenderer(out), 80, 24)
	p := tea.NewProgram(m, tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	done := make(chan struct{})
	flowDone := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("ceremony: internal error: %v", r)
			}
			p.Send(doneMsg{err})
			flowDone <- err
		}()
		err = flow(&bridge{send: p.Send, done: done})
	}()
	_, runErr := p.Run()
	close(done)
	// A step already under way (an export, a restore) finishes before we
	// return; the questions after it are cancelled.
	flowErr := <-flowDone
	for _, h := range m.history {
		fmt.Fprint(out, h.String())
	}
	if flowErr != nil {
		return flowErr
	}
	if runErr != nil {
		return fmt.Errorf("tui: %w", runErr)
	}
	return nil
}

// Package plain is the line-by-line face of the ceremony engine: numbered
// choices, y/n questions, one-line answers and forms asked one field per
// line (each field's current answer offered in brackets, "<" to go back),
// read from an io.Reader and written to an io.Writer. No cursor movement,
// no colour: what it writes reads the same in a screen reader, a log or a
// transcript. It needs no terminal, so it serves `keyrite --plain`, screen
// readers, and scripted runs with piped input.
//
// Secrets are never read from the answer stream, which may be echoed: they
// come from the Secret function, by default the terminal with echo off
// (internal/base/secret), and fail with secret.ErrNoTerminal when there is none.
package plain

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/internal/base/secret"
)

// maxLine bounds one answer.
const maxLine = 64 << 10

// UI is a ceremony.UI over line-oriented input and output.
type UI struct {
	in  *bufio.Scanner
	out io.Writer
	// Secret reads a secret; nil means the terminal (internal/base/secret).
	Secret func(prompt string) ([]byte, error)
	// Echo prints each answer after its prompt, for input that is not a
	// terminal (which would have echoed it), so that the output reads as a
	// dialogue. Secrets never come from the answer stream and are never
	// echoed.
	Echo bool

	lastProgress string
	lastSteps    string // the step line printed last
	lastStepList string // the step names it was for
	formHinted   bool   // formHint was printed
}

var (
	_ ceremony.UI      = (*UI)(nil)
	_ ceremony.FormUI  = (*UI)(nil)
	_ ceremony.StepsUI = (*UI)(nil)
)

// New returns a UI reading answers from in and writing to out.
func New(in io.Reader, out io.Writer) *UI {
	s := bufio.NewScanner(in)
	s.Buffer(make([]byte, 4096), maxLine)
	return &UI{in: s, out: out}
}

func (u *UI) line() (string, error) {
	if !u.in.Scan() {
		if err := u.in.Err(); err != nil {
			return "", fmt.Errorf("%w: reading the answer: %v", ceremony.ErrCancelled, err)
		}
		fmt.Fprintln(u.out)
		return "", fmt.Errorf("%w: end of input", ceremony.ErrCancelled)
	}
	a := strings.TrimRight(u.in.Text(), "\r")
	if u.Echo {
		fmt.Fprintln(u.out, a)
	}
	return a, nil
}

// Show implements ceremony.UI.
func (u *UI) Show(m ceremony.Message) {
	fmt.Fprint(u.out, m.String())
}

// Confirm implements ceremony.UI. It accepts y, yes, n, no in any case and
// asks again for anything else.
func (u *UI) Confirm(prompt string) (bool, error) {
	for {
		fmt.Fprintf(u.out, "%s [y/n]: ", prompt)
		a, err := u.line()
		if err != nil {
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(a)) {
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
		fmt.Fprintln(u.out, "please answer y or n")
	}
}

// Choose implements ceremony.UI: options are numbered from 1; an answer
// may also be the start of one option's label (see pick).
func (u *UI) Choose(prompt string, options []string) (int, error) {
	if len(options) == 0 {
		return 0, errors.New("plain: nothing to choose from")
	}
	for {
		fmt.Fprintln(u.out, prompt)
		for i, o := range options {
			fmt.Fprintf(u.out, "  %d) %s\n", i+1, o)
		}
		fmt.Fprintf(u.out, "number (1-%d): ", len(options))
		a, err := u.line()
		if err != nil {
			return 0, err
		}
		i, err := pick(a, options)
		if err == nil {
			return i, nil
		}
		fmt.Fprintln(u.out, err)
	}
}

// pick reads the answer to a one-of question: an option's number from 1,
// or an option's label or the start of exactly one (case ignored), so that
// scripted answers can name what they choose ("Quit", "in a key file")
// and stay right when options are added.
func pick(a string, labels []string) (int, error) {
	a = strings.TrimSpace(a)
	if n, err := strconv.Atoi(a); err == nil || a == "" {
		if err == nil && n >= 1 && n <= len(labels) {
			return n - 1, nil
		}
		return 0, fmt.Errorf("please answer with a number from 1 to %d", len(labels))
	}
	la := strings.ToLower(a)
	found := -1
	for i, l := range labels {
		if strings.ToLower(l) == la {
			return i, nil
		}
	}
	for i, l := range labels {
		if !strings.HasPrefix(strings.ToLower(l), la) {
			continue
		}
		if found >= 0 {
			return 0, fmt.Errorf("%q begins more than one option: please answer with a number from 1 to %d", a, len(labels))
		}
		found = i
	}
	if found < 0 {
		return 0, fmt.Errorf("please answer with a number from 1 to %d", len(labels))
	}
	return found, nil
}

// AskSecret implements ceremony.UI, through Secret (never the answer stream).
func (u *UI) AskSecret(prompt string) ([]byte, error) {
	read := u.Secret
	if read == nil {
		read = (&secret.Source{Kind: "secret"}).Read
	}
	b, err := read(prompt + ": ")
	if errors.Is(err, secret.ErrNoTerminal) {
		return nil, fmt.Errorf("plain: %q needs a terminal to read the secret without echo: %w", prompt, err)
	}
	return b, err
}

// AskText implements ceremony.UI.
func (u *UI) AskText(prompt string) (string, error) {
	fmt.Fprintf(u.out, "%s: ", prompt)
	return u.line()
}

// Progress implements ceremony.UI: one line per change.
func (u *UI) Progress(step string, done, total int) {
	p := fmt.Sprintf("[%s: %d of %d]", step, done, total)
	if total == 0 {
		p = fmt.Sprintf("[%s: %d]", step, done)
	}
	if p != u.lastProgress {
		fmt.Fprintln(u.out, p)
		u.lastProgress = p
	}
}

// Package ceremonytest is the scripted face of the ceremony engine, for
// tests: it answers from a list and records everything shown and asked as
// text, so that a test can assert what the person would have seen.
package ceremonytest

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/keyrite/keyrite/ceremony"
)

// Cancel, given as an answer, makes the question return ceremony.ErrCancelled.
const Cancel = "\x00cancel"

// Script is a ceremony.UI that answers from a list:
//
//   - Confirm: "y"/"yes" or "n"/"no";
//   - Choose: the option's number, counting from 1;
//   - AskText, AskSecret: the answer itself.
//
// Secrets are recorded as "****", never as given.
type Script struct {
	t       testing.TB
	mu      sync.Mutex
	answers []string
	log     strings.Builder
	shown   []ceremony.Message
}

// New returns a Script that gives answers in order. Running out of answers
// fails the test and cancels the question.
func New(t testing.TB, answers ...string) *Script {
	return &Script{t: t, answers: answers}
}

// Log returns everything shown and asked so far.
func (s *Script) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Shown returns the messages shown so far.
func (s *Script) Shown() []ceremony.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ceremony.Message(nil), s.shown...)
}

// Remaining returns the answers not used.
func (s *Script) Remaining() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.answers...)
}

// Contains fails the test unless the log contains each of want.
func (s *Script) Contains(want ...string) {
	s.t.Helper()
	log := s.Log()
	for _, w := range want {
		if !strings.Contains(log, w) {
			s.t.Errorf("the UI did not show %q; log:\n%s", w, log)
		}
	}
}

func (s *Script) next(prompt string) (string, error) {
	if len(s.answers) == 0 {
		s.t.Errorf("ceremonytest: no answer left for %q; log:\n%s", prompt, s.log.String())
		return "", ceremony.ErrCancelled
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	if a == Cancel {
		s.log.WriteString(" → (cancelled)\n")
		return "", ceremony.ErrCancelled
	}
	return a, nil
}

// Show implements ceremony.UI.
func (s *Script) Show(m ceremony.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shown = append(s.shown, m)
	s.log.WriteString(m.String())
}

// Confirm implements ceremony.UI.
func (s *Script) Confirm(prompt string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(&s.log, "? %s [y/n]", prompt)
	a, err := s.next(prompt)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(a) {
	case "y", "yes":
		s.log.WriteString(" → yes\n")
		return true, nil
	case "n", "no":
		s.log.WriteString(" → no\n")
		return false, nil
	}
	s.t.Errorf("ceremonytest: answer %q to confirmation %q is not y or n", a, prompt)
	return false, ceremony.ErrCancelled
}

// Choose implements ceremony.UI.
func (s *Script) Choose(prompt string, options []string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(&s.log, "? %s\n", prompt)
	for i, o := range options {
		fmt.Fprintf(&s.log, "  %d) %s\n", i+1, o)
	}
	a, err := s.next(prompt)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(a)
	if err != nil || n < 1 || n > len(options) {
		s.t.Errorf("ceremonytest: answer %q to choice %q is not 1..%d", a, prompt, len(options))
		return 0, ceremony.ErrCancelled
	}
	fmt.Fprintf(&s.log, " → %d\n", n)
	return n - 1, nil
}

// AskSecret implements ceremony.UI.
func (s *Script) AskSecret(prompt string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(&s.log, "? %s (secret)", prompt)
	a, err := s.next(prompt)
	if err != nil {
		return nil, err
	}
	s.log.WriteString(" → ****\n")
	return []byte(a), nil
}

// AskText implements ceremony.UI.
func (s *Script) AskText(prompt string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(&s.log, "? %s", prompt)
	a, err := s.next(prompt)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&s.log, " → %s\n", a)
	return a, nil
}

// Progress implements ceremony.UI.
func (s *Script) Progress(step string, done, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(&s.log, "[%s %d/%d]\n", step, done, total)
}

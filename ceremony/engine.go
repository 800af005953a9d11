package ceremony

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/transcripts"
)

// ErrNotAvailable is returned (wrapped) when a flow or key source needs a
// part this build does not have.
var ErrNotAvailable = errors.New("ceremony: not available in this build")

// ErrTooManyAttempts is returned when an answer was refused too many times.
var ErrTooManyAttempts = errors.New("ceremony: too many invalid answers")

// ErrNotConfirmed is returned when the person does not confirm a
// fingerprint or a summary: the flow stops without acting.
var ErrNotConfirmed = errors.New("ceremony: not confirmed")

// An Engine runs ceremonies through a UI.
type Engine struct {
	UI UI
	// Backends are the binary's PKCS#11 paths; nil members make the
	// corresponding key source "not available in this build".
	Backends Backends
	// CeremonyDir, when set, is where steps are recorded. Run asks for it.
	CeremonyDir string
	// Actor is recorded with each step (default: operator).
	Actor transcripts.Actor
	// Rand is the randomness source (default crypto/rand.Reader).
	Rand io.Reader
	// MaxAttempts bounds how often an invalid answer is asked again
	// (default 5).
	MaxAttempts int
}

func (e *Engine) rand() io.Reader {
	if e.Rand != nil {
		return e.Rand
	}
	return rand.Reader
}

func (e *Engine) maxAttempts() int {
	if e.MaxAttempts > 0 {
		return e.MaxAttempts
	}
	return 5
}

// Flows, in the order Run offers them.
var flowNames = []string{
	"BYOK: export a key wrapped under a Key Exchange Key (.byok)",
	"Security domain: restore from a quorum of custodians (restore blob)",
	"Quorum drill: check a security domain can be restored, writing nothing",
	"Activation: generate the custodians' keys on their cards, one card at a time",
	"Custody: split a secret M-of-N to custodians (age-encrypted shares)",
	"Custody: recombine a split secret from its custodians' shares",
	"Close the ceremony: signatures until the trust policy is met",
	"Quit",
}

// Run is the guided ceremony: it asks where to record the ceremony (an
// existing one is shown as it stands: its steps, its signatures, what no
// signature covers), then which flow to run, and runs it; after a flow the
// menu comes back, until Quit. A flow that fails ends Run with its error.
func (e *Engine) Run() error {
	e.UI.Show(Message{Kind: Heading, Title: "keyrite guided ceremony",
		Text: "Answer each question; nothing is done before a summary is confirmed.\nSecrets are never echoed. Cancel at any prompt with Esc or Ctrl-C (or end of input)."})
	if e.CeremonyDir == "" {
		if err := e.askCeremonyDir(); err != nil {
			return err
		}
	}
	e.showCeremonyState()
	for {
		i, err := e.UI.Choose("What do you want to do?", flowNames)
		if err != nil {
			return err
		}
		switch i {
		case 0:
			err = e.BYOKExport()
		case 1:
			err = e.SDRestore()
		case 2:
			err = e.Drill()
		case 3:
			err = e.ActivationKeys()
		case 4:
			err = e.CustodySplit()
		case 5:
			err = e.CustodyCombine()
		case 6:
			err = e.CloseCeremony()
		default:
			return nil
		}
		// Back from a flow's first step, or a flow done, returns to
		// this menu; a recorded step warns that earlier signatures no
		// longer cover the ceremony.
		if err != nil && !errors.Is(err, ErrBack) {
			return err
		}
		if err == nil && i != 6 {
			e.showCeremonyState()
		}
	}
}

func (e *Engine) askCeremonyDir() error {
	dir, err := e.askValid("Ceremony directory to record the steps in (empty: do not record)", true, checkCeremonyDir)
	if err != nil {
		return err
	}
	e.CeremonyDir = dir
	if dir != "" {
		e.UI.Show(Message{Kind: Info, Text: "Steps will be recorded in " + dir + "."})
	}
	return nil
}

// askValid asks for text until check accepts it. An empty answer is
// accepted only when optional (and then not checked).
func (e *Engine) askValid(prompt string, optional bool, check func(string) error) (string, error) {
	for attempt := 0; ; attempt++ {
		if attempt >= e.maxAttempts() {
			return "", fmt.Errorf("%w: %s", ErrTooManyAttempts, prompt)
		}
		s, err := e.UI.AskText(prompt)
		if err != nil {
			return "", err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			if optional {
				return "", nil
			}
			e.UI.Show(Message{Kind: Error, Text: "an answer is needed"})
			continue
		}
		if err := check(s); err != nil {
			e.UI.Show(Message{Kind: Error, Text: err.Error()})
			continue
		}
		return s, nil
	}
}

// askSecret asks for a non-empty secret, re-asking on an empty one.
func (e *Engine) askSecret(prompt string) ([]byte, error) {
	for attempt := 0; attempt < e.maxAttempts(); attempt++ {
		b, err := e.UI.AskSecret(prompt)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			e.UI.Show(Message{Kind: Error, Text: "nothing was entered"})
			continue
		}
		// A control character (an arrow key, a stray Ctrl combination)
		// is no part of a PIN: refused here, it costs no try.
		if err := secret.CheckTyped("PIN", b); err != nil {
			secret.Wipe(b)
			e.UI.Show(Message{Kind: Error, Text: err.Error()})
			continue
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrTooManyAttempts, prompt)
}

// tokenLogin is how the guided flows treat a token's PIN counter: a
// warning (a wrong PIN entered earlier) is shown before the PIN is tried,
// and the final try before the PIN locks is a second question, answered no
// unless the person says yes.
func (e *Engine) tokenLogin() hsm.LoginOptions {
	return hsm.LoginOptions{
		Warn: func(msg string) { e.UI.Show(Message{Kind: Warning, Title: "PIN tries", Text: msg}) },
		ConfirmFinalTry: func(question string) (bool, error) {
			e.UI.Show(Message{Kind: Warning, Title: "Last PIN try",
				Text: "If this PIN is wrong, the token locks it, and only its security officer can unlock it."})
			return e.UI.Confirm(question)
		},
	}
}

// confirm asks a yes/no question; no gives ErrNotConfirmed with what.
func (e *Engine) confirm(prompt, what string) error {
	ok, err := e.UI.Confirm(prompt)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotConfirmed, what)
	}
	return nil
}

// checkNewOutput refuses an output path that exists or whose directory
// does not.
func checkNewOutput(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists; keyrite never overwrites: choose a new name", path)
	}
	st, err := os.Stat(filepath.Dir(path))
	if err != nil || !st.IsDir() {
		return fmt.Errorf("the directory %s does not exist", filepath.Dir(path))
	}
	return nil
}

// readInput reads a small input file (fsx.ReadLimited: the same limits
// and messages as the subcommands).
func readInput(path, what string, limit int64) ([]byte, error) {
	return fsx.ReadLimited(path, what, limit)
}

package sdop

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/transcripts"
)

// A ledger is the ceremony a step is recorded in, open and locked from
// Validate to Close.
type ledger struct {
	dir string
	c   *transcripts.Ceremony
}

// openLedger checks that ev, the step's event with stand-ins for what is
// not made yet, can be recorded in dir, then opens and locks the ceremony
// and checks ev against what it records (see check). once says what may
// be recorded only once ("one restore per ceremony").
func openLedger(dir string, ev transcripts.Event, once string) (*ledger, error) {
	if err := transcripts.CheckEvent(ev); err != nil {
		return nil, markf(ErrCeremony, "ceremony %s could not record this step: %w", dir, err)
	}
	c, err := transcripts.Open(dir)
	if err != nil {
		return nil, &marked{kind: ErrCeremony, err: err}
	}
	l := &ledger{dir: dir, c: c}
	if err := l.check(ev, once); err != nil {
		c.Close()
		return nil, err
	}
	return l, nil
}

// check refuses an event the ceremony could not record: an output name it
// records already, or an input name it records with other content.
func (l *ledger) check(ev transcripts.Event, once string) error {
	for _, a := range ev.Outputs {
		if e, ok := l.c.BoundBy(a.Name); ok {
			return recordedAlready("ceremony %s already records %s (event %d, %s): %s", l.dir, a.Name, e.Seq, e.Step, once)
		}
	}
	for _, a := range ev.Inputs {
		e, ok := l.c.BoundBy(a.Name)
		if !ok {
			continue
		}
		sum := sha256.Sum256(a.Data)
		if r, _ := e.Artifact(a.Name); r.SHA256 != hex.EncodeToString(sum[:]) {
			return recordedAlready("ceremony %s records a different %s (event %d, %s): this step's has sha256 %x", l.dir, a.Name, e.Seq, e.Step, sum)
		}
	}
	return nil
}

// recordedAlready is an ErrRecordedAlready, which is an ErrCeremony.
func recordedAlready(format string, args ...any) error {
	return &marked{kind: ErrCeremony, err: markf(ErrRecordedAlready, format, args...)}
}

// record records ev. A failure names the ceremony.
func (l *ledger) record(ev transcripts.Event) error {
	if err := l.c.Record(ev); err != nil {
		return fmt.Errorf("recording the step in ceremony %s: %w", l.dir, err)
	}
	return nil
}

func (l *ledger) close() {
	if l != nil {
		l.c.Close()
	}
}

// who is what both steps record about who ran them and how.
type who struct {
	actor  transcripts.Actor
	guided bool
	loader *custodian.Loader
}

// fill sets ev's actor, marks a guided step in its action, and names the
// tokens the Loader used.
func (w who) fill(ev *transcripts.Event) {
	ev.Actor = w.actor
	if w.guided {
		ev.Action += " (guided)"
	}
	if w.loader == nil {
		return
	}
	info, all := w.loader.HSMInfo()
	ev.HSM = info
	for i, t := range all {
		ev.Params = append(ev.Params, transcripts.Param{Name: fmt.Sprintf("token_%d", i), Value: t})
	}
}

// previewStatus is the status a custodian's key would have once opened,
// for checking the event before any key is used.
func previewStatus(sd *securitydomain.SecurityDomain, c securitydomain.Custodian) securitydomain.ShareStatus {
	x5t := securitydomain.X5T256(c.Cert)
	st := securitydomain.ShareStatus{Custodian: c.Name, Cert: c.Cert, X5T256: x5t, Index: -1}
	for i, s := range sd.Shares {
		if s.X5T256 == x5t {
			st.Index, st.X, st.Opened = i, i+1, true
		}
	}
	return st
}

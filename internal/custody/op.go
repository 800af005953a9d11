package custody

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// Refusals and failures of the operations, matched with errors.Is.
var (
	// ErrOutputExists: an output exists (it also matches fs.ErrExist).
	ErrOutputExists = fmt.Errorf("custody: output exists: %w", fs.ErrExist)
	// ErrSecretFile: the secret to split cannot be read, is not a regular
	// file, is empty or is larger than MaxSecretSize.
	ErrSecretFile = errors.New("custody: secret file not usable")
	// ErrCeremony: the ceremony cannot record the step; nothing was done.
	ErrCeremony = errors.New("custody: the ceremony cannot record this step")
	// ErrRecord: recording the step failed once it was done; the outputs
	// were written.
	ErrRecord = errors.New("custody: recording the step failed")
)

// marked is err with kind added to its chain; its text is err's.
type marked struct{ kind, err error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.kind, m.err} }

func markf(kind error, format string, args ...any) error {
	return &marked{kind: kind, err: fmt.Errorf(format, args...)}
}

// A SplitParamError is a threshold and a number of recipients that do not
// make a split (2 ≤ threshold ≤ recipients ≤ MaxShares). It matches
// ErrInvalidSplit.
type SplitParamError struct{ Threshold, Recipients int }

func (e *SplitParamError) Error() string {
	return fmt.Sprintf("custody: threshold %d with %d recipients: want %d ≤ threshold ≤ recipients ≤ %d", e.Threshold, e.Recipients, MinThreshold, MaxShares)
}

func (e *SplitParamError) Unwrap() error { return ErrInvalidSplit }

// A RecipientError is recipient Index (1-based) that could not be loaded.
type RecipientError struct {
	Index int
	Err   error
}

func (e *RecipientError) Error() string { return fmt.Sprintf("recipient %d: %v", e.Index, e.Err) }
func (e *RecipientError) Unwrap() error { return e.Err }

// checkOutput refuses an output that exists.
func checkOutput(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return markf(ErrOutputExists, "output %s already exists", path)
	}
	return nil
}

// ledger is the ceremony a step is recorded in, open and locked from
// Validate to Close.
type ledger struct {
	dir string
	c   *transcripts.Ceremony
}

// openLedger checks that ev (with stand-ins) could be recorded, then opens
// and locks the ceremony; "" opens none.
func openLedger(dir string, ev transcripts.Event) (*ledger, error) {
	if dir == "" {
		return nil, nil
	}
	if err := transcripts.CheckEvent(ev); err != nil {
		return nil, markf(ErrCeremony, "ceremony %s could not record this step: %w", dir, err)
	}
	c, err := transcripts.Open(dir)
	if err != nil {
		return nil, &marked{kind: ErrCeremony, err: fmt.Errorf("opening ceremony %s: %w", dir, err)}
	}
	return &ledger{dir: dir, c: c}, nil
}

func (l *ledger) record(ev transcripts.Event, written string) error {
	if err := l.c.Record(ev); err != nil {
		return markf(ErrRecord, "recording the step in ceremony %s: %w; %s", l.dir, err, written)
	}
	return nil
}

func (l *ledger) close() {
	if l != nil {
		l.c.Close()
	}
}

// A SplitRequest splits a secret M-of-N into a new directory, share i
// age-encrypted to recipient i.
type SplitRequest struct {
	In         string   // the file holding the secret (its bytes exactly)
	Threshold  int      // M
	Recipients []string // recipient strings, or files holding one; N of them
	PluginUI   *plugin.ClientUI
	Out        string // the new directory for the shares and manifest
	// CeremonyDir, when set, is the ceremony the step is recorded in.
	CeremonyDir string
	Actor       transcripts.Actor
}

// A SplitOp is a validated split. Close it: it holds the secret and the
// ceremony.
type SplitOp struct {
	req    SplitRequest
	rs     []*Recipient
	secret []byte
	ledger *ledger
}

// A SplitResult is a split written (and recorded).
type SplitResult struct {
	Out      string
	Manifest *Manifest
	Recorded bool
}

// Validate checks the request before anything is split: the parameters
// (*SplitParamError), the output (ErrOutputExists), every recipient
// (*RecipientError), the secret file (ErrSecretFile) and the ceremony
// (ErrCeremony).
func (req SplitRequest) Validate() (*SplitOp, error) {
	n := len(req.Recipients)
	if req.Threshold < MinThreshold || n < req.Threshold || n > MaxShares {
		return nil, &SplitParamError{Threshold: req.Threshold, Recipients: n}
	}
	if err := checkOutput(req.Out); err != nil {
		return nil, err
	}
	op := &SplitOp{req: req}
	for i, arg := range req.Recipients {
		r, err := LoadRecipient(arg, req.PluginUI)
		if err != nil {
			return nil, &RecipientError{Index: i + 1, Err: err}
		}
		op.rs = append(op.rs, r)
	}
	sec, err := readSecret(req.In)
	if err != nil {
		return nil, err
	}
	op.secret = sec
	preview := op.event(&Manifest{SplitID: "0000000000000000", Threshold: req.Threshold, Shares: n}, []byte("{}"))
	if op.ledger, err = openLedger(req.CeremonyDir, preview); err != nil {
		op.Close()
		return nil, err
	}
	return op, nil
}

// readSecret reads a secret to split without ever quoting it.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, markf(ErrSecretFile, "reading the secret: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, markf(ErrSecretFile, "reading the secret: %s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretSize+1))
	switch {
	case err != nil:
		clear(b)
		return nil, markf(ErrSecretFile, "reading the secret: %w", err)
	case len(b) == 0:
		return nil, markf(ErrSecretFile, "the secret file %s is empty", path)
	case len(b) > MaxSecretSize:
		clear(b)
		return nil, markf(ErrSecretFile, "the secret file %s is larger than %d bytes", path, MaxSecretSize)
	}
	return b, nil
}

// Run splits the secret, writes the directory (all or nothing, read back)
// and records the step.
func (op *SplitOp) Run() (*SplitResult, error) {
	res, err := Split(op.secret, op.req.Threshold, op.rs)
	if err != nil {
		return nil, err
	}
	if err := WriteDir(op.req.Out, res); err != nil {
		return nil, err
	}
	out := &SplitResult{Out: op.req.Out, Manifest: res.Manifest}
	if op.ledger != nil {
		if err := op.ledger.record(op.event(res.Manifest, res.Manifest.Marshal()), "the shares were written to "+op.req.Out); err != nil {
			return nil, err
		}
		out.Recorded = true
	}
	return out, nil
}

func (op *SplitOp) event(m *Manifest, mb []byte) transcripts.Event {
	x := steps.CustodySplit{
		Common:   steps.Common{Actor: op.req.Actor, Result: "ok"},
		Manifest: steps.File{Name: steps.ManifestFileName(m.SplitID), Data: mb},
		SplitID:  m.SplitID, Threshold: m.Threshold, Shares: m.Shares, Out: filepath.Base(op.req.Out),
	}
	return x.Event()
}

// Close clears the secret and releases the ceremony.
func (op *SplitOp) Close() {
	clear(op.secret)
	op.secret = nil
	op.ledger.close()
	op.ledger = nil
}

// A CombineRequest recombines a split secret from the shares the
// identities open, into a new file (mode 0600).
type CombineRequest struct {
	Shares     string   // the directory custody split wrote
	Identities []string // identity files (age, ssh, plugin)
	PluginUI   *plugin.ClientUI
	Passphrase Passphrase // for encrypted identity files
	Out        string
	// CeremonyDir, when set, is the ceremony the step is recorded in.
	CeremonyDir string
	Actor       transcripts.Actor
}

// A CombineOp is a validated combine. Close it: it holds the ceremony.
type CombineOp struct {
	req      CombineRequest
	manifest *Manifest
	ids      []age.Identity
	ledger   *ledger
}

// A CombineOutcome is a secret recombined, written and recorded; the
// secret itself is only in Out.
type CombineOutcome struct {
	*CombineResult
	Out      string
	Recorded bool
}

// Validate checks the request before any share is opened: the output
// (ErrOutputExists), the manifest (ErrManifest), every identity file, and
// the ceremony (ErrCeremony).
func (req CombineRequest) Validate() (*CombineOp, error) {
	if len(req.Identities) == 0 {
		return nil, errors.New("custody: no identity given")
	}
	if err := checkOutput(req.Out); err != nil {
		return nil, err
	}
	m, err := ReadManifest(req.Shares)
	if err != nil {
		return nil, err
	}
	op := &CombineOp{req: req, manifest: m}
	for _, p := range req.Identities {
		id, err := LoadIdentities(p, req.PluginUI, req.Passphrase)
		if err != nil {
			return nil, err
		}
		op.ids = append(op.ids, id...)
	}
	if op.ledger, err = openLedger(req.CeremonyDir, op.event(&CombineResult{Manifest: m, Used: []int{1}})); err != nil {
		return nil, err
	}
	return op, nil
}

// Manifest is the split's manifest, as Validate read it.
func (op *CombineOp) Manifest() *Manifest { return op.manifest }

// Run opens the shares, recombines and checks the secret, writes it to Out
// and records the step. The secret is cleared from memory.
func (op *CombineOp) Run() (*CombineOutcome, error) {
	sec, res, err := Combine(op.req.Shares, op.ids)
	if err != nil {
		return nil, err
	}
	defer clear(sec)
	if err := fsx.WriteNew(op.req.Out, sec, 0o600); err != nil {
		return nil, fmt.Errorf("custody: writing %s: %w", op.req.Out, fsx.UnwrapPathErr(err))
	}
	out := &CombineOutcome{CombineResult: res, Out: op.req.Out}
	if op.ledger != nil {
		if err := op.ledger.record(op.event(res), "the secret was written to "+op.req.Out); err != nil {
			return nil, err
		}
		out.Recorded = true
	}
	return out, nil
}

func (op *CombineOp) event(res *CombineResult) transcripts.Event {
	m := res.Manifest
	x := steps.CustodyCombine{
		Common:   steps.Common{Actor: op.req.Actor, Result: "ok"},
		Manifest: steps.File{Name: steps.ManifestFileName(m.SplitID), Data: m.Marshal()},
		SplitID:  m.SplitID, Used: res.Used, Threshold: m.Threshold, Shares: m.Shares,
	}
	return x.Event()
}

// Close releases the ceremony.
func (op *CombineOp) Close() {
	op.ledger.close()
	op.ledger = nil
}

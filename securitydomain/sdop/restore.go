package sdop

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// A RestoreRequest is one quorum restore: a security domain, the exchange
// key of the HSM it goes to, and custodians' keys, into a restore blob.
type RestoreRequest struct {
	// SD and ExchangeKey are the input files; Out is the restore blob to
	// write, which must not exist.
	SD, ExchangeKey, Out string
	// Keys are the custodians' key sources (see package custodian), used in
	// order until the quorum is open; the rest are not touched. Loader
	// loads them (and asks for their passwords and PINs). Empty: the
	// custodians are offered one at a time with Restore.Open.
	Keys   []string
	Loader *custodian.Loader
	// CeremonyDir, when set, is the ceremony the step is recorded in (the
	// event RestoreEvent builds).
	CeremonyDir string
	// Actor is recorded with the step (zero: the transcript's default).
	Actor transcripts.Actor
	// Guided marks the step as run by the guided ceremony in its record.
	Guided bool
	// Rand is the randomness for the new master key, IVs and OAEP (nil:
	// crypto/rand.Reader).
	Rand io.Reader
}

// A Restore is a validated restore request. Close it when done: it holds
// the ceremony, locked, and the shares opened.
type Restore struct {
	req        RestoreRequest
	sd         *SDFile
	exch       *ExchangeKey
	custodians []securitydomain.Custodian // loaded from req.Keys
	q          *securitydomain.Quorum
	ledger     *ledger
}

// A RestoreResult is what a restore made. Nothing in it is secret.
type RestoreResult struct {
	Out      string
	Blob     []byte // the restore blob, as written and read back
	SD       *SDFile
	Exchange *ExchangeKey
	Shares   []securitydomain.ShareStatus // every key offered, in order
	Payloads []securitydomain.PayloadInfo // the entries, re-encrypted
	Recorded bool                         // in the ceremony
}

// Validate checks everything the restore can check before a key is used
// (see the package documentation) and returns the restore, ready to Run.
// Nothing is written, no PIN or password is asked (unless a token's
// certificate can only be found through its key), and with a ceremony the
// ceremony is opened and locked.
func (req RestoreRequest) Validate() (*Restore, error) {
	switch {
	case req.SD == "" || req.ExchangeKey == "" || req.Out == "":
		return nil, fmt.Errorf("%w: the security domain, the exchange key and the output are needed", ErrRequest)
	}
	if err := checkKeys(req.Keys, req.Loader); err != nil {
		return nil, err
	}
	if err := CheckOutput(req.Out); err != nil {
		return nil, err
	}
	r := &Restore{req: req}
	var err error
	if r.sd, err = ReadSD(req.SD); err != nil {
		return nil, err
	}
	if r.exch, err = ReadExchangeKey(req.ExchangeKey); err != nil {
		return nil, err
	}
	sd := r.sd.SD
	if len(req.Keys) > 0 && len(req.Keys) < sd.Required {
		return nil, &QuorumError{Given: len(req.Keys), Required: sd.Required}
	}
	if err := sd.CheckRestorable(); err != nil {
		return nil, err
	}
	if len(req.Keys) > 0 {
		if r.custodians, err = loadKeys(req.Loader, req.Keys); err != nil {
			return nil, err
		}
		if err := sd.CheckCustodians(r.custodians); err != nil {
			return nil, err
		}
	}
	// Last, as opening creates the ceremony: a refusal above leaves none.
	if req.CeremonyDir != "" {
		if r.ledger, err = openLedger(req.CeremonyDir, r.preview(r.custodians), onceRestore); err != nil {
			return nil, err
		}
	}
	r.q = sd.NewQuorum()
	return r, nil
}

// onceRestore says why a ceremony records one restore.
const onceRestore = "one restore per ceremony"

// preview is the event the restore would record, with a stand-in blob,
// for checking before any key is used.
func (r *Restore) preview(cs []securitydomain.Custodian) transcripts.Event {
	res := &securitydomain.RestoreResult{}
	var certs []*x509.Certificate
	for _, c := range cs {
		res.Shares = append(res.Shares, previewStatus(r.sd.SD, c))
		certs = append(certs, c.Cert)
	}
	ev := RestoreEvent(r.sd.Path, r.sd.Data, r.sd.SD, r.exch.Cert, certs, res, []byte("{}"))
	who{r.req.Actor, r.req.Guided, nil}.fill(&ev)
	return ev
}

// checkRecordable checks, with a ceremony, that the event naming these
// custodians' certificates could be recorded.
func (r *Restore) checkRecordable(cs []securitydomain.Custodian) error {
	if r.ledger == nil {
		return nil
	}
	return r.ledger.check(r.preview(cs), onceRestore)
}

// SD returns the security domain the restore reads.
func (r *Restore) SD() *SDFile { return r.sd }

// ExchangeKey returns the exchange key the blob is wrapped to.
func (r *Restore) ExchangeKey() *ExchangeKey { return r.exch }

// Open offers one custodian's key (the guided ceremony, without
// Request.Keys): its share is decrypted now, so that the key's card can be
// removed once Open returns. See securitydomain.Quorum.Open for what it
// returns; with a ceremony, a certificate the ceremony records under the
// same name with other content is refused too (ErrCeremony).
func (r *Restore) Open(c securitydomain.Custodian) (securitydomain.ShareStatus, error) {
	if c.Cert != nil {
		if err := r.checkRecordable([]securitydomain.Custodian{c}); err != nil {
			return securitydomain.ShareStatus{}, err
		}
	}
	return r.q.Open(c)
}

// Opened returns the number of shares opened so far.
func (r *Restore) Opened() int { return r.q.Opened() }

// Status returns the status of every key offered so far, in order.
func (r *Restore) Status() []securitydomain.ShareStatus { return r.q.Status() }

// Run restores: it opens the request's keys in order until the quorum is
// reached (a key that matches a share and does not open it stops the
// restore with its *securitydomain.ShareError), builds the blob, checks it,
// records the step with a ceremony, writes the blob and reads it back.
// See the package documentation for what a failure leaves.
func (r *Restore) Run() (*RestoreResult, error) {
	if err := r.q.OpenForRestore(r.custodians); err != nil {
		return nil, err
	}
	rnd := r.req.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	res, err := r.q.Restore(r.exch.Cert, rnd)
	r.q.Wipe()
	if err != nil {
		return nil, err
	}
	blob := res.Blob.Marshal()
	if err := checkBlob(blob, r.exch.Cert, res.Payloads); err != nil {
		return nil, err
	}
	out := &RestoreResult{Out: r.req.Out, Blob: blob, SD: r.sd, Exchange: r.exch, Shares: res.Shares, Payloads: res.Payloads}
	if r.ledger != nil {
		if err := r.record(res, blob); err != nil {
			return nil, markf(ErrRecord, "%w; nothing was written to %s", err, r.req.Out)
		}
		out.Recorded = true
	}
	if err := r.write(blob); err != nil {
		return nil, err
	}
	return out, nil
}

// record records the step: the blob before it is written, so that a
// written blob is always a recorded one.
func (r *Restore) record(res *securitydomain.RestoreResult, blob []byte) error {
	var certs []*x509.Certificate
	for _, s := range res.Shares {
		certs = append(certs, s.Cert)
	}
	ev := RestoreEvent(r.sd.Path, r.sd.Data, r.sd.SD, r.exch.Cert, certs, res, blob)
	who{r.req.Actor, r.req.Guided, r.req.Loader}.fill(&ev)
	return r.ledger.record(ev)
}

// write writes the blob to Out and reads it back. A failure leaves nothing
// at Out; after a recording, the error says where the ceremony keeps it.
func (r *Restore) write(blob []byte) error {
	out := r.req.Out
	err := fsx.WriteNew(out, blob, 0o644)
	switch {
	case err != nil && r.ledger == nil && errors.Is(err, fs.ErrExist):
		return markf(ErrOutputExists, "output %s already exists", out)
	case err != nil:
		return r.notWritten(fmt.Errorf("writing %s: %w", out, fsx.UnwrapPathErr(err)))
	}
	got, err := fsx.ReadLimited(out, "restore blob", int64(len(blob))+1)
	if err == nil {
		err = sameBlob(got, blob)
	}
	if err != nil {
		fate := "it was removed"
		if rerr := os.Remove(out); rerr != nil {
			fate = fmt.Sprintf("remove it: %v", fsx.UnwrapPathErr(rerr))
		}
		return r.notWritten(markf(ErrReadBack, "%s read back: %w (%s)", out, err, fate))
	}
	return nil
}

// notWritten adds to a failed write, after a recording, that the ceremony
// holds the blob.
func (r *Restore) notWritten(err error) error {
	if r.ledger == nil {
		return err
	}
	kept := filepath.Join(r.ledger.dir, transcripts.ArtifactsDir, steps.RestoreBlobFile)
	return &marked{kind: ErrNotWritten, err: fmt.Errorf("the step is recorded in ceremony %s, but %w; the recorded blob is %s", r.ledger.dir, err, kept)}
}

// Close ends the restore: the shares are wiped and the ceremony closed. The
// Loader is the caller's to close.
func (r *Restore) Close() {
	if r.q != nil {
		r.q.Wipe()
	}
	r.ledger.close()
	r.ledger = nil
}

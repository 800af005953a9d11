package securitydomain

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A Quorum collects custodians' shares one key at a time: [Quorum.Open]
// decrypts a custodian's share at once and keeps it, so that a smartcard
// is needed only while its own share is opened and can then be removed.
// Once enough shares are open, [Quorum.Restore] builds the restore blob and
// [Quorum.Verify] runs the drill's checks. [Restore], [Verify] and
// [SecurityDomain.OpenShares] are this, with every key given at once.
//
// A Quorum holds decrypted shares: call [Quorum.Wipe] when done. It is not
// safe for concurrent use.
type Quorum struct {
	sd     *SecurityDomain
	status []ShareStatus // every key offered (opened, failed or skipped), in order
	shares [][]byte      // the opened shares, in opening order
	xs     []int         // their x coordinates
}

// NewQuorum returns an empty Quorum for sd.
func (sd *SecurityDomain) NewQuorum() *Quorum { return &Quorum{sd: sd} }

// Open offers one custodian's key: it finds the share whose x5t_256 is the
// certificate's, decrypts it with the key, and checks it (its length, its x,
// and that no share opened before has the same x).
//
// It returns an error and records nothing if the key is refused before any
// decryption: a certificate or key missing, a certificate that is not
// RSA-2048 or larger, or the certificate of a share already open
// (ErrDuplicateKey). A key that was offered and did not open its share may
// be offered again (after a token error, say): each try is recorded.
// Otherwise the key's status is recorded (see [Quorum.Status]) and
// returned, with an error if no share opened: one wrapping ErrNoShare when
// the security domain holds no share for the certificate, a [*ShareError]
// when the key did not open its share (the key's own error, such as a PIN
// or token problem, a wrong key, or a share that was altered).
func (q *Quorum) Open(c Custodian) (ShareStatus, error) {
	if err := check(c); err != nil {
		return ShareStatus{}, err
	}
	if err := q.checkNew(c); err != nil {
		return ShareStatus{}, err
	}
	st := q.statusOf(c)
	if st.Index < 0 {
		err := fmt.Errorf("%w (x5t#S256 %s)", ErrNoShare, st.X5T256)
		st.fail(err)
		q.status = append(q.status, st)
		return st, err
	}
	share, err := q.sd.shares[st.Index].openRSA(c.Key)
	st.Mechanism = MechanismOf(c.Key)
	if err == nil {
		st.X, err = q.checkShare(share)
		if err != nil {
			clear(share)
		}
	}
	if err != nil {
		st.X = 0
		st.failShare(st.Index, err)
		q.status = append(q.status, st)
		return st, &ShareError{Custodian: c.Name, Index: st.Index, Err: err}
	}
	st.Opened = true
	q.shares = append(q.shares, share)
	q.xs = append(q.xs, st.X)
	q.status = append(q.status, st)
	return st, nil
}

// check runs the checks done on a key before it is used.
func check(c Custodian) error {
	if c.Cert == nil || c.Key == nil {
		return fmt.Errorf("securitydomain: wrapping key %s: certificate or key missing", c.Name)
	}
	if _, err := rsaPublic(c.Cert); err != nil {
		return fmt.Errorf("wrapping key %s: %w", c.Name, err)
	}
	return nil
}

// checkNew refuses the certificate of a share already open, or of a key
// skipped (given already to OpenForRestore).
func (q *Quorum) checkNew(c Custodian) error {
	for _, prev := range q.status {
		if (prev.Opened || prev.Skipped) && prev.Cert.Equal(c.Cert) {
			return duplicate(prev.Custodian, c)
		}
	}
	return nil
}

func duplicate(first string, c Custodian) error {
	return fmt.Errorf("%w: %s and %s have the same certificate (x5t#S256 %s)", ErrDuplicateKey, first, c.Name, X5T256(c.Cert))
}

// statusOf is c's status before its share is opened: which share its
// certificate names, if any.
func (q *Quorum) statusOf(c Custodian) ShareStatus {
	st := ShareStatus{Custodian: c.Name, X5T256: X5T256(c.Cert), Cert: c.Cert, Index: q.sd.shareFor(X5T256(c.Cert))}
	if st.Index >= 0 {
		st.ShareKid = q.sd.Shares[st.Index].Kid
	}
	return st
}

// checkShare checks a decrypted share and returns its x.
func (q *Quorum) checkShare(share []byte) (int, error) {
	x, err := ShareX(share)
	if err != nil {
		return 0, err
	}
	if len(share) != 2*MasterKeySize {
		return 0, fmt.Errorf("%w: %d bytes, want %d", ErrShare, len(share), 2*MasterKeySize)
	}
	// The status also holds skipped and failed keys: look for the opened
	// share with this x there, not by index.
	for _, prev := range q.status {
		if prev.Opened && prev.X == x {
			return 0, fmt.Errorf("%w: x = %d is also the x of the share opened by %s", ErrShare, x, prev.Custodian)
		}
	}
	return x, nil
}

// OpenForRestore offers custodians in order, as [Restore] does, until the
// quorum is reached; the keys after that are recorded as skipped and not
// touched (no PIN is asked). A key whose certificate names no share is
// recorded and the next one tried; a key refused before decryption, or one
// that matches a share but does not open it (a [*ShareError]), stops it
// with that error. Reaching the quorum is not checked: see [Quorum.Reached].
func (q *Quorum) OpenForRestore(custodians []Custodian) error {
	for _, c := range custodians {
		if q.Reached() {
			if err := check(c); err != nil {
				return err
			}
			if err := q.checkNew(c); err != nil {
				return err
			}
			st := q.statusOf(c)
			st.Skipped = true
			q.status = append(q.status, st)
			continue
		}
		if _, err := q.Open(c); err != nil && !errors.Is(err, ErrNoShare) {
			return err
		}
	}
	return nil
}

// OpenForDrill offers every custodian, as [Verify] does: keys that do not
// open a share are only recorded in their status. It stops only at a key
// refused before any decryption.
func (q *Quorum) OpenForDrill(custodians []Custodian) error {
	for _, c := range custodians {
		if _, err := q.Open(c); err != nil && !tried(err) {
			return err
		}
	}
	return nil
}

// tried reports whether err, from Open, is a key that was tried and
// recorded, rather than one refused before any decryption.
func tried(err error) bool {
	var se *ShareError
	return errors.Is(err, ErrNoShare) || errors.As(err, &se)
}

// Opened returns the number of shares opened.
func (q *Quorum) Opened() int { return len(q.shares) }

// Reached reports whether the quorum (SharedKeys.required shares) is open.
func (q *Quorum) Reached() bool { return len(q.shares) >= q.sd.Required }

// Status returns the status of every key offered, in order.
func (q *Quorum) Status() []ShareStatus { return append([]ShareStatus(nil), q.status...) }

// Wipe clears the decrypted shares (best effort). The Quorum holds no
// share afterwards.
func (q *Quorum) Wipe() {
	for _, s := range q.shares {
		clear(s)
	}
	q.shares, q.xs = nil, nil
}

// insufficient is the error for fewer opened shares than the quorum, with
// why the other keys did not open one.
func (q *Quorum) insufficient() error {
	var why []string
	for _, st := range q.status {
		if st.Err != nil {
			why = append(why, st.Custodian+": "+st.Error)
		}
	}
	detail := ""
	if len(why) > 0 {
		detail = " (" + strings.Join(why, "; ") + ")"
	}
	return fmt.Errorf("%w: opened %d of the %d required%s", ErrInsufficientShares, len(q.shares), q.sd.Required, detail)
}

// combine recovers the master key from the opened shares at idx.
func (q *Quorum) combine(idx []int) ([]byte, error) {
	sub := make([][]byte, len(idx))
	for i, k := range idx {
		sub[i] = q.shares[k]
	}
	mk, err := Combine(sub)
	if err != nil {
		return nil, err
	}
	if len(mk) != MasterKeySize {
		clear(mk)
		return nil, fmt.Errorf("%w: shares give a %d-byte master key, want %d", ErrShare, len(mk), MasterKeySize)
	}
	return mk, nil
}

// master recovers the master key from the first Required shares opened.
func (q *Quorum) master() ([]byte, error) {
	if !q.Reached() {
		return nil, q.insufficient()
	}
	return q.combine(firstN(q.sd.Required))
}

// Restore builds the restore blob from the shares opened (spec §8): it
// recovers the master key from the first quorum of them, authenticates and
// decrypts every EncData entry, and re-encrypts them under a fresh master
// key wrapped to the exchange certificate. It fails with
// ErrInsufficientShares, saying why each other key opened none, before
// the quorum is reached. The result's Shares are [Quorum.Status].
func (q *Quorum) Restore(exchange *x509.Certificate, rand io.Reader) (*RestoreResult, error) {
	if _, err := rsaPublic(exchange); err != nil {
		return nil, fmt.Errorf("exchange key: %w", err)
	}
	master, err := q.master()
	if err != nil {
		return nil, err
	}
	defer clear(master)
	payloads, err := q.sd.DecryptData(master)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, p := range payloads {
			clear(p.Data)
		}
	}()
	blob, err := NewRestoreBlob(payloads, exchange, rand)
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{Blob: blob, Shares: q.Status()}
	for _, p := range payloads {
		res.Payloads = append(res.Payloads, PayloadInfo{Tag: p.Tag, Size: len(p.Data)})
	}
	return res, nil
}

func firstN(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

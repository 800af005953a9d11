package securitydomain

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors of a restore, wrapped with details.
var (
	// ErrTooFewKeys: fewer custodian keys were given than the quorum.
	ErrTooFewKeys = errors.New("securitydomain: fewer wrapping keys than the quorum")
	// ErrDuplicateKey: two custodian keys have the same certificate.
	ErrDuplicateKey = errors.New("securitydomain: the same wrapping key was given twice")
	// ErrInsufficientShares: fewer shares than the quorum could be opened.
	ErrInsufficientShares = errors.New("securitydomain: insufficient shares")
	// ErrNoShare: the security domain holds no share for a key's certificate.
	ErrNoShare = errors.New("securitydomain: no share for this certificate")
)

// A ShareError says that a custodian's key did not open its share: the key
// could not be used (a PIN, password or token problem, with its own hints
// in Err's chain), or it is not the key the certificate names, or the share
// was altered. Restore returns it; a drill records Err in ShareStatus.
type ShareError struct {
	Custodian string // how the key was given
	Index     int    // the share's place in SharedKeys.enc_shares
	Err       error
}

func (e *ShareError) Error() string {
	return fmt.Sprintf("wrapping key %s: opening its share SharedKeys.enc_shares[%d]: %v", e.Custodian, e.Index, e.Err)
}

func (e *ShareError) Unwrap() error { return e.Err }

// A Custodian is one custodian's wrapping key: its certificate (which names
// its share by SHA-256 thumbprint) and its private key. Name is how the key
// was given (a file path or a PKCS#11 URI) and is used in messages.
type Custodian struct {
	Name string
	Cert *x509.Certificate
	Key  Decrypter
}

// ShareStatus says what became of one custodian's key.
type ShareStatus struct {
	Custodian string `json:"custodian"`
	X5T256    string `json:"x5t_256"`
	Index     int    `json:"enc_share_index"`     // in SharedKeys.enc_shares; -1 if none matched
	ShareKid  string `json:"share_kid,omitempty"` // that share's JWE kid ("not used", or a UUID since 2025)
	X         int    `json:"x,omitempty"`         // the share's x coordinate, once opened
	Opened    bool   `json:"opened"`
	Skipped   bool   `json:"skipped,omitempty"` // not tried: the quorum was already reached
	Mechanism string `json:"mechanism,omitempty"`
	Err       error  `json:"-"`
	Error     string `json:"error,omitempty"`
}

func (s *ShareStatus) fail(err error) {
	s.Err = err
	s.Error = strings.TrimPrefix(err.Error(), "securitydomain: ")
}

// failShare records that the key did not open share index: Err is the
// key's own error, Error says which share.
func (s *ShareStatus) failShare(index int, err error) {
	s.Err = err
	s.Error = fmt.Sprintf("SharedKeys.enc_shares[%d]: %s", index, strings.TrimPrefix(err.Error(), "securitydomain: "))
}

// OpenedShares holds decrypted shares. Call Wipe when done.
type OpenedShares struct {
	Status   []ShareStatus
	Required int
	shares   [][]byte // in opening order
	xs       []int
}

// Count returns the number of shares opened.
func (o *OpenedShares) Count() int { return len(o.shares) }

// Wipe clears the decrypted shares (best effort).
func (o *OpenedShares) Wipe() {
	for _, s := range o.shares {
		clear(s)
	}
}

// Combine recovers the master key from the first Required shares opened.
func (o *OpenedShares) Combine() ([]byte, error) {
	if len(o.shares) < o.Required {
		return nil, fmt.Errorf("%w: %d opened, %d required", ErrInsufficientShares, len(o.shares), o.Required)
	}
	return o.combine(firstN(o.Required))
}

func (o *OpenedShares) combine(idx []int) ([]byte, error) {
	sub := make([][]byte, len(idx))
	for i, k := range idx {
		sub[i] = o.shares[k]
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

func firstN(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// checkCustodians runs the checks done before any decryption.
func (sd *SecurityDomain) checkCustodians(custodians []Custodian) error {
	for i, c := range custodians {
		if c.Cert == nil || c.Key == nil {
			return fmt.Errorf("securitydomain: wrapping key %s: certificate or key missing", c.Name)
		}
		if _, err := rsaPublic(c.Cert); err != nil {
			return fmt.Errorf("wrapping key %s: %w", c.Name, err)
		}
		for j := range i {
			if X5T256(custodians[j].Cert) == X5T256(c.Cert) {
				return fmt.Errorf("%w: %s and %s have the same certificate (x5t#S256 %s)", ErrDuplicateKey, custodians[j].Name, c.Name, X5T256(c.Cert))
			}
		}
	}
	return nil
}

// OpenShares decrypts the shares of the given custodians, matching each
// custodian's certificate to SharedKeys.enc_shares by x5t_256 and taking x
// from the share data.
//
// For a restore (all false), keys are used in order until the quorum is
// open; the rest are not touched (no PIN asked). A share that matches but does
// not open (wrong key, tampered data) stops the restore with an error naming
// the key. For a drill (all true), every key is tried and failures are only
// recorded in Status.
//
// It fails with ErrInsufficientShares if fewer than Required shares opened;
// the returned OpenedShares (with Status) is non-nil whenever the checks
// before decryption passed.
func (sd *SecurityDomain) OpenShares(custodians []Custodian, all bool) (*OpenedShares, error) {
	if err := sd.checkCustodians(custodians); err != nil {
		return nil, err
	}
	o := &OpenedShares{Required: sd.Required}
	for _, c := range custodians {
		st := ShareStatus{Custodian: c.Name, X5T256: X5T256(c.Cert), Index: sd.shareFor(X5T256(c.Cert))}
		if st.Index >= 0 {
			st.ShareKid = sd.Shares[st.Index].Kid
		}
		switch {
		case !all && len(o.shares) >= sd.Required:
			st.Skipped = true
		case st.Index < 0:
			st.fail(fmt.Errorf("%w (x5t#S256 %s)", ErrNoShare, st.X5T256))
		default:
			share, err := sd.shares[st.Index].openRSA(c.Key)
			st.Mechanism = MechanismOf(c.Key)
			if err == nil {
				st.X, err = ShareX(share)
				if err == nil && len(share) != 2*MasterKeySize {
					err = fmt.Errorf("%w: %d bytes, want %d", ErrShare, len(share), 2*MasterKeySize)
				}
				// o.Status also holds skipped and failed keys: look
				// for the opened share with this x there, not by index.
				for _, prev := range o.Status {
					if err == nil && prev.Opened && prev.X == st.X {
						err = fmt.Errorf("%w: x = %d is also the x of the share opened by %s", ErrShare, st.X, prev.Custodian)
					}
				}
				if err != nil {
					clear(share)
				}
			}
			if err != nil {
				st.X = 0
				st.failShare(st.Index, err)
				if !all {
					o.Status = append(o.Status, st)
					o.Wipe()
					return nil, &ShareError{Custodian: c.Name, Index: st.Index, Err: err}
				}
			} else {
				st.Opened = true
				o.shares = append(o.shares, share)
				o.xs = append(o.xs, st.X)
			}
		}
		o.Status = append(o.Status, st)
	}
	if len(o.shares) < sd.Required {
		var why []string
		for _, st := range o.Status {
			if st.Err != nil {
				why = append(why, st.Custodian+": "+st.Error)
			}
		}
		detail := ""
		if len(why) > 0 {
			detail = " (" + strings.Join(why, "; ") + ")"
		}
		return o, fmt.Errorf("%w: opened %d of the %d required%s", ErrInsufficientShares, len(o.shares), sd.Required, detail)
	}
	return o, nil
}

// A RestoreResult describes a finished restore. Nothing in it is secret.
type RestoreResult struct {
	Blob     *RestoreBlob
	Shares   []ShareStatus
	Payloads []PayloadInfo
}

// PayloadInfo describes one EncData entry without its content.
type PayloadInfo struct {
	Tag  string `json:"tag"`
	Size int    `json:"size"`
}

// Restore does the quorum restore (spec §8): it checks the inputs (at least
// Required keys, no key twice, RSA keys of 2048 bits or more), opens the
// first quorum of shares in the custodians' order, recovers the master key,
// authenticates and decrypts every EncData entry, and re-encrypts them under
// a fresh master key wrapped to the exchange certificate. Any failure
// returns an error and no blob.
func Restore(sd *SecurityDomain, exchange *x509.Certificate, custodians []Custodian, rand io.Reader) (*RestoreResult, error) {
	if _, err := rsaPublic(exchange); err != nil {
		return nil, fmt.Errorf("exchange key: %w", err)
	}
	if len(custodians) < sd.Required {
		return nil, fmt.Errorf("%w: %d given, the security domain needs %d", ErrTooFewKeys, len(custodians), sd.Required)
	}
	if err := sd.checkCustodians(custodians); err != nil {
		return nil, err
	}
	if len(sd.Shares) < sd.Required {
		return nil, fmt.Errorf("%w: the security domain holds %s, fewer than the %d required", ErrInsufficientShares, plural(len(sd.Shares), "share"), sd.Required)
	}
	opened, err := sd.OpenShares(custodians, false)
	if err != nil {
		return nil, err
	}
	defer opened.Wipe()
	master, err := opened.Combine()
	if err != nil {
		return nil, err
	}
	defer clear(master)
	payloads, err := sd.DecryptData(master)
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
	res := &RestoreResult{Blob: blob, Shares: opened.Status}
	for _, p := range payloads {
		res.Payloads = append(res.Payloads, PayloadInfo{Tag: p.Tag, Size: len(p.Data)})
	}
	return res, nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

package securitydomain

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
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
// was altered. Restore and Quorum.Open return it; a drill records Err in
// ShareStatus.
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
	Custodian string            `json:"custodian"`
	Cert      *x509.Certificate `json:"-"` // the key's certificate
	X5T256    string            `json:"x5t_256"`
	Index     int               `json:"enc_share_index"`     // in SharedKeys.enc_shares; -1 if none matched
	ShareKid  string            `json:"share_kid,omitempty"` // that share's JWE kid ("not used", or a UUID since 2025)
	X         int               `json:"x,omitempty"`         // the share's x coordinate, once opened
	Opened    bool              `json:"opened"`
	Skipped   bool              `json:"skipped,omitempty"` // not tried: the quorum was already reached
	Mechanism string            `json:"mechanism,omitempty"`
	Err       error             `json:"-"`
	Error     string            `json:"error,omitempty"`
}

func (s *ShareStatus) fail(err error) {
	s.Err = err
	s.Error = err.Error()
}

// failShare records that the key did not open share index: Err is the
// key's own error, Error says which share.
func (s *ShareStatus) failShare(index int, err error) {
	s.Err = err
	s.Error = fmt.Sprintf("SharedKeys.enc_shares[%d]: %s", index, err.Error())
}

// OpenedShares holds the shares [SecurityDomain.OpenShares] decrypted.
// Call Wipe when done.
type OpenedShares struct {
	Status   []ShareStatus
	Required int
	q        *Quorum
}

// Count returns the number of shares opened.
func (o *OpenedShares) Count() int { return o.q.Opened() }

// Wipe clears the decrypted shares (best effort).
func (o *OpenedShares) Wipe() { o.q.Wipe() }

// Combine recovers the master key from the first Required shares opened.
func (o *OpenedShares) Combine() ([]byte, error) { return o.q.master() }

// CheckCustodians runs the checks [Restore] and [Verify] do on their keys
// before any decryption: each has a certificate and a key, the certificate
// is RSA of 2048 bits or more, and no certificate is given twice
// (ErrDuplicateKey).
func (sd *SecurityDomain) CheckCustodians(custodians []Custodian) error {
	for i, c := range custodians {
		if err := check(c); err != nil {
			return err
		}
		for _, prev := range custodians[:i] {
			if X5T256(prev.Cert) == X5T256(c.Cert) {
				return duplicate(prev.Name, c)
			}
		}
	}
	return nil
}

// CheckRestorable fails, wrapping ErrInsufficientShares, when the security
// domain holds fewer shares than its quorum: no set of keys restores it.
func (sd *SecurityDomain) CheckRestorable() error {
	if len(sd.Shares) < sd.Required {
		return fmt.Errorf("%w: the security domain holds %s, fewer than the %d required", ErrInsufficientShares, plural(len(sd.Shares), "share"), sd.Required)
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
// recorded in Status. See [Quorum.OpenForRestore] and
// [Quorum.OpenForDrill].
//
// It fails with ErrInsufficientShares if fewer than Required shares opened;
// the returned OpenedShares (with Status) is non-nil whenever the checks
// before decryption passed.
func (sd *SecurityDomain) OpenShares(custodians []Custodian, all bool) (*OpenedShares, error) {
	if err := sd.CheckCustodians(custodians); err != nil {
		return nil, err
	}
	q := sd.NewQuorum()
	open := q.OpenForRestore
	if all {
		open = q.OpenForDrill
	}
	if err := open(custodians); err != nil {
		q.Wipe()
		return nil, err
	}
	o := &OpenedShares{Status: q.Status(), Required: sd.Required, q: q}
	if !q.Reached() {
		return o, q.insufficient()
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
// Required keys, no key twice, RSA keys of 2048 bits or more, a security
// domain with at least Required shares), opens the first quorum of shares in
// the custodians' order ([Quorum.OpenForRestore]), recovers the master key,
// authenticates and decrypts every EncData entry, and re-encrypts them under
// a fresh master key wrapped to the exchange certificate
// ([Quorum.Restore]). Any failure returns an error and no blob.
func Restore(sd *SecurityDomain, exchange *x509.Certificate, custodians []Custodian, rand io.Reader) (*RestoreResult, error) {
	if _, err := rsaPublic(exchange); err != nil {
		return nil, fmt.Errorf("exchange key: %w", err)
	}
	if len(custodians) < sd.Required {
		return nil, fmt.Errorf("%w: %d given, the security domain needs %d", ErrTooFewKeys, len(custodians), sd.Required)
	}
	if err := sd.CheckCustodians(custodians); err != nil {
		return nil, err
	}
	if err := sd.CheckRestorable(); err != nil {
		return nil, err
	}
	q := sd.NewQuorum()
	defer q.Wipe()
	if err := q.OpenForRestore(custodians); err != nil {
		return nil, err
	}
	return q.Restore(exchange, rand)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

package sdop

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/transcripts"
)

// Limits on the input files.
const (
	// MaxSDFile is the largest security-domain file: the largest artifact a
	// transcript keeps, since a ceremony records the file.
	MaxSDFile = transcripts.MaxArtifactSize
	// MaxExchangeKeyFile is the largest exchange-key file (a certificate,
	// or the transfer-key JSON).
	MaxExchangeKeyFile = 1 << 20
)

// Refusals and failures, matched with errors.Is.
var (
	// ErrRequest: a request lacks a field it needs (a caller's mistake).
	ErrRequest = errors.New("sdop: incomplete request")
	// ErrSDFile: the security-domain file cannot be read (missing, a
	// directory, over MaxSDFile). A file that reads but does not parse
	// matches securitydomain.ErrInvalidSD instead.
	ErrSDFile = errors.New("sdop: security domain file not readable")
	// ErrExchangeKeyFile: the exchange-key file cannot be read. One that
	// does not parse matches securitydomain.ErrInvalidExchangeKey.
	ErrExchangeKeyFile = errors.New("sdop: exchange key file not readable")
	// ErrOutputExists: the output exists (also matches fs.ErrExist).
	ErrOutputExists = fmt.Errorf("sdop: output exists: %w", fs.ErrExist)
	// ErrOutputDir: the output's directory does not exist.
	ErrOutputDir = errors.New("sdop: output directory missing")
	// ErrCeremony: the ceremony cannot record the step; nothing was done.
	ErrCeremony = errors.New("sdop: the ceremony cannot record this step")
	// ErrRecordedAlready: the ceremony records already what the step would
	// record under another content (a second restore). It also matches
	// ErrCeremony.
	ErrRecordedAlready = errors.New("sdop: the ceremony records this already")
	// ErrRecord: recording the step failed once it was done; nothing was
	// written.
	ErrRecord = errors.New("sdop: recording the step failed")
	// ErrNotWritten: the step is recorded, but its output could not be
	// written: the ceremony holds it.
	ErrNotWritten = errors.New("sdop: recorded, but the output was not written")
	// ErrReadBack: the restore blob does not read back as it was made.
	ErrReadBack = errors.New("sdop: the restore blob does not read back")
)

// marked is err with kind added to its chain; its text is err's.
type marked struct{ kind, err error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.kind, m.err} }

// markf is fmt.Errorf(format, args...) matching kind.
func markf(kind error, format string, args ...any) error {
	return &marked{kind: kind, err: fmt.Errorf(format, args...)}
}

// A KeyError is a key source that could not be loaded: Err is package
// custodian's error (it matches custodian's sentinels), Source the source
// as given (a PKCS#11 URI or a file path).
type KeyError struct {
	Source string
	Err    error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// A QuorumError is a request with fewer key sources than the security
// domain's quorum. It matches securitydomain.ErrTooFewKeys.
type QuorumError struct {
	Given, Required int
}

func (e *QuorumError) Error() string {
	return fmt.Sprintf("the security domain needs %d wrapping keys (its quorum), %d given", e.Required, e.Given)
}

func (e *QuorumError) Unwrap() error { return securitydomain.ErrTooFewKeys }

// An SDFile is a security-domain file, read and parsed.
type SDFile struct {
	Path string
	Data []byte // the file as read
	SD   *securitydomain.SecurityDomain
}

// ReadSD reads and parses a security-domain file. The guided ceremony
// checks the answer to its question with it; Validate reads the file the
// same way.
func ReadSD(path string) (*SDFile, error) {
	data, err := fsx.ReadLimited(path, "security domain", MaxSDFile)
	if err != nil {
		return nil, &marked{kind: ErrSDFile, err: err}
	}
	sd, err := securitydomain.ParseSD(data)
	if err != nil {
		return nil, fmt.Errorf("security domain %s: %w", path, err)
	}
	return &SDFile{Path: path, Data: data, SD: sd}, nil
}

// An ExchangeKey is the HSM's exchange key, read and parsed.
type ExchangeKey struct {
	Path string
	Data []byte // the file as read
	Cert *x509.Certificate
}

// ReadExchangeKey reads and parses an exchange-key file: the certificate
// `az keyvault security-domain init-recovery` writes, or the transfer-key
// JSON ([securitydomain.ParseExchangeKey]).
func ReadExchangeKey(path string) (*ExchangeKey, error) {
	data, err := fsx.ReadLimited(path, "exchange key", MaxExchangeKeyFile)
	if err != nil {
		return nil, &marked{kind: ErrExchangeKeyFile, err: err}
	}
	cert, err := securitydomain.ParseExchangeKey(data)
	if err != nil {
		return nil, fmt.Errorf("exchange key %s: %w", path, err)
	}
	return &ExchangeKey{Path: path, Data: data, Cert: cert}, nil
}

// CheckOutput refuses an output that exists (ErrOutputExists, fs.ErrExist)
// or whose directory does not (ErrOutputDir).
func CheckOutput(path string) error { return checkOutput(path, "output") }

// checkOutput is CheckOutput for an output named what ("output",
// "output directory").
func checkOutput(path, what string) error {
	if _, err := os.Lstat(path); err == nil {
		return markf(ErrOutputExists, "%s %s already exists", what, path)
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return markf(ErrOutputDir, "%s %s: the directory %s does not exist", what, path, dir)
	}
	return nil
}

// loadKeys loads every key source, in order, without a PIN or password
// where the source allows (see custodian.Loader.Load).
func loadKeys(l *custodian.Loader, srcs []string) ([]securitydomain.Custodian, error) {
	var cs []securitydomain.Custodian
	for _, s := range srcs {
		c, err := l.Load(s)
		if err != nil {
			return nil, &KeyError{Source: s, Err: err}
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// checkKeys checks the key part of a request: sources need a Loader.
func checkKeys(keys []string, l *custodian.Loader) error {
	if len(keys) > 0 && l == nil {
		return fmt.Errorf("%w: key sources without a Loader", ErrRequest)
	}
	return nil
}

// Package signop is the step "sign a ceremony's transcript": one signer's
// signature over the current state of a ceremony directory, with a key in
// a PEM file or on a token. `keyrite transcript sign` and the guided
// ceremony both run it.
//
// Like the other steps (byok/export, securitydomain/sdop) it is a Request,
// checked by Validate before anything is asked for or written, then Run:
//
//	op, err := signop.Request{Dir: dir, Key: src, TrustFile: trust, PIN: ask}.Validate()
//	if err != nil { ... }          // nothing asked, nothing written
//	defer op.Close()
//	res, err := op.Run()           // a token's PIN is asked here
//	if res.PolicyMet { ... }       // "ready for the online side"
//
// A request without Dir is the verifier-key form (`--print-key`): Validate,
// then Identity gives the name, role and verifier key that signing with the
// same request would use.
//
// # Naming
//
// One rule names the signer, for a printed verifier key and for signing
// alike, so that they always agree: with a trust file, the name it gives
// the key's public key (a different Request.Name is refused); else
// Request.Name; else the token object's label or the key file's base name.
// With a trust file the role is the trust file's too (a different
// Request.Role is refused); else Request.Role, or "operator".
//
// # What Validate refuses
//
// Before a PIN is asked for: no key given ([ErrRequest]); a Dir that is not
// a ceremony ([ErrNotCeremony]); a trust file that does not read or parse
// (transcripts.ErrTrust); a key file that does not read or is not an
// Ed25519 or ECDSA P-256 PKCS#8 key ([*KeyError], matching
// transcripts.ErrKey or fsx's errors); a PKCS#11 URI that does not parse or
// has no module-path (hsm.ErrURI), a module that does not load, a token not
// present, a PIN counter that is locked or at its final try without
// Login.FinalTry (hsm's sentinels); and, for a key file, a key or name or
// role the trust file disagrees with ([*TrustError], matching
// [ErrNotTrusted]). A key on a token is named after the login, in Run or
// Identity, with the same checks.
//
// # Recording
//
// A signature is not an event: it is written beside the transcript
// (signatures/), by transcripts.Sign, whose policies apply (an interrupted
// step closed first, an interrupted sign's leftovers removed, a state
// that does not verify refused, nothing overwritten).
//
// # Errors
//
// Errors keep the prefixes of the packages they come from ("transcripts: ",
// "hsm: "); this package's own start with "signop: " where they are not
// about a file or key they name first.
package signop

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/transcripts"
)

// MaxKeyFile is the largest signing key file read.
const MaxKeyFile = 64 << 10

// DefaultRole is the role signed in without a trust file or Request.Role.
const DefaultRole = "operator"

// Refusals, matched with errors.Is.
var (
	// ErrRequest: the request lacks the key (a caller's mistake).
	ErrRequest = errors.New("signop: incomplete request")
	// ErrNotCeremony: Dir holds no transcript. It matches
	// transcripts.ErrNotCeremony too.
	ErrNotCeremony = fmt.Errorf("signop: not a ceremony directory: %w", transcripts.ErrNotCeremony)
	// ErrNotTrusted: the key, the name or the role disagrees with the
	// trust file (a [*TrustError]).
	ErrNotTrusted = errors.New("signop: the key and the trust file disagree")
	// ErrPIN: the PIN could not be read (Request.PIN's error is in the
	// chain too).
	ErrPIN = errors.New("signop: the PIN could not be read")
	// ErrNotOpen: Run or Identity after a failed opening, or after Close.
	ErrNotOpen = errors.New("signop: the signing key is not open")
)

// A Request is one signature over a ceremony's current state.
type Request struct {
	// Dir is the ceremony directory to sign; empty for the verifier-key
	// form (Identity only; Run refuses).
	Dir string
	// Key is the signing key: a PEM file (PKCS#8 Ed25519 or ECDSA P-256)
	// or a PKCS#11 URI of an ECDSA P-256 key on a token, with module-path.
	Key string
	// Name is the signer's name; empty: the trust file's name for the key,
	// or the token object's label, or the key file's base name.
	Name string
	// Role is the role signed in; empty: the trust file's role for the
	// key, or DefaultRole. With a trust file, a Role given must be its.
	Role string
	// TrustFile, when set, names the trust file whose names and roles the
	// signature is made under, and whose policy Result.PolicyMet reports.
	TrustFile string
	// PIN asks for a token's PIN (prompt: "PIN for token \"LABEL\": "). It
	// is called once, in Run or Identity, after the PIN counter is checked.
	PIN func(prompt string) ([]byte, error)
	// Login is how the login treats the token's PIN counter. Its Warn is
	// called at most once per warning.
	Login hsm.LoginOptions
}

// An Identity is the signer a request signs as.
type Identity struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	KeyID       string `json:"key_id"`
	KeyType     string `json:"key_type"`
	VerifierKey string `json:"key"`
	// NameFrom says where the name comes from, for people.
	NameFrom NameSource `json:"-"`
	// Trusted is true when a trust file names the key.
	Trusted bool `json:"-"`
}

// NameSource is where a signer's name comes from.
type NameSource int

// Where a name comes from.
const (
	NameFromFile    NameSource = iota // the key file's base name
	NameFromToken                     // the token object's label
	NameFromRequest                   // Request.Name
	NameFromTrust                     // the trust file
)

// A Result is a signature made.
type Result struct {
	*transcripts.SignResult
	// Policy is the trust policy's state after signing (nil without a
	// trust file); PolicyMet is Policy.Met: with it, the online side can
	// act on the ceremony.
	Policy    *transcripts.PolicyReport `json:"policy,omitempty"`
	PolicyMet bool                      `json:"policy_met"`
}

// A KeyError is a signing key file that could not be read (Err names the
// file) or used (Err is transcripts.ParseSigningKeyPEM's, matching
// transcripts.ErrKey).
type KeyError struct {
	Path string
	Err  error
}

func (e *KeyError) Error() string {
	if errors.Is(e.Err, transcripts.ErrKey) {
		return fmt.Sprintf("signing key file %s: %v", e.Path, e.Err)
	}
	return e.Err.Error()
}
func (e *KeyError) Unwrap() error { return e.Err }

// A TrustError is a key, name or role the trust file disagrees with. It
// matches ErrNotTrusted.
type TrustError struct {
	TrustFile string
	// Field is what disagrees: "key" (the trust file does not list the
	// key), "name" or "role".
	Field string
	// Given is the name or role asked for; Trusted the trust file's; Signer
	// the trust file's name for the key (for a role).
	Given, Trusted, Signer string
}

func (e *TrustError) Error() string {
	switch e.Field {
	case "key":
		return fmt.Sprintf("signop: this key is not in trust file %s (under any name)", e.TrustFile)
	case "name":
		return fmt.Sprintf("signop: name %s, but trust file %s knows this key as %q", e.Given, e.TrustFile, e.Trusted)
	}
	return fmt.Sprintf("signop: role %s, but trust file %s gives %s the role %s", e.Given, e.TrustFile, e.Signer, e.Trusted)
}

func (e *TrustError) Unwrap() error { return ErrNotTrusted }

// An Op is a validated request. Close it when done: it may hold a token.
type Op struct {
	req    Request
	trust  *transcripts.Trust
	uri    *hsm.URI         // a key on a token, not yet opened
	mod    *hsm.Module      // the token's module, held from the PIN check
	key    crypto.Signer    // the key, once open
	ts     *hsm.TokenSigner // the token signer, once open
	from   NameSource       // where the default name comes from
	def    string           // the default name
	id     *Identity        // the signer, once named
	sig    *transcripts.Signer
	err    error // a failed opening, returned again
	closed bool
}

// Validate checks everything checkable before a PIN is asked for (see
// the package documentation) and returns the operation.
func (req Request) Validate() (*Op, error) {
	if req.Key == "" {
		return nil, fmt.Errorf("%w: no signing key", ErrRequest)
	}
	if req.Dir != "" {
		if err := checkCeremony(req.Dir); err != nil {
			return nil, err
		}
	}
	op := &Op{req: req}
	op.req.Login.Warn = warnOnce(req.Login.Warn)
	if req.TrustFile != "" {
		t, err := transcripts.ReadTrust(req.TrustFile)
		if err != nil {
			return nil, err
		}
		op.trust = t
	}
	if hsm.IsURI(req.Key) {
		if err := op.checkToken(); err != nil {
			return nil, err
		}
		return op, nil
	}
	if err := op.readKeyFile(); err != nil {
		return nil, err
	}
	if _, err := op.open(); err != nil {
		return nil, err
	}
	return op, nil
}

// checkCeremony refuses a directory without a transcript.
func checkCeremony(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, transcripts.TranscriptFile)); err != nil {
		return &notCeremony{fmt.Errorf("signop: %s is not a ceremony directory: %s: %w", dir, transcripts.TranscriptFile, fsx.UnwrapPathErr(err))}
	}
	return nil
}

// notCeremony is an ErrNotCeremony with its own text.
type notCeremony struct{ err error }

func (e *notCeremony) Error() string   { return e.err.Error() }
func (e *notCeremony) Unwrap() []error { return []error{ErrNotCeremony, e.err} }

// pinError is an ErrPIN with Request.PIN's error.
type pinError struct{ err error }

func (e *pinError) Error() string   { return "reading the PIN: " + e.err.Error() }
func (e *pinError) Unwrap() []error { return []error{ErrPIN, e.err} }

// LoadModule loads a token's module for the PIN check before the PIN is
// asked for (tests put a decorated module in its place, to play a token's
// PIN counter).
var LoadModule = hsm.Load

// checkToken parses the URI and reads the token's PIN counter without a
// PIN (hsm.Session.CheckPIN), keeping the module loaded (hsm.Load shares
// it with the signer's).
func (op *Op) checkToken() error {
	u, err := hsm.ParseURI(op.req.Key)
	if err != nil {
		return err
	}
	if u.ModulePath == "" {
		return fmt.Errorf("%w: %s has no module-path", hsm.ErrURI, u.Redacted())
	}
	m, err := LoadModule(u.ModulePath)
	if err != nil {
		return err
	}
	slot, err := m.FindToken(u.TokenFilter())
	if err == nil {
		var s *hsm.Session
		if s, err = m.OpenSession(slot); err == nil {
			_, err = s.CheckPIN(op.req.Login)
			s.Close()
		}
	}
	if err != nil {
		m.Close()
		return err
	}
	op.uri, op.mod = u, m
	op.from, op.def = NameFromToken, u.Object
	return nil
}

// readKeyFile reads and parses a signing key file.
func (op *Op) readKeyFile() error {
	path := op.req.Key
	data, err := fsx.ReadLimited(path, "signing key file", MaxKeyFile)
	if err != nil {
		return &KeyError{Path: path, Err: err}
	}
	key, err := transcripts.ParseSigningKeyPEM(data)
	clear(data)
	if err != nil {
		return &KeyError{Path: path, Err: err}
	}
	op.key = key
	op.from, op.def = NameFromFile, strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return nil
}

// open opens the key (a token's: the PIN is asked, and the login made) and
// names the signer, once.
func (op *Op) open() (*Identity, error) {
	if op.closed {
		return nil, ErrNotOpen
	}
	if op.id != nil || op.err != nil {
		return op.id, op.err
	}
	op.id, op.err = op.openOnce()
	if op.err != nil {
		op.release()
	}
	return op.id, op.err
}

func (op *Op) openOnce() (*Identity, error) {
	if op.key == nil {
		if op.uri == nil {
			return nil, ErrNotOpen
		}
		if op.req.PIN == nil {
			return nil, fmt.Errorf("%w: a key on a token, and no PIN source", ErrRequest)
		}
		pin, err := op.req.PIN(fmt.Sprintf("PIN for token %q: ", op.uri.Token))
		if err != nil {
			return nil, &pinError{err}
		}
		ts, err := hsm.OpenSignerWith(op.uri, pin, op.req.Login) // wipes pin
		if err != nil {
			return nil, err
		}
		op.ts, op.key = ts, ts
	}
	id, err := op.name()
	if err != nil {
		return nil, err
	}
	s, err := transcripts.NewSigner(id.Name, op.key)
	if err != nil {
		return nil, err
	}
	op.sig = s
	id.KeyID, id.KeyType, id.VerifierKey = fmt.Sprintf("%08x", s.KeyHash()), s.KeyType(), s.VerifierKey()
	return id, nil
}

// name applies the naming rule (see the package documentation).
func (op *Op) name() (*Identity, error) {
	req := op.req
	role := req.Role
	if role == "" {
		role = DefaultRole
	}
	if op.trust == nil {
		if req.Name != "" {
			return &Identity{Name: req.Name, Role: role, NameFrom: NameFromRequest}, nil
		}
		return &Identity{Name: op.def, Role: role, NameFrom: op.from}, nil
	}
	tk, ok := op.trust.KeyFor(op.key.Public())
	switch {
	case !ok:
		return nil, &TrustError{TrustFile: req.TrustFile, Field: "key"}
	case req.Name != "" && req.Name != tk.Name:
		return nil, &TrustError{TrustFile: req.TrustFile, Field: "name", Given: req.Name, Trusted: tk.Name}
	case req.Role != "" && req.Role != tk.Role:
		return nil, &TrustError{TrustFile: req.TrustFile, Field: "role", Given: req.Role, Trusted: tk.Role, Signer: tk.Name}
	}
	return &Identity{Name: tk.Name, Role: tk.Role, NameFrom: NameFromTrust, Trusted: true}, nil
}

// Identity returns the signer the request signs as, opening the key (a
// token's PIN is asked now, once for Identity and Run together).
func (op *Op) Identity() (*Identity, error) { return op.open() }

// Run signs the ceremony's current state (transcripts.Sign) and, with a
// trust file, verifies the ceremony against it to report whether its
// policy is now met.
func (op *Op) Run() (*Result, error) {
	if op.req.Dir == "" {
		return nil, fmt.Errorf("%w: no ceremony directory to sign", ErrRequest)
	}
	id, err := op.open()
	if err != nil {
		return nil, err
	}
	sr, err := transcripts.Sign(op.req.Dir, op.sig, id.Role)
	if err != nil {
		return nil, err
	}
	res := &Result{SignResult: sr}
	if op.trust != nil {
		rep, _ := transcripts.Verify(op.req.Dir, op.trust)
		if rep != nil && rep.Policy != nil {
			res.Policy, res.PolicyMet = rep.Policy, rep.Policy.Met
		}
	}
	return res, nil
}

// Close releases the token, if one was opened.
func (op *Op) Close() {
	if op == nil {
		return
	}
	op.release()
	op.closed = true
}

func (op *Op) release() {
	if op.ts != nil {
		op.ts.Close()
		op.ts = nil
	}
	if op.mod != nil {
		op.mod.Close()
		op.mod = nil
	}
}

// warnOnce passes each warning on once: the check before the PIN is asked
// for and the login's own check would otherwise both give it.
func warnOnce(warn func(string)) func(string) {
	if warn == nil {
		return nil
	}
	seen := map[string]bool{}
	return func(msg string) {
		if !seen[msg] {
			seen[msg] = true
			warn(msg)
		}
	}
}

package sdop

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// DefaultKeygenLabel is the default prefix of the custodians' key labels
// and certificate names: PREFIX-1 ... PREFIX-N.
const DefaultKeygenLabel = "keyrite-sd-custodian"

// Files a keygen writes into its output directory (beside
// steps.CertificateFileName(i) for each custodian).
const (
	CustodiansFile = "custodians.txt" // "INDEX X5T256 KEY" per custodian
)

// KeyFileName names custodian i's private key file (rehearsals only).
func KeyFileName(i int) string { return fmt.Sprintf("wrap_%d.pem", i) }

// Keygen refusals and failures, matched with errors.Is (beside the
// package's ErrOutputExists, ErrOutputDir, ErrCeremony, ErrRecord and
// ErrNotWritten).
var (
	// ErrKeygenParams: the number of custodians, the quorum, the key size
	// or the label is out of range (a *KeygenParamError).
	ErrKeygenParams = errors.New("sdop: keygen parameters out of range")
	// ErrTokenSource: a custodian's token is named unusably (a
	// *TokenSourceError).
	ErrTokenSource = errors.New("sdop: unusable custodian token")
	// ErrSameToken: two custodians name the same token.
	ErrSameToken = errors.New("sdop: two custodians on one token")
	// ErrKeygenOrder: Generate after every custodian's key was made, or Run
	// before, one custodian at a time.
	ErrKeygenOrder = errors.New("sdop: keygen steps out of order")
)

// A KeygenRequest is an activation's custodian keys: N RSA key pairs, each
// with a self-signed certificate, and the body of the security-domain
// download request built from the certificates, as
// `az keyvault security-domain download --sd-wrapping-keys ... --sd-quorum M`
// builds it.
type KeygenRequest struct {
	// Custodians is N, 3..10; with Tokens, 0 or len(Tokens).
	Custodians int
	// Quorum is M: 2..10 and at most N.
	Quorum int
	// Bits is the RSA modulus size: 2048 (0), 3072 or 4096.
	Bits int
	// Label is the prefix of the key labels and certificate names
	// (PREFIX-1 ...; "": DefaultKeygenLabel). A token URI's object=
	// overrides it for that key.
	Label string
	// Tokens are the custodians' tokens, one PKCS#11 URI each (token=
	// or serial=, module-path=, optionally object=LABEL for the key). The
	// keys are generated on them, never extractable. Empty: software keys
	// written as PEM files, a rehearsal.
	Tokens []string
	// OneAtATime: the tokens are not all present at once (the guided
	// ceremony, card by card). Validate then checks the URIs only; each
	// token is found when its turn comes, in Generate, through a Loader of
	// its own closed right after, so that the card can be removed. Without
	// it, Validate finds every token (no PIN) before any key is made.
	OneAtATime bool
	// NextToken, with OneAtATime and no Tokens, gives custodian i's token
	// URI when its turn comes (the guided ceremony waits for the card to
	// be inserted and names it then); Custodians must be set. Its error
	// is returned as it is.
	NextToken func(i int) (string, error)
	// Secrets are where the tokens' PINs come from.
	Secrets custodian.Options
	// OutDir is the new directory to write (it must not exist).
	OutDir string
	// CeremonyDir, when set, is the ceremony the step is recorded in,
	// checked before any key is made and recorded before OutDir is
	// written.
	CeremonyDir string
	// Actor is recorded with the step (zero: the transcript's default).
	Actor transcripts.Actor
	// Guided marks the step as run by the guided ceremony in its record.
	Guided bool
	// Rand and Now are the randomness and clock (nil: crypto/rand, time.Now).
	Rand io.Reader
	Now  func() time.Time
}

// A KeygenParamError is a request parameter out of range; it matches
// ErrKeygenParams.
type KeygenParamError struct {
	// Param is "custodians", "quorum", "bits" or "label".
	Param      string
	Custodians int
	Quorum     int
	Bits       int
	Label      string
}

func (e *KeygenParamError) Error() string {
	switch e.Param {
	case "custodians":
		return fmt.Sprintf("sdop: %d custodians, want %d..%d", e.Custodians, securitydomain.MinCustodians, securitydomain.MaxCustodians)
	case "quorum":
		return fmt.Sprintf("sdop: quorum %d for %d custodians, want %d..%d and at most %d", e.Quorum, e.Custodians, securitydomain.MinQuorum, securitydomain.MaxQuorum, e.Custodians)
	case "bits":
		return fmt.Sprintf("sdop: RSA-%d, want 2048, 3072 or 4096", e.Bits)
	}
	return fmt.Sprintf("sdop: label %q is not a usable label", e.Label)
}

func (e *KeygenParamError) Unwrap() error { return ErrKeygenParams }

// A TokenSourceError is custodian Index's token (0-based), named
// unusably: Err is hsm.ErrURI (a malformed URI), ErrTokenSource (type= or
// id= given, or no token named) or ErrSameToken (Other is the custodian
// whose token it is too).
type TokenSourceError struct {
	Index int
	URI   string // redacted; "" when it does not parse
	Other int
	Err   error
}

func (e *TokenSourceError) Error() string {
	switch {
	case errors.Is(e.Err, ErrSameToken):
		return fmt.Sprintf("sdop: custodians %d and %d name the same token %s", e.Other, e.Index, e.URI)
	case e.URI == "":
		return fmt.Sprintf("sdop: custodian %d's token: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("sdop: custodian %d's token %s: %v", e.Index, e.URI, e.Err)
}

func (e *TokenSourceError) Unwrap() error { return e.Err }

// A MadeError is a failure after some keys were made on tokens: they
// remain there. It matches Err.
type MadeError struct {
	Made []string // the new keys' URIs
	Err  error
}

func (e *MadeError) Error() string {
	return fmt.Sprintf("%v (keys already generated on tokens: %s)", e.Err, strings.Join(e.Made, ", "))
}

func (e *MadeError) Unwrap() error { return e.Err }

// A NotWrittenError is a keygen recorded in its ceremony whose output
// directory could not be published: the outputs are whole in Temp. It
// matches ErrNotWritten and Err.
type NotWrittenError struct {
	Ceremony, OutDir, Temp string
	Err                    error
}

func (e *NotWrittenError) Error() string {
	return fmt.Sprintf("the step is recorded in ceremony %s, but %s could not be written: %v; the outputs are complete in %s", e.Ceremony, e.OutDir, e.Err, e.Temp)
}

func (e *NotWrittenError) Unwrap() []error { return []error{ErrNotWritten, e.Err} }

// A KeygenCustodian is one custodian's new key and certificate.
type KeygenCustodian struct {
	Index  int    `json:"index"`
	Key    string `json:"key"`  // the private key: its PEM file (set by Run) or PKCS#11 URI
	Cert   string `json:"cert"` // the certificate file (set by Run)
	X5T256 string `json:"x5t_256"`
	Words  string `json:"cert_words"`
	Token  string `json:"token,omitempty"` // the token's label
	// Certificate is the certificate, CertPEM its PEM as written.
	Certificate *x509.Certificate `json:"-"`
	CertPEM     []byte            `json:"-"`
	keyPEM      []byte            // a software key, until written
}

// A KeygenResult is what a keygen made. Nothing in it is secret.
type KeygenResult struct {
	OutDir     string
	Custodians []*KeygenCustodian
	Quorum     int
	Bits       int
	OnTokens   bool
	Request    []byte // the download request body
	// RequestFile is the download request as written in OutDir.
	RequestFile string
	Recorded    bool // in the ceremony
}

// A Keygen is a validated keygen request. Close it when done: it holds
// the ceremony, locked, and the tokens' sessions.
type Keygen struct {
	req    KeygenRequest
	n      int
	uris   []*hsm.URI
	loader *custodian.Loader  // every token at once (not OneAtATime)
	toks   []*custodian.Token // found by Validate (not OneAtATime)
	seen   []tokenID          // the tokens used, one at a time
	cs     []*KeygenCustodian // made so far, in order
	made   []string           // keys made on tokens
	info   *transcripts.HSMInfo
	tokens []string // the tokens used, as the loader describes them
	ledger *ledger
}

// Validate checks everything a keygen can check before any key is made:
// the parameters, the output directory, the token URIs (and, unless
// OneAtATime, that every token is present and each is a different one,
// without a PIN), and with a ceremony that the step could be recorded
// there (the ceremony is then opened and locked until Close).
func (req KeygenRequest) Validate() (*Keygen, error) {
	k := &Keygen{req: req, n: req.Custodians}
	if len(req.Tokens) > 0 && k.n == 0 {
		k.n = len(req.Tokens)
	}
	if k.req.Bits == 0 {
		k.req.Bits = 2048
	}
	if k.req.Label == "" {
		k.req.Label = DefaultKeygenLabel
	}
	if err := k.checkParams(); err != nil {
		return nil, err
	}
	if err := checkOutput(req.OutDir, "output directory"); err != nil {
		return nil, err
	}
	if err := k.parseTokens(); err != nil {
		return nil, err
	}
	if len(k.uris) > 0 && !req.OneAtATime {
		if err := k.findTokens(); err != nil {
			k.Close()
			return nil, err
		}
	}
	if req.CeremonyDir != "" {
		l, err := openLedger(req.CeremonyDir, k.preview(), "one activation per ceremony")
		if err != nil {
			k.Close()
			return nil, err
		}
		k.ledger = l
	}
	return k, nil
}

func (k *Keygen) checkParams() error {
	r, n := k.req, k.n
	pe := &KeygenParamError{Custodians: n, Quorum: r.Quorum, Bits: r.Bits, Label: r.Label}
	switch {
	case r.OutDir == "":
		return fmt.Errorf("%w: no output directory", ErrRequest)
	case len(r.Tokens) > 0 && r.Custodians != 0 && r.Custodians != len(r.Tokens):
		return fmt.Errorf("%w: %d custodians but %d tokens", ErrRequest, r.Custodians, len(r.Tokens))
	case r.NextToken != nil && (!r.OneAtATime || len(r.Tokens) > 0):
		return fmt.Errorf("%w: NextToken is for one card at a time, without Tokens", ErrRequest)
	case n < securitydomain.MinCustodians || n > securitydomain.MaxCustodians:
		pe.Param = "custodians"
	case r.Quorum < securitydomain.MinQuorum || r.Quorum > securitydomain.MaxQuorum || r.Quorum > n:
		pe.Param = "quorum"
	case !securitydomain.ValidKeySize(r.Bits):
		pe.Param = "bits"
	case strings.ContainsAny(r.Label, "/\\\x00"):
		pe.Param = "label"
	default:
		return nil
	}
	return pe
}

// parseTokens parses the token URIs: each names a token, and no key
// (keyrite chooses a fresh CKA_ID for each new key).
func (k *Keygen) parseTokens() error {
	for i, s := range k.req.Tokens {
		u, err := parseTokenURI(i, s)
		if err != nil {
			return err
		}
		k.uris = append(k.uris, u)
	}
	return nil
}

func parseTokenURI(i int, s string) (*hsm.URI, error) {
	u, err := hsm.ParseURI(s)
	if err != nil {
		return nil, &TokenSourceError{Index: i, Err: err}
	}
	switch {
	case u.Type != "" || len(u.ID) > 0:
		return nil, &TokenSourceError{Index: i, URI: u.Redacted(), Err: fmt.Errorf("%w: give only the token (and optionally object=LABEL for the new key), not type= or id=", ErrTokenSource)}
	case u.Token == "" && u.Serial == "":
		return nil, &TokenSourceError{Index: i, URI: u.Redacted(), Err: fmt.Errorf("%w: it names no token: add token=LABEL (or serial=...)", ErrTokenSource)}
	case u.ModulePath == "":
		return nil, &TokenSourceError{Index: i, URI: u.Redacted(), Err: fmt.Errorf("%w: %s has no module-path", hsm.ErrURI, u.Redacted())}
	}
	return u, nil
}

// nextToken names custodian i's token through NextToken, when its turn
// comes.
func (k *Keygen) nextToken(i int) error {
	if i < len(k.uris) {
		return nil
	}
	s, err := k.req.NextToken(i)
	if err != nil {
		return err
	}
	u, err := parseTokenURI(i, s)
	if err != nil {
		return err
	}
	k.req.Tokens = append(k.req.Tokens, s)
	k.uris = append(k.uris, u)
	return nil
}

// findTokens finds every token, without a PIN, and checks that they are
// distinct.
func (k *Keygen) findTokens() error {
	k.loader = custodian.NewLoader(k.req.Secrets)
	for i, u := range k.uris {
		tok, err := k.loader.Token(u)
		if err != nil {
			return &KeyError{Source: k.req.Tokens[i], Err: err}
		}
		for j, t := range k.toks {
			if t == tok {
				return &TokenSourceError{Index: i, URI: fmt.Sprintf("%q", tok.Label()), Other: j, Err: ErrSameToken}
			}
		}
		k.toks = append(k.toks, tok)
	}
	return nil
}

// OnTokens reports whether the keys are made on tokens.
func (k *Keygen) OnTokens() bool {
	return len(k.uris) > 0 || k.req.OneAtATime && k.req.NextToken != nil
}

// Custodians is N.
func (k *Keygen) Custodians() int { return k.n }

// Made returns the custodians whose keys are made so far, in order.
func (k *Keygen) Made() []*KeygenCustodian { return k.cs }

// Generate makes the next custodian's key (custodian len(Made())): on its
// token (found now when OneAtATime, then released, so that the card can be
// removed; the PIN is asked now) or in software. A failure after keys
// were made on tokens is a *MadeError naming them.
func (k *Keygen) Generate() (*KeygenCustodian, error) {
	i := len(k.cs)
	if i >= k.n {
		return nil, fmt.Errorf("%w: all %d custodians' keys are made", ErrKeygenOrder, k.n)
	}
	var c *KeygenCustodian
	var err error
	if k.OnTokens() {
		c, err = k.generateOnToken(i)
	} else {
		c, err = k.generateSoftware(i)
	}
	if err != nil {
		if len(k.made) > 0 {
			return nil, &MadeError{Made: append([]string(nil), k.made...), Err: err}
		}
		return nil, err
	}
	k.cs = append(k.cs, c)
	return c, nil
}

func (k *Keygen) rand() io.Reader {
	if k.req.Rand != nil {
		return k.req.Rand
	}
	return rand.Reader
}

func (k *Keygen) now() time.Time {
	if k.req.Now != nil {
		return k.req.Now()
	}
	return time.Now()
}

func describeCustodian(i int, cert *x509.Certificate) *KeygenCustodian {
	return &KeygenCustodian{Index: i, Certificate: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		X5T256: securitydomain.X5T256(cert), Words: words.Sum(cert.Raw).Short()}
}

func (k *Keygen) generateSoftware(i int) (*KeygenCustodian, error) {
	key, err := securitydomain.GenerateSoftwareKey(k.req.Bits, k.rand())
	if err != nil {
		return nil, err
	}
	cert, err := securitydomain.SelfSignedCertificate(key, fmt.Sprintf("%s-%d", k.req.Label, i+1), k.now(), k.rand())
	if err != nil {
		return nil, fmt.Errorf("custodian %d: %w", i, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	c := describeCustodian(i, cert)
	c.keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	clear(der)
	return c, nil
}

// Run makes the keys not made yet (unless OneAtATime, where Generate must
// have made every one), builds the download request, writes the outputs
// to a temporary directory, records the step with a ceremony, and
// publishes OutDir. If the recording fails, nothing is published (the
// software keys are discarded; keys on tokens remain, a *MadeError names
// them); if publishing fails after the recording, a *NotWrittenError says
// where the outputs are.
func (k *Keygen) Run() (*KeygenResult, error) {
	for len(k.cs) < k.n {
		if k.req.OneAtATime && k.OnTokens() {
			return nil, fmt.Errorf("%w: %d of %d custodians' keys made", ErrKeygenOrder, len(k.cs), k.n)
		}
		if _, err := k.Generate(); err != nil {
			return nil, err
		}
	}
	defer k.wipe()
	var certs []*x509.Certificate
	for _, c := range k.cs {
		certs = append(certs, c.Certificate)
	}
	body, err := securitydomain.DownloadRequest(certs, k.req.Quorum)
	if err != nil {
		return nil, k.madeErr(fmt.Errorf("building the download request: %w", err))
	}
	tmp, err := k.writeTemp(body)
	if err != nil {
		return nil, k.madeErr(err)
	}
	res := &KeygenResult{OutDir: k.req.OutDir, Custodians: k.cs, Quorum: k.req.Quorum, Bits: k.req.Bits, OnTokens: k.OnTokens(),
		Request: body, RequestFile: filepath.Join(k.req.OutDir, steps.DownloadRequestFile)}
	if k.ledger != nil {
		if err := k.ledger.record(k.event(k.cs, body)); err != nil {
			os.RemoveAll(tmp)
			what := "the software keys were discarded"
			if k.OnTokens() {
				what = "the keys made on the tokens remain there"
			}
			return nil, k.madeErr(markf(ErrRecord, "%w; nothing was written to %s (%s)", err, k.req.OutDir, what))
		}
		res.Recorded = true
	}
	if err := fsx.CommitDir(tmp, k.req.OutDir); err != nil {
		if res.Recorded {
			// The outputs are whole in tmp, and the only copy of the
			// rehearsal keys: kept.
			return nil, &NotWrittenError{Ceremony: k.req.CeremonyDir, OutDir: k.req.OutDir, Temp: tmp, Err: err}
		}
		os.RemoveAll(tmp)
		return nil, k.madeErr(k.outDirErr(err))
	}
	return res, nil
}

// madeErr is err, as a *MadeError when keys were made on tokens.
func (k *Keygen) madeErr(err error) error {
	if len(k.made) == 0 {
		return err
	}
	return &MadeError{Made: append([]string(nil), k.made...), Err: err}
}

// outDirErr is an error creating or publishing OutDir.
func (k *Keygen) outDirErr(err error) error {
	if errors.Is(err, fs.ErrExist) {
		return markf(ErrOutputExists, "output directory %s already exists", k.req.OutDir)
	}
	return fmt.Errorf("writing %s: %w", k.req.OutDir, fsx.UnwrapPathErr(err))
}

// writeTemp writes the outputs into a new temporary directory beside
// OutDir, setting each custodian's Cert and (software) Key paths.
func (k *Keygen) writeTemp(body []byte) (string, error) {
	out := k.req.OutDir
	tmp, err := fsx.TempDirFor(out)
	if err != nil {
		return "", k.outDirErr(err)
	}
	write := func(name string, data []byte, perm os.FileMode) error {
		if err := fsx.WriteNew(filepath.Join(tmp, name), data, perm); err != nil {
			return fmt.Errorf("writing %s: %w", filepath.Join(out, name), fsx.UnwrapPathErr(err))
		}
		return nil
	}
	var list bytes.Buffer
	err = func() error {
		for _, c := range k.cs {
			c.Cert = filepath.Join(out, steps.CertificateFileName(c.Index))
			if err := write(steps.CertificateFileName(c.Index), c.CertPEM, 0o644); err != nil {
				return err
			}
			if c.keyPEM != nil {
				c.Key = filepath.Join(out, KeyFileName(c.Index))
				if err := write(KeyFileName(c.Index), c.keyPEM, 0o600); err != nil {
					return err
				}
			}
			fmt.Fprintf(&list, "%d %s %s\n", c.Index, c.X5T256, c.Key)
		}
		if err := write(CustodiansFile, list.Bytes(), 0o644); err != nil {
			return err
		}
		if err := write(steps.DownloadRequestFile, body, 0o644); err != nil {
			return err
		}
		return os.Chmod(tmp, 0o755)
	}()
	if err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return tmp, nil
}

// wipe clears the software keys' PEM.
func (k *Keygen) wipe() {
	for _, c := range k.cs {
		clear(c.keyPEM)
		c.keyPEM = nil
	}
}

// Close releases the tokens and the ceremony, and clears software keys
// not written.
func (k *Keygen) Close() {
	k.wipe()
	if k.loader != nil {
		k.loader.Close()
		k.loader = nil
	}
	k.ledger.close()
	k.ledger = nil
}

// event is the step as the transcript records it.
func (k *Keygen) event(cs []*KeygenCustodian, body []byte) transcripts.Event {
	x := steps.SDKeygen{
		Common:  steps.Common{Result: "ok", Mechanism: steps.KeygenMechanismToken},
		Request: steps.File{Name: steps.DownloadRequestFile, Data: body},
		Quorum:  k.req.Quorum, RSABits: k.req.Bits,
	}
	if !k.OnTokens() {
		x.Mechanism, x.Deviations = steps.KeygenMechanismSoftware, []string{steps.KeygenDeviationSoftware}
	}
	for _, c := range cs {
		x.Custodians = append(x.Custodians, steps.KeygenCustodian{Index: c.Index, X5T256: c.X5T256, Key: c.Key,
			Certificate: steps.File{Name: steps.CertificateFileName(c.Index), Data: c.CertPEM}})
	}
	x.HSM, x.Tokens = k.info, k.tokens
	if k.loader != nil {
		x.HSM, x.Tokens = k.loader.HSMInfo()
	}
	ev := x.Event()
	who{k.req.Actor, k.req.Guided, nil}.fill(&ev)
	return ev
}

// preview is the event with stand-ins for the keys not made yet (the
// names and parameters the step will record, placeholder certificates and
// thumbprints), for checking before any key is made.
func (k *Keygen) preview() transcripts.Event {
	var cs []*KeygenCustodian
	for i := range k.n {
		c := &KeygenCustodian{Index: i, CertPEM: []byte("placeholder certificate"), X5T256: strings.Repeat("x", 43)}
		if i < len(k.uris) {
			c.Key = tokenKeyURI(k.uris[i], tokenKeyLabel(k.uris[i], k.req.Label, i), make([]byte, 16))
		} else {
			c.Key = filepath.Join(k.req.OutDir, KeyFileName(i))
		}
		cs = append(cs, c)
	}
	return k.event(cs, []byte("placeholder request"))
}

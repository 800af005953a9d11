// Package transcripts records ceremonies: every state-changing step of keyrite
// appends an event to the ceremony directory's transcript, keeps the step's
// public inputs and outputs there as artifacts bound by digest, and people
// sign the resulting state.
//
// This file is the API other packages and commands call. The transcripts
// package owner may extend it (new fields, new constructors) but keeps these
// names and signatures so that callers keep compiling.
package transcripts

import (
	"errors"
)

// Event is one step of a ceremony. It is built only from public values:
// artifacts come from the constructors below, and parameters are names and
// values that callers must never fill with secrets (PINs, passwords, key
// material, shares). The package rejects artifacts that look like private keys.
type Event struct {
	Step       string     // machine name of the step: "kek.inspect", "byok.export", "sd.restore", ...
	Action     string     // one sentence for people: "exported app-key wrapped under KEK ..."
	Actor      Actor      // who ran it, in which role (operator by default)
	Inputs     []Artifact // public inputs, kept in the ceremony directory
	Outputs    []Artifact // public outputs, kept in the ceremony directory
	Params     []Param    // non-secret parameters
	HSM        *HSMInfo   // the PKCS#11 module and token used, if any
	Mechanism  string     // e.g. "CKM_RSA_AES_KEY_WRAP" or "CKM_AES_KEY_WRAP_PAD+CKM_RSA_PKCS_OAEP"
	Result     string     // "ok", or what failed
	Deviations []string   // anything done outside the normal path (e.g. a quirk accepted in a rehearsal)
}

// Actor is who performed a step.
type Actor struct {
	Name string
	Role string // "operator", "witness", "custodian", "uploader", ...
}

// Param is a non-secret parameter of a step.
type Param struct {
	Name  string
	Value string
}

// HSMInfo describes the PKCS#11 module and token a step used.
type HSMInfo struct {
	ModulePath   string
	ModuleSHA256 string
	TokenLabel   string
	Manufacturer string
	Model        string
	Serial       string
	Firmware     string
}

// Kind says what an artifact is.
type Kind string

// Artifact kinds. Only public material has a kind.
const (
	KindKEK             Kind = "kek-public-key"
	KindBYOK            Kind = "byok"
	KindCertificate     Kind = "certificate"
	KindSecurityDomain  Kind = "security-domain"
	KindRestoreBlob     Kind = "restore-blob"
	KindDownloadRequest Kind = "download-request"
	KindExchangeKey     Kind = "exchange-key"
	KindPublicKey       Kind = "public-key"
	KindReport          Kind = "report"
	KindServiceResponse Kind = "service-response"
)

// Artifact is a public file kept in the ceremony directory.
type Artifact struct {
	Name string // file name inside the ceremony's artifact directory; must be a plain base name
	Kind Kind
	Data []byte
}

// NewArtifact makes an artifact. It is the only way to make one; the package
// refuses data that contains private-key PEM blocks or is empty.
func NewArtifact(name string, kind Kind, data []byte) Artifact {
	return Artifact{Name: name, Kind: kind, Data: data}
}

// Ceremony is an open ceremony directory.
type Ceremony struct {
	dir string
}

// ErrNotImplemented is returned until the package is complete.
var ErrNotImplemented = errors.New("transcripts: not implemented yet")

// Open opens the ceremony directory dir for appending, creating it on first
// use. If the last line of the transcript was torn by a crash, Open reports it
// and appends an explicit "aborted" record before anything else.
func Open(dir string) (*Ceremony, error) { return nil, ErrNotImplemented }

// Record appends ev to the transcript, storing its artifacts, durably (the
// line and the directory are fsynced before Record returns).
func (c *Ceremony) Record(ev Event) error { return ErrNotImplemented }

// Close releases the ceremony directory.
func (c *Ceremony) Close() error { return nil }

// RecordStep opens dir, records ev and closes it: the one call most commands
// need for --ceremony DIR.
func RecordStep(dir string, ev Event) error {
	c, err := Open(dir)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Record(ev)
}

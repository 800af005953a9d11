// This file is the API other packages and commands call to record a step.
// Names and signatures here are stable; fields and constructors may be added.

package transcripts

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

	// ActedOn names the signed checkpoint this step acted on. The uploader
	// sets it on every event it appends, so that its record says exactly
	// which verified offline state it performed. Record checks that the
	// checkpoint is a prefix of this transcript.
	ActedOn *CheckpointRef
}

// Actor is who performed a step.
type Actor struct {
	Name string `json:"name"` // as the person gave it (default: the login name)
	Role string `json:"role"` // "operator" (default), "witness", "custodian", "uploader", ...
}

// Param is a non-secret parameter of a step.
type Param struct {
	Name  string `json:"name"`  // refused if it names a secret (pin, password, secret, private, share, ...)
	Value string `json:"value"` // refused if it carries secret markers (PEM private keys, pin-value=, ...)
}

// HSMInfo describes the PKCS#11 module and token a step used.
type HSMInfo struct {
	ModulePath   string `json:"module_path"`
	ModuleSHA256 string `json:"module_sha256,omitempty"` // hex SHA-256 of the module file
	TokenLabel   string `json:"token_label,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Serial       string `json:"serial,omitempty"`
	Firmware     string `json:"firmware,omitempty"`
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
	KindSelfTest        Kind = "self-test"      // known-answer test results (public test vectors and outcomes)
	KindAttributes      Kind = "key-attributes" // public PKCS#11 attributes of a key (label, type, size, flags)
	KindTokenInfo       Kind = "token-info"     // C_GetTokenInfo / C_GetInfo output

	// KindOrphan is only used by the package itself: an artifact that a
	// crashed step wrote but no event bound, bound by the "aborted" record
	// that closes the crash (renamed NAME.orphan-SEQ).
	KindOrphan Kind = "orphan"
)

// Artifact is a public file kept in the ceremony directory.
type Artifact struct {
	Name string // file name inside the ceremony's artifact directory; must be a plain base name
	Kind Kind
	Data []byte
}

// NewArtifact makes an artifact. The package refuses (in Record, which
// returns the error) data that is empty, larger than MaxArtifactSize, or
// looks like private or secret key material; see CheckArtifact for the rules.
// Callers that want the refusal at construction time use MakeArtifact.
func NewArtifact(name string, kind Kind, data []byte) Artifact {
	return Artifact{Name: name, Kind: kind, Data: data}
}

// MakeArtifact is NewArtifact with the checks of CheckArtifact done at once.
func MakeArtifact(name string, kind Kind, data []byte) (Artifact, error) {
	a := Artifact{Name: name, Kind: kind, Data: data}
	if err := CheckArtifact(a); err != nil {
		return Artifact{}, err
	}
	return a, nil
}

// RecordStep opens dir, records ev and closes it: the one call most commands
// need for --ceremony DIR. An invalid event is refused before dir is created.
func RecordStep(dir string, ev Event) error {
	if err := checkEvent(&ev, false); err != nil {
		return err
	}
	c, err := Open(dir)
	if err != nil {
		return err
	}
	if err := c.Record(ev); err != nil {
		c.Close()
		return err
	}
	return c.Close()
}

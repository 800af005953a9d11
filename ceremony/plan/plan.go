package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/transcripts"
)

// Version is the plan format version a file declares as keyrite_plan.
const Version = 1

// MaxSize bounds a plan file.
const MaxSize = 1 << 20

// Kinds of ceremony.
const (
	KindBYOK       = "byok"       // export target keys from an HSM under a KEK
	KindActivation = "activation" // create custodians' keys for a Managed HSM security domain
	KindRestore    = "restore"    // restore a Managed HSM security domain from a quorum
)

// Kinds lists the ceremony kinds, in the order people are shown them.
var Kinds = []string{KindBYOK, KindActivation, KindRestore}

// Roles.
const (
	RoleOperator  = "operator"
	RoleWitness   = "witness"
	RoleCustodian = "custodian"
	RoleReviewer  = "reviewer"
)

// Roles lists the roles a person may have.
var Roles = []string{RoleOperator, RoleWitness, RoleCustodian, RoleReviewer}

// Placeholder marks a value the template leaves for the author to fill in:
// any value containing it is refused.
const Placeholder = "FILL IN"

// Plan is a checked ceremony plan: the file's content, its digest, and the
// steps the ceremony follows. Only [Parse] and [Read] make one; every field
// has been validated (see the package doc).
type Plan struct {
	File

	// Path is the file the plan was read from ("" when parsed from memory);
	// Dir, the directory files it names are relative to.
	Path, Dir string
	// Digest is the SHA-256 of the file's exact bytes: what reviewers sign
	// and what a transcript will bind.
	Digest words.Fingerprint
	// Steps is the script, in order.
	Steps []Step

	closing *transcripts.Trust // the people in the room and the closing policy
	review  *transcripts.Trust // every person and the review policy
}

// File is the plan file's content as decoded, before it is checked.
type File struct {
	KeyritePlan    int             `yaml:"keyrite_plan" json:"keyrite_plan"`
	Kind           string          `yaml:"kind" json:"kind"`
	Name           string          `yaml:"name" json:"name"`
	Purpose        string          `yaml:"purpose" json:"purpose"`
	People         []Person        `yaml:"people" json:"people"`
	KEK            *KEK            `yaml:"kek,omitempty" json:"kek,omitempty"`
	Targets        []Target        `yaml:"targets,omitempty" json:"targets,omitempty"`
	SecurityDomain *SecurityDomain `yaml:"security_domain,omitempty" json:"security_domain,omitempty"`
	Checklist      []Check         `yaml:"checklist,omitempty" json:"checklist,omitempty"`
	Policy         Policy          `yaml:"policy" json:"policy"`
}

// Person is one participant. Each person has one role and one signing key,
// as a transcripts trust file lists them: operator, witness and custodian
// sign the transcript in the room; reviewers sign the plan before the day.
type Person struct {
	Name string `yaml:"name" json:"name"`
	Role string `yaml:"role" json:"role"`
	// Key is the verifier key the person signs with ("name+keyid+base64",
	// as `keyrite transcript sign --print-key` prints it), named Name.
	Key string `yaml:"key" json:"key"`
	// TokenSerial is the serial of the card or token the person brings
	// (a custodian's card, a signing token), when they hold one.
	TokenSerial string `yaml:"token_serial,omitempty" json:"token_serial,omitempty"`
	// CertX5T256 is the SHA-256 thumbprint (x5t#S256, base64url) of the
	// certificate on that card, when known before the day.
	CertX5T256 string `yaml:"cert_x5t_s256,omitempty" json:"cert_x5t_s256,omitempty"`
}

// KEK is the Key Exchange Key a BYOK ceremony wraps under.
type KEK struct {
	Kid string `yaml:"kid" json:"kid"`
	// SPKISHA256 is the hex SHA-256 of the KEK's SubjectPublicKeyInfo DER,
	// as `keyrite kek inspect` prints it.
	SPKISHA256 string `yaml:"spki_sha256" json:"spki_sha256"`
	// File, when given, is the KEK as downloaded (relative to the plan):
	// checked against Kid and SPKISHA256.
	File string `yaml:"file,omitempty" json:"file,omitempty"`
}

// Target is one key to export in a BYOK ceremony.
type Target struct {
	// Name is the key's name in the vault.
	Name string `yaml:"name" json:"name"`
	// URI is a PKCS#11 URI naming the key (token and object); or Token
	// and Object (and Module) name it.
	URI    string `yaml:"uri,omitempty" json:"uri,omitempty"`
	Token  string `yaml:"token,omitempty" json:"token,omitempty"`
	Object string `yaml:"object,omitempty" json:"object,omitempty"`
	Module string `yaml:"module,omitempty" json:"module,omitempty"`
	// TokenSerial is the expected serial of the source HSM's token.
	TokenSerial string `yaml:"token_serial,omitempty" json:"token_serial,omitempty"`
	// Type is RSA, EC or AES; Size the RSA modulus or AES key size in
	// bits; Curve the EC curve (P-256, P-384, P-521).
	Type  string `yaml:"type" json:"type"`
	Size  int    `yaml:"size,omitempty" json:"size,omitempty"`
	Curve string `yaml:"curve,omitempty" json:"curve,omitempty"`
	// KeyOps are the imported key's key_ops (default: all the type allows).
	KeyOps []string          `yaml:"key_ops,omitempty" json:"key_ops,omitempty"`
	Tags   map[string]string `yaml:"tags,omitempty" json:"tags,omitempty"`
}

// SecurityDomain describes a Managed HSM security domain: for activation,
// the custodians and quorum; for a restore, also the security-domain file,
// the exchange key and the custodians' certificates.
type SecurityDomain struct {
	// File and SHA256: the security-domain file (relative to the plan)
	// and the hex SHA-256 of its bytes. Restore only.
	File   string `yaml:"file,omitempty" json:"file,omitempty"`
	SHA256 string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
	// ExchangeKey is the restore's exchange key.
	ExchangeKey *ExchangeKey `yaml:"exchange_key,omitempty" json:"exchange_key,omitempty"`
	Quorum      int          `yaml:"quorum" json:"quorum"`
	Custodians  []Custodian  `yaml:"custodians" json:"custodians"`
}

// ExchangeKey is the certificate `az keyvault security-domain
// init-recovery` writes. X5T256 (base64url SHA-256 of the certificate)
// is what the online side reads aloud; it may be left out when the key is
// made only on the day.
type ExchangeKey struct {
	File   string `yaml:"file,omitempty" json:"file,omitempty"`
	X5T256 string `yaml:"x5t_s256,omitempty" json:"x5t_s256,omitempty"`
}

// Custodian is one custodian's share of the security domain.
type Custodian struct {
	Person string `yaml:"person" json:"person"`
	// Certificate (relative to the plan) and X5T256: the custodian's
	// wrapping-key certificate and its thumbprint. Restore only (an
	// activation makes them).
	Certificate string `yaml:"certificate,omitempty" json:"certificate,omitempty"`
	X5T256      string `yaml:"x5t_s256,omitempty" json:"x5t_s256,omitempty"`
}

// Check is a manual checklist item, confirmed aloud by one person.
type Check struct {
	Item string `yaml:"item" json:"item"`
	By   string `yaml:"by" json:"by"`
	// At is "start" (the default: before any key is touched) or "end".
	At string `yaml:"at,omitempty" json:"at,omitempty"`
}

// Policy says who must sign: Closing is the transcripts trust policy that
// closes the ceremony (roles of the people in the room); Review, how many
// signatures of which roles the plan needs before the day.
type Policy struct {
	Closing map[string]int `yaml:"closing" json:"closing"`
	Review  map[string]int `yaml:"review" json:"review"`
}

// Read reads and checks the plan file path. Files the plan names are
// read relative to its directory.
func Read(path string) (*Plan, error) {
	data, err := fsx.ReadLimited(path, "plan", MaxSize)
	if err != nil {
		return nil, err
	}
	return Parse(path, filepath.Dir(path), data, OSFiles)
}

// FS reads the files a plan names (relative paths already joined to the
// plan's directory).
type FS interface {
	ReadFile(path, what string, limit int64) ([]byte, error)
}

type osFiles struct{}

func (osFiles) ReadFile(path, what string, limit int64) ([]byte, error) {
	return fsx.ReadLimited(path, what, limit)
}

// OSFiles reads from the file system.
var OSFiles FS = osFiles{}

// Parse decodes and checks a plan. name is the file name used in errors;
// dir, what files the plan names are relative to; files reads them (nil:
// files the plan names are reported missing, as for a fuzzer).
func Parse(name, dir string, data []byte, files FS) (*Plan, error) {
	if name == "" {
		name = "plan"
	}
	if len(data) > MaxSize {
		return nil, &Errors{File: name, List: []*Error{{Msg: fmt.Sprintf("larger than %d KiB", MaxSize>>10)}}}
	}
	root, f, errs := decode(data)
	if errs != nil {
		errs.File = name
		return nil, errs
	}
	p := &Plan{File: *f, Path: name, Dir: dir, Digest: words.Sum(data)}
	c := &checker{p: p, root: root, files: files}
	c.check()
	if len(c.errs) > 0 {
		return nil, &Errors{File: name, List: c.errs}
	}
	p.Steps = buildSteps(p)
	return p, nil
}

// decode parses the YAML strictly: one document, a mapping at the top, no
// anchors, aliases, merge keys or explicit tags, no placeholders left,
// then into File with unknown fields, duplicate keys and wrong types
// refused.
func decode(data []byte) (*yaml.Node, *File, *Errors) {
	var errs Errors
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, errs.add(0, "", "the file is empty; start from `keyrite plan new KIND`")
		}
		return nil, nil, yamlErrors(err, nil, data)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, nil, yamlErrors(err, nil, data)
		}
		return nil, nil, errs.add(line, "", "a second YAML document (---): a plan is one document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		line := doc.Line
		if len(doc.Content) > 0 {
			line = doc.Content[0].Line
		}
		return nil, nil, errs.add(line, "", "the plan must be a YAML mapping (keyrite_plan: 1, kind: ..., ...)")
	}
	root := doc.Content[0]
	walk(root, "", &errs)
	if len(errs.List) > 0 {
		return nil, nil, &errs
	}
	var f File
	d2 := yaml.NewDecoder(bytes.NewReader(data))
	d2.KnownFields(true)
	if err := d2.Decode(&f); err != nil {
		return nil, nil, yamlErrors(err, root, data)
	}
	return root, &f, nil
}

// walk refuses what a reviewed plan must not hold: aliases and anchors
// (the text read is not the value used), merge keys, explicit tags, and
// placeholders the template left.
func walk(n *yaml.Node, path string, errs *Errors) {
	if len(errs.List) >= maxErrors {
		return
	}
	if n.Anchor != "" {
		errs.add(n.Line, path, "anchor &%s: anchors and aliases are not allowed in a plan; write each value out", n.Anchor)
	}
	if n.Kind == yaml.AliasNode {
		errs.add(n.Line, path, "alias *%s: anchors and aliases are not allowed in a plan; write each value out", n.Value)
		return
	}
	if n.Style&yaml.TaggedStyle != 0 {
		errs.add(n.Line, path, "explicit tag %s: tags are not allowed in a plan", n.Tag)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if strings.Contains(n.Value, Placeholder) {
			errs.add(n.Line, path, "placeholder left: %q; fill it in", short(n.Value))
		} else if why := checkText(n.Value); why != "" {
			errs.add(n.Line, path, "%s; a plan is text people read", why)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
				errs.add(k.Line, path, "merge key <<: not allowed in a plan; write each field out")
				continue
			}
			if k.Kind != yaml.ScalarNode {
				errs.add(k.Line, path, "a mapping key must be a plain word")
				continue
			}
			walk(k, join(path, k.Value), errs)
			walk(v, join(path, k.Value), errs)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walk(c, fmt.Sprintf("%s[%d]", path, i), errs)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// Closing is the trust the ceremony closes with: the people in the room
// (operator, witnesses, custodians) with their keys and the closing
// policy, as a transcripts trust file holds them.
func (p *Plan) Closing() *transcripts.Trust { return p.closing }

// ReviewTrust is every person with their key and the review policy: what
// reviewer signatures are checked against.
func (p *Plan) ReviewTrust() *transcripts.Trust { return p.review }

// Person returns the person named name.
func (p *Plan) Person(name string) (Person, bool) {
	for _, q := range p.People {
		if q.Name == name {
			return q, true
		}
	}
	return Person{}, false
}

// WithRole lists the people of a role, in plan order.
func (p *Plan) WithRole(role string) []Person {
	var out []Person
	for _, q := range p.People {
		if q.Role == role {
			out = append(out, q)
		}
	}
	return out
}

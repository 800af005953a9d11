package plan

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
)

// File size limits for what a plan names.
const (
	maxKEKFile  = 64 << 10
	maxSDFile   = 4 << 20
	maxCertFile = 64 << 10
)

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	hex64RE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	serialRE = regexp.MustCompile(`^[\x21-\x7e]{1,16}$`)
)

type checker struct {
	p     *Plan
	root  *yaml.Node
	files FS
	errs  []*Error
	// inRoom are the people of the ceremony itself (not reviewers).
	people map[string]*Person
}

// bad reports a problem at the field path names.
func (c *checker) bad(path []any, format string, args ...any) {
	if len(c.errs) < maxErrors {
		c.errs = append(c.errs, &Error{Line: keyLine(c.root, path...), Path: pathString(path...), Msg: fmt.Sprintf(format, args...)})
	}
}

func p(path ...any) []any { return path }

func (c *checker) check() {
	f := &c.p.File
	switch {
	case f.KeyritePlan == 0:
		c.bad(p("keyrite_plan"), "missing: a plan starts with keyrite_plan: %d", Version)
	case f.KeyritePlan != Version:
		c.bad(p("keyrite_plan"), "version %d is not supported; this keyrite reads version %d", f.KeyritePlan, Version)
	}
	if !slices.Contains(Kinds, f.Kind) {
		c.bad(p("kind"), "%q: want one of %s", f.Kind, strings.Join(Kinds, ", "))
	}
	if f.Name == "" {
		c.bad(p("name"), "missing: a short name for the ceremony, e.g. contoso-app-keys-2026q1")
	} else if !nameRE.MatchString(f.Name) {
		c.bad(p("name"), "%q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", short(f.Name))
	}
	if strings.TrimSpace(f.Purpose) == "" {
		c.bad(p("purpose"), "missing: say in a sentence what the ceremony is for")
	} else if len(f.Purpose) > 4096 {
		c.bad(p("purpose"), "%d characters; keep it under 4096", len(f.Purpose))
	}
	c.checkPeople()
	if slices.Contains(Kinds, f.Kind) { // what a plan holds depends on its kind
		c.checkKEK()
		c.checkTargets()
		c.checkSD()
	}
	c.checkChecklist()
	c.checkPolicy()
}

func (c *checker) checkPeople() {
	f := &c.p.File
	c.people = map[string]*Person{}
	if len(f.People) == 0 {
		c.bad(p("people"), "missing: list the operator, witnesses, custodians and reviewers")
		return
	}
	keys := map[string]string{}
	for i := range f.People {
		q := &f.People[i]
		if err := transcripts.CheckKeyName(q.Name); err != nil {
			c.bad(p("people", i, "name"), "%q: want 1 to 64 characters from A-Z a-z 0-9 . _ @ / -, starting with a letter or digit", short(q.Name))
			continue
		}
		if c.people[q.Name] != nil {
			c.bad(p("people", i, "name"), "%q is listed twice", q.Name)
			continue
		}
		c.people[q.Name] = q
		if !slices.Contains(Roles, q.Role) {
			c.bad(p("people", i, "role"), "%q: want one of %s", short(q.Role), strings.Join(Roles, ", "))
		}
		v, err := transcripts.NewVerifier(q.Key)
		switch {
		case q.Key == "":
			c.bad(p("people", i, "key"), "missing: the verifier key %s signs with, as `keyrite transcript sign --key SRC --name %s --print-key` prints it", q.Name, q.Name)
		case err != nil:
			c.bad(p("people", i, "key"), "%s", err.Error())
		case v.Name() != q.Name:
			c.bad(p("people", i, "key"), "the key is named %q, not %q: print it with --name %s", v.Name(), q.Name, q.Name)
		default:
			pub := q.Key[strings.LastIndexByte(q.Key, '+')+1:]
			if other, dup := keys[pub]; dup {
				c.bad(p("people", i, "key"), "the same public key as %s: each person signs with their own key", other)
			}
			keys[pub] = q.Name
		}
		if q.TokenSerial != "" && !serialRE.MatchString(q.TokenSerial) {
			c.bad(p("people", i, "token_serial"), "%q: want the token's serial as it reports it (1 to 16 printable characters)", short(q.TokenSerial))
		}
		if q.CertX5T256 != "" {
			c.checkX5T(p("people", i, "cert_x5t_s256"), q.CertX5T256)
		}
	}
	ops := c.p.WithRole(RoleOperator)
	if len(ops) != 1 {
		c.bad(p("people"), "%d operators; a ceremony has exactly one operator", len(ops))
	}
	if len(c.p.WithRole(RoleWitness)) == 0 {
		c.bad(p("people"), "no witness; a ceremony needs at least one witness")
	}
}

// person checks that name is a person of the plan and returns them.
func (c *checker) person(path []any, name string) *Person {
	q := c.people[name]
	if q == nil {
		if name == "" {
			c.bad(path, "missing: name a person of the plan")
		} else {
			c.bad(path, "%q is not one of the people of the plan (%s)", short(name), strings.Join(c.names(), ", "))
		}
	}
	return q
}

func (c *checker) names() []string {
	var out []string
	seen := map[string]bool{}
	for _, q := range c.p.People {
		if c.people[q.Name] != nil && !seen[q.Name] {
			seen[q.Name] = true
			out = append(out, q.Name)
		}
	}
	return out
}

func (c *checker) checkHex(path []any, v, what string) bool {
	if !hex64RE.MatchString(v) {
		if v == "" {
			c.bad(path, "missing: the %s (64 lowercase hex digits)", what)
		} else {
			c.bad(path, "%q: want the %s as 64 lowercase hex digits", short(v), what)
		}
		return false
	}
	return true
}

func (c *checker) checkX5T(path []any, v string) bool {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil || len(raw) != 32 {
		if v == "" {
			c.bad(path, "missing: the certificate's x5t#S256 thumbprint (43 base64url characters)")
		} else {
			c.bad(path, "%q: want an x5t#S256 thumbprint: base64url SHA-256 of the certificate, 43 characters", short(v))
		}
		return false
	}
	return true
}

// readFile reads a file the plan names, relative to the plan.
func (c *checker) readFile(path []any, name, what string, limit int64) []byte {
	if name == "" {
		c.bad(path, "missing: the %s file, relative to the plan", what)
		return nil
	}
	if filepath.IsAbs(name) {
		c.bad(path, "%q: name files relative to the plan, so that plan and files travel together", short(name))
		return nil
	}
	if c.files == nil {
		c.bad(path, "%s %s: no such file", what, name)
		return nil
	}
	data, err := c.files.ReadFile(filepath.Join(c.p.Dir, name), what, limit)
	if err != nil {
		c.bad(path, "%s", strings.Replace(err.Error(), filepath.Join(c.p.Dir, name), name, 1))
		return nil
	}
	return data
}

func (c *checker) notFor(path []any, present bool, kinds string) {
	if present {
		c.bad(path, "only a %s plan has this; a %s plan does not", kinds, c.p.Kind)
	}
}

func (c *checker) checkKEK() {
	k := c.p.KEK
	if c.p.Kind != KindBYOK {
		c.notFor(p("kek"), k != nil, KindBYOK)
		return
	}
	if k == nil {
		c.bad(p("kek"), "missing: a byok plan names the KEK (kid and spki_sha256)")
		return
	}
	kidOK := false
	if _, err := byok.ParseKid(k.Kid); err != nil {
		c.bad(p("kek", "kid"), "%s", err.Error())
	} else {
		kidOK = true
	}
	hexOK := c.checkHex(p("kek", "spki_sha256"), k.SPKISHA256, "SHA-256 of the KEK's SubjectPublicKeyInfo, as `keyrite kek inspect` prints it")
	if k.File == "" {
		return
	}
	data := c.readFile(p("kek", "file"), k.File, "KEK", maxKEKFile)
	if data == nil || !kidOK {
		return
	}
	kek, err := byok.ParseKEK(data, k.Kid)
	if err != nil {
		c.bad(p("kek", "file"), "%s: %s", k.File, err.Error())
		return
	}
	if fp := kek.Fingerprint(); hexOK && fp.Hex() != k.SPKISHA256 {
		c.bad(p("kek", "spki_sha256"), "digest mismatch: %s has SPKI SHA-256 %s (%s), the plan says %s", k.File, fp.Hex(), fp.Short(), k.SPKISHA256)
	}
}

// curves are the EC curves a target may be on, with their sizes.
var curves = map[string]int{"P-256": 256, "P-384": 384, "P-521": 521}

func (c *checker) checkTargets() {
	ts := c.p.Targets
	if c.p.Kind != KindBYOK {
		c.notFor(p("targets"), ts != nil, KindBYOK)
		return
	}
	if len(ts) == 0 {
		c.bad(p("targets"), "missing: a byok plan lists the keys to export")
		return
	}
	names := map[string]int{}
	sources := map[string]int{}
	for i := range ts {
		t := &ts[i]
		if err := export.CheckName(t.Name); err != nil {
			c.bad(p("targets", i, "name"), "vault key name %q: %v", short(t.Name), err)
		} else if j, dup := names[strings.ToLower(t.Name)]; dup {
			c.bad(p("targets", i, "name"), "%q is also targets[%d]'s name (vault key names ignore case)", t.Name, j)
		} else {
			names[strings.ToLower(t.Name)] = i
		}
		if src, ok := c.checkSource(i, t); ok {
			if j, dup := sources[src]; dup {
				c.bad(p("targets", i), "the same key as targets[%d]", j)
			}
			sources[src] = i
		}
		if t.TokenSerial != "" && !serialRE.MatchString(t.TokenSerial) {
			c.bad(p("targets", i, "token_serial"), "%q: want the token's serial as it reports it (1 to 16 printable characters)", short(t.TokenSerial))
		}
		typeOK := true
		switch byok.KeyType(t.Type) {
		case byok.TypeRSA:
			if !byok.SupportedRSABits(t.Size) {
				c.bad(p("targets", i, "size"), "RSA-%d: the service imports RSA keys of 2048, 3072 or 4096 bits", t.Size)
			}
			if t.Curve != "" {
				c.bad(p("targets", i, "curve"), "an RSA key has no curve")
			}
		case byok.TypeEC:
			bits, ok := curves[t.Curve]
			if !ok {
				c.bad(p("targets", i, "curve"), "%q: the service imports EC keys on P-256, P-384 or P-521", short(t.Curve))
			} else if t.Size != 0 && t.Size != bits {
				c.bad(p("targets", i, "size"), "%d, but %s keys are %d bits (leave size out for EC keys)", t.Size, t.Curve, bits)
			}
		case byok.TypeAES:
			if t.Size%8 != 0 || !byok.SupportedAESLen(t.Size/8) {
				c.bad(p("targets", i, "size"), "AES-%d: the service imports AES keys of 128, 192 or 256 bits", t.Size)
			}
			if t.Curve != "" {
				c.bad(p("targets", i, "curve"), "an AES key has no curve")
			}
		default:
			typeOK = false
			c.bad(p("targets", i, "type"), "%q: want RSA, EC or AES", short(t.Type))
		}
		if typeOK {
			allowed := export.DefaultOps(byok.KeyType(t.Type))
			seen := map[string]bool{}
			for j, op := range t.KeyOps {
				switch {
				case seen[op]:
					c.bad(p("targets", i, "key_ops", j), "%q listed twice", op)
				case !slices.Contains(allowed, op):
					c.bad(p("targets", i, "key_ops", j), "%q: a %s key may have %s", short(op), t.Type, strings.Join(allowed, ", "))
				}
				seen[op] = true
			}
		}
		if len(t.Tags) > 15 {
			c.bad(p("targets", i, "tags"), "%d tags; a key has at most 15", len(t.Tags))
		}
		for _, k := range sortedKeys(t.Tags) {
			if len(k) == 0 || len(k) > 512 {
				c.bad(p("targets", i, "tags", k), "tag name of %d characters; want 1 to 512", len(k))
			}
			if len(t.Tags[k]) > 256 {
				c.bad(p("targets", i, "tags", k), "tag value of %d characters; want at most 256", len(t.Tags[k]))
			}
		}
	}
}

// checkSource checks a target's source and returns a key naming it.
func (c *checker) checkSource(i int, t *Target) (string, bool) {
	if t.URI != "" {
		if t.Token != "" || t.Object != "" || t.Module != "" {
			c.bad(p("targets", i, "uri"), "give uri, or token and object (and module), not both")
			return "", false
		}
		u, err := hsm.ParseURI(t.URI)
		if err != nil {
			c.bad(p("targets", i, "uri"), "%s", err.Error())
			return "", false
		}
		if u.Token == "" && u.Serial == "" || u.Object == "" && len(u.ID) == 0 {
			c.bad(p("targets", i, "uri"), "%s: name the token (token= or serial=) and the key (object= or id=)", u.Redacted())
			return "", false
		}
		if u.Serial != "" && t.TokenSerial != "" && u.Serial != t.TokenSerial {
			c.bad(p("targets", i, "token_serial"), "%q, but the uri names serial %q", t.TokenSerial, u.Serial)
		}
		return fmt.Sprintf("%s|%s|%x|%s", u.Token+"/"+u.Serial, u.Object, u.ID, u.Type), true
	}
	ok := true
	if t.Token == "" {
		c.bad(p("targets", i, "token"), "missing: the token's label (or give uri)")
		ok = false
	}
	if t.Object == "" {
		c.bad(p("targets", i, "object"), "missing: the key object's label (or give uri)")
		ok = false
	}
	if t.Module != "" && !filepath.IsAbs(t.Module) {
		c.bad(p("targets", i, "module"), "%q: the PKCS#11 module's absolute path", short(t.Module))
	}
	if !ok {
		return "", false
	}
	if _, err := hsm.ParseURI(t.SourceURI()); err != nil {
		c.bad(p("targets", i), "%s", err.Error())
		return "", false
	}
	return t.Token + "/|" + t.Object + "||", true
}

// SourceURI is the PKCS#11 URI naming the target's key.
func (t *Target) SourceURI() string {
	if t.URI != "" {
		return t.URI
	}
	u := hsm.URI{Token: t.Token, Object: t.Object, ModulePath: t.Module}
	return u.String()
}

// Ops are the target's key_ops: as listed, or the default for its type.
func (t *Target) Ops() []string {
	if len(t.KeyOps) > 0 {
		return t.KeyOps
	}
	return export.DefaultOps(byok.KeyType(t.Type))
}

// Describe names the key's type and size: "RSA-3072", "EC P-256", "AES-256".
func (t *Target) Describe() string {
	switch byok.KeyType(t.Type) {
	case byok.TypeEC:
		return "EC " + t.Curve
	default:
		return fmt.Sprintf("%s-%d", t.Type, t.Size)
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (c *checker) checkSD() {
	sd := c.p.SecurityDomain
	if c.p.Kind == KindBYOK {
		c.notFor(p("security_domain"), sd != nil, "activation or restore")
		return
	}
	if sd == nil {
		c.bad(p("security_domain"), "missing: an %s plan describes the security domain (quorum, custodians)", c.p.Kind)
		return
	}
	n := len(sd.Custodians)
	if sd.Quorum < securitydomain.MinQuorum || sd.Quorum > securitydomain.MaxQuorum {
		c.bad(p("security_domain", "quorum"), "%d: the service takes a quorum of %d to %d", sd.Quorum, securitydomain.MinQuorum, securitydomain.MaxQuorum)
	} else if sd.Quorum > n {
		c.bad(p("security_domain", "quorum"), "impossible quorum: %d custodians needed but %d listed", sd.Quorum, n)
	}
	if c.p.Kind == KindActivation {
		if n < securitydomain.MinCustodians || n > securitydomain.MaxCustodians {
			c.bad(p("security_domain", "custodians"), "%d custodians: the service takes %d to %d wrapping certificates", n, securitydomain.MinCustodians, securitydomain.MaxCustodians)
		}
		c.notFor(p("security_domain", "file"), sd.File != "", KindRestore)
		c.notFor(p("security_domain", "sha256"), sd.SHA256 != "", KindRestore)
		c.notFor(p("security_domain", "exchange_key"), sd.ExchangeKey != nil, KindRestore)
	} else if n > securitydomain.MaxCustodians {
		c.bad(p("security_domain", "custodians"), "%d custodians: a security domain has at most %d", n, securitydomain.MaxCustodians)
	}
	var dom *securitydomain.SecurityDomain
	if c.p.Kind == KindRestore {
		hexOK := c.checkHex(p("security_domain", "sha256"), sd.SHA256, "SHA-256 of the security-domain file")
		if data := c.readFile(p("security_domain", "file"), sd.File, "security domain", maxSDFile); data != nil {
			fp := words.Sum(data)
			if hexOK && fp.Hex() != sd.SHA256 {
				c.bad(p("security_domain", "sha256"), "digest mismatch: %s has SHA-256 %s (%s), the plan says %s", sd.File, fp.Hex(), fp.Short(), sd.SHA256)
			} else if d, err := securitydomain.ParseSD(data); err != nil {
				c.bad(p("security_domain", "file"), "%s: %s", sd.File, err.Error())
			} else {
				dom = d
				if d.Required != sd.Quorum {
					c.bad(p("security_domain", "quorum"), "%d, but %s needs %d of its %d custodians", sd.Quorum, sd.File, d.Required, len(d.Shares))
				}
			}
		}
		if x := sd.ExchangeKey; x != nil {
			c.checkExchangeKey(x)
		}
	}
	seen := map[string]int{}
	thumbs := map[string]int{}
	for i := range sd.Custodians {
		cu := &sd.Custodians[i]
		q := c.person(p("security_domain", "custodians", i, "person"), cu.Person)
		if q != nil && q.Role != RoleCustodian {
			c.bad(p("security_domain", "custodians", i, "person"), "%s is a %s, not a custodian", q.Name, q.Role)
		}
		if j, dup := seen[cu.Person]; dup && cu.Person != "" {
			c.bad(p("security_domain", "custodians", i, "person"), "%s is also custodians[%d]", cu.Person, j)
		}
		seen[cu.Person] = i
		if c.p.Kind == KindActivation {
			c.notFor(p("security_domain", "custodians", i, "certificate"), cu.Certificate != "", KindRestore)
			c.notFor(p("security_domain", "custodians", i, "x5t_s256"), cu.X5T256 != "", KindRestore)
			continue
		}
		ok := c.checkX5T(p("security_domain", "custodians", i, "x5t_s256"), cu.X5T256)
		if ok {
			if j, dup := thumbs[cu.X5T256]; dup {
				c.bad(p("security_domain", "custodians", i, "x5t_s256"), "the same certificate as custodians[%d]", j)
			}
			thumbs[cu.X5T256] = i
			if q != nil && q.CertX5T256 != "" && q.CertX5T256 != cu.X5T256 {
				c.bad(p("security_domain", "custodians", i, "x5t_s256"), "%s, but people lists %s's card certificate as %s", cu.X5T256, q.Name, q.CertX5T256)
			}
		}
		data := c.readFile(p("security_domain", "custodians", i, "certificate"), cu.Certificate, "certificate", maxCertFile)
		if data == nil {
			continue
		}
		cert, err := securitydomain.ParseCertificate(data)
		if err != nil {
			c.bad(p("security_domain", "custodians", i, "certificate"), "%s: %s", cu.Certificate, err.Error())
			continue
		}
		got := securitydomain.X5T256(cert)
		if ok && got != cu.X5T256 {
			c.bad(p("security_domain", "custodians", i, "x5t_s256"), "digest mismatch: %s has x5t#S256 %s, the plan says %s", cu.Certificate, got, cu.X5T256)
			continue
		}
		if dom != nil && !slices.ContainsFunc(dom.Shares, func(s securitydomain.EncShare) bool { return s.X5T256 == got }) {
			c.bad(p("security_domain", "custodians", i, "certificate"), "%s holds no share for %s's certificate %s", sd.File, cu.Person, got)
		}
	}
}

func (c *checker) checkExchangeKey(x *ExchangeKey) {
	ok := true
	if x.X5T256 != "" {
		ok = c.checkX5T(p("security_domain", "exchange_key", "x5t_s256"), x.X5T256)
	}
	if x.File == "" {
		return
	}
	if x.X5T256 == "" {
		c.bad(p("security_domain", "exchange_key", "x5t_s256"), "missing: the thumbprint the online side read aloud for %s", x.File)
		ok = false
	}
	data := c.readFile(p("security_domain", "exchange_key", "file"), x.File, "exchange key", maxCertFile)
	if data == nil {
		return
	}
	cert, err := securitydomain.ParseExchangeKey(data)
	if err != nil {
		c.bad(p("security_domain", "exchange_key", "file"), "%s: %s", x.File, err.Error())
		return
	}
	if got := securitydomain.X5T256(cert); ok && got != x.X5T256 {
		c.bad(p("security_domain", "exchange_key", "x5t_s256"), "digest mismatch: %s has x5t#S256 %s, the plan says %s", x.File, got, x.X5T256)
	}
}

func (c *checker) checkChecklist() {
	for i, it := range c.p.Checklist {
		if strings.TrimSpace(it.Item) == "" {
			c.bad(p("checklist", i, "item"), "missing: what is to be checked, e.g. \"tamper bag #4711 intact\"")
		} else if len(it.Item) > 1024 {
			c.bad(p("checklist", i, "item"), "%d characters; keep it under 1024", len(it.Item))
		}
		if q := c.person(p("checklist", i, "by"), it.By); q != nil && q.Role == RoleReviewer {
			c.bad(p("checklist", i, "by"), "%s is a reviewer, who signs the plan before the day; name someone in the room", q.Name)
		}
		if it.At != "" && it.At != "start" && it.At != "end" {
			c.bad(p("checklist", i, "at"), "%q: want start or end", short(it.At))
		}
	}
}

// policyRoles: the roles each policy may name.
var (
	closingRoles = []string{RoleOperator, RoleWitness, RoleCustodian}
	reviewRoles  = Roles
)

func (c *checker) checkPolicy() {
	if len(c.errs) > 0 {
		// The trusts are built from people checked above: only when
		// everything else holds.
		c.policyShape("closing", c.p.Policy.Closing, closingRoles)
		c.policyShape("review", c.p.Policy.Review, reviewRoles)
		return
	}
	c.p.closing = c.trust("closing", c.p.Policy.Closing, closingRoles)
	c.p.review = c.trust("review", c.p.Policy.Review, reviewRoles)
}

func (c *checker) policyShape(name string, pol map[string]int, roles []string) bool {
	if len(pol) == 0 {
		what := "who signs the transcript to close the ceremony, e.g. {operator: 1, witness: 1}"
		if name == "review" {
			what = "how many reviewers sign the plan before the day, e.g. {reviewer: 2}"
		}
		c.bad(p("policy", name), "missing: %s", what)
		return false
	}
	ok := true
	for _, role := range sortedRoles(pol) {
		n := pol[role]
		switch {
		case !slices.Contains(roles, role):
			c.bad(p("policy", name, role), "role %q: a %s policy names %s", short(role), name, strings.Join(roles, ", "))
			ok = false
		case n < 1:
			c.bad(p("policy", name, role), "%d: want 1 or more", n)
			ok = false
		}
	}
	return ok
}

// trust checks a policy against the people and builds its trust.
func (c *checker) trust(name string, pol map[string]int, roles []string) *transcripts.Trust {
	if !c.policyShape(name, pol, roles) {
		return nil
	}
	var keys []transcripts.TrustedKey
	count := map[string]int{}
	for _, q := range c.p.People {
		if slices.Contains(roles, q.Role) {
			keys = append(keys, transcripts.TrustedKey{Name: q.Name, Role: q.Role, Key: q.Key})
			count[q.Role]++
		}
	}
	ok := true
	for _, role := range sortedRoles(pol) {
		if count[role] < pol[role] {
			c.bad(p("policy", name, role), "unsatisfiable: %d %s signature(s) required but the plan lists %d %s(s)", pol[role], role, count[role], role)
			ok = false
		}
	}
	if !ok {
		return nil
	}
	t, err := transcripts.NewTrust(keys, pol)
	if err != nil {
		c.bad(p("policy", name), "%s", err.Error())
		return nil
	}
	return t
}

func sortedRoles(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkText refuses text that would garble a printed script: control
// characters (but newlines and tabs in block text), bidirectional
// overrides, invalid UTF-8.
func checkText(s string) string {
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
		case unicode.IsControl(r):
			return fmt.Sprintf("control character %U", r)
		case unicode.Is(unicode.Bidi_Control, r):
			return fmt.Sprintf("bidirectional control %U", r)
		}
	}
	return ""
}

// shortHexWords renders a hex digest's first 8 bytes as PGP words.
func shortHexWords(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) < words.ShortLen {
		return ""
	}
	return words.Of(b[:words.ShortLen])
}

// x5tWords renders a base64url thumbprint's first 8 bytes as PGP words.
func x5tWords(x string) string {
	b, err := base64.RawURLEncoding.DecodeString(x)
	if err != nil || len(b) < words.ShortLen {
		return ""
	}
	return words.Of(b[:words.ShortLen])
}

package transcripts

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// ErrTrust is wrapped by errors about a trust file.
var ErrTrust = errors.New("transcripts: invalid trust file")

// Trust says whose signatures count and how many of each role are needed
// before a transcript's state may be acted on. Its file form is JSON:
//
//	{
//	  "keys": [
//	    {"name": "alice", "role": "operator", "key": "alice+6a1f0c2e+AXh0..."},
//	    {"name": "bob",   "role": "witness",  "key": "bob+0c51d3b7+AjBZ..."}
//	  ],
//	  "policy": {"operator": 1, "witness": 1}
//	}
//
// Rules: "key" is a verifier key as `keyrite transcript sign --print-key`
// prints it (C2SP form "name+keyid+base64(type||key)", type 0x01 Ed25519 or
// 0x02 ECDSA P-256) and its name equals "name"; names and keys are unique;
// roles are lowercase words; "policy" maps roles to a count of at least 1,
// names at least one role, and each count is reachable with the listed keys.
// Unknown fields are refused.
type Trust struct {
	Keys   []TrustedKey   `json:"keys"`
	Policy map[string]int `json:"policy"`

	verifiers map[string]*Verifier // by "name+keyid"
	named     map[string]*Verifier // by name
}

// TrustedKey is one entry of a trust file.
type TrustedKey struct {
	Name string `json:"name"`
	Role string `json:"role"`
	Key  string `json:"key"`
}

// ReadTrust reads and checks a trust file.
func ReadTrust(path string) (*Trust, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTrust, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTrust, err)
	}
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("%w: %s is larger than 1 MiB", ErrTrust, path)
	}
	t, err := ParseTrust(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseTrust parses and checks trust-file JSON.
func ParseTrust(data []byte) (*Trust, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t Trust
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTrust, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrTrust)
	}
	if err := t.init(); err != nil {
		return nil, err
	}
	return &t, nil
}

// NewTrust builds a Trust in code (for tests and the TUI) and checks it.
func NewTrust(keys []TrustedKey, policy map[string]int) (*Trust, error) {
	t := &Trust{Keys: keys, Policy: policy}
	if err := t.init(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Trust) init() error {
	if len(t.Keys) == 0 {
		return fmt.Errorf("%w: no keys", ErrTrust)
	}
	t.verifiers = map[string]*Verifier{}
	t.named = map[string]*Verifier{}
	names := map[string]bool{}
	perRole := map[string]int{}
	for i, k := range t.Keys {
		v, err := NewVerifier(k.Key)
		if err != nil {
			return fmt.Errorf("%w: keys[%d]: %s", ErrTrust, i, err.Error())
		}
		if v.Name() != k.Name {
			return fmt.Errorf("%w: keys[%d]: name %q but the key is named %q", ErrTrust, i, k.Name, v.Name())
		}
		if !roleRE.MatchString(k.Role) {
			return fmt.Errorf("%w: keys[%d] (%s): role %q: want a lowercase word like \"operator\"", ErrTrust, i, k.Name, k.Role)
		}
		if names[k.Name] {
			return fmt.Errorf("%w: keys[%d]: name %q listed twice", ErrTrust, i, k.Name)
		}
		names[k.Name] = true
		for _, other := range t.verifiers {
			if string(other.pub) == string(v.pub) && other.typ == v.typ {
				return fmt.Errorf("%w: keys[%d] (%s): the same public key is listed as %s", ErrTrust, i, k.Name, other.name)
			}
		}
		t.verifiers[k.Name+"+"+v.KeyID()] = v
		t.named[k.Name] = v
		perRole[k.Role]++
	}
	if len(t.Policy) == 0 {
		return fmt.Errorf("%w: empty policy; say how many signatures of each role are required, e.g. {\"operator\":1,\"witness\":1}", ErrTrust)
	}
	for role, n := range t.Policy {
		if !roleRE.MatchString(role) {
			return fmt.Errorf("%w: policy role %q: want a lowercase word", ErrTrust, role)
		}
		if n < 1 {
			return fmt.Errorf("%w: policy %q: %d, want 1 or more", ErrTrust, role, n)
		}
		if perRole[role] < n {
			return fmt.Errorf("%w: policy asks for %d %s signature(s) but only %d %s key(s) are listed", ErrTrust, n, role, perRole[role], role)
		}
	}
	return nil
}

// lookup finds a trusted key by name and key ID.
func (t *Trust) lookup(name string, id uint32) (*Verifier, string) {
	if t == nil {
		return nil, ""
	}
	v := t.verifiers[name+"+"+keyIDHex(id)]
	if v == nil {
		return nil, ""
	}
	for _, k := range t.Keys {
		if k.Name == name {
			return v, k.Role
		}
	}
	return nil, ""
}

// KeyFor finds the entry holding pub (whatever its name): a signer uses its
// name and role, so that the signature and the trust file agree.
func (t *Trust) KeyFor(pub crypto.PublicKey) (TrustedKey, bool) {
	typ, enc, _, err := encodePublic(pub)
	if err != nil || t == nil {
		return TrustedKey{}, false
	}
	return t.byPublic(typ, enc)
}

// byName finds the entry named name.
func (t *Trust) byName(name string) (TrustedKey, bool) {
	if t != nil {
		for _, k := range t.Keys {
			if k.Name == name {
				return k, true
			}
		}
	}
	return TrustedKey{}, false
}

// byPublic finds the entry whose key is (typ, pub), whatever its name.
func (t *Trust) byPublic(typ byte, pub []byte) (TrustedKey, bool) {
	if t == nil {
		return TrustedKey{}, false
	}
	for _, k := range t.Keys {
		if v := t.named[k.Name]; v != nil && v.typ == typ && string(v.pub) == string(pub) {
			return k, true
		}
	}
	return TrustedKey{}, false
}

// PolicyString renders the policy as "operator:1 witness:1".
func (t *Trust) PolicyString() string {
	var roles []string
	for r := range t.Policy {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	s := ""
	for i, r := range roles {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s:%d", r, t.Policy[r])
	}
	return s
}

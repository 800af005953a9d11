package securitydomain

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// KeyAlgorithmShamir is the only SharedKeys.key_algorithm.
const KeyAlgorithmShamir = "shamir_share"

// Limits of the service and the az CLI (spec §2, §11).
const (
	MinCustodians = 3
	MaxCustodians = 10
	MinQuorum     = 2
	MaxQuorum     = 10
	MasterKeySize = 32
)

// ErrInvalidSD is returned (wrapped) when a security-domain file is malformed.
var ErrInvalidSD = errors.New("securitydomain: invalid security domain file")

// A SecurityDomain is a parsed SD file (spec §3).
type SecurityDomain struct {
	Data         []DataEntry // EncData.data, in file order
	Shares       []EncShare  // SharedKeys.enc_shares, in file order
	Required     int         // SharedKeys.required: the quorum
	KeyAlgorithm string      // SharedKeys.key_algorithm: always "shamir_share"
	Version      int         // "version"; 0 when absent

	data   []*jwe
	shares []*jwe
}

// A DataEntry is one EncData.data element: an opaque backup encrypted with
// alg "dir" under KDF(master, Tag).
type DataEntry struct {
	Tag        string
	CompactJWE string
}

// An EncShare is one SharedKeys.enc_shares element: a share encrypted with
// RSA-OAEP-256 to the certificate whose SHA-256 thumbprint is X5T256.
type EncShare struct {
	EncKey string
	X5T256 string // b64u(SHA-256(DER(certificate)))
	// Kid is the kid of the share JWE's protected header: "not used" in
	// security domains made before 2025, a UUID per share since. Nothing
	// depends on it; it is reported so that people can tell the forms
	// apart.
	Kid string
}

func sdErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidSD, fmt.Sprintf(format, args...))
}

// ParseSD parses a security-domain file, strictly. It accepts the plain JSON
// the service returns (what `az keyvault security-domain download` writes)
// and, as in the REST example, the standard base64 of that JSON. Surrounding
// white space is ignored.
//
// Rules: top-level keys EncData, SharedKeys and optionally version (which must
// be 2); EncData has data (a non-empty list of {compact_jwe, tag}, distinct
// tags, each JWE with alg "dir" and kid equal to its tag) and kdf
// "sp108_kdf"; SharedKeys has enc_shares (a non-empty list of {enc_key,
// x5t_256}, each enc_key an RSA-OAEP-256 JWE, each x5t_256 a distinct
// base64url SHA-256), key_algorithm "shamir_share" and required in [2, 10].
// A share's kid may be any string: "not used" before 2025, a UUID per share
// since (see [LegacyShareKid]).
// Keys are case-sensitive; duplicate or unknown keys are errors.
func ParseSD(data []byte) (*SecurityDomain, error) {
	text := bytes.TrimSpace(data)
	if len(text) == 0 {
		return nil, sdErr("the file is empty")
	}
	if text[0] != '{' {
		compact := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, string(text))
		dec, err := base64.StdEncoding.DecodeString(compact)
		if err != nil || !bytes.HasPrefix(bytes.TrimSpace(dec), []byte("{")) {
			return nil, sdErr("the file is neither JSON nor base64 of JSON (it holds %s)", describeStart(text))
		}
		text = bytes.TrimSpace(dec)
	}
	top, err := objectFields(text)
	if err != nil {
		return nil, sdErr("%v", err)
	}
	if _, ok := top["EncData"]; !ok {
		if _, ok := top["value"]; ok {
			return nil, sdErr("this is the download response {\"value\": ...}, not the SD file: the SD file is the value")
		}
	}
	if err := fieldSet(top, "top level", []string{"EncData", "SharedKeys"}, "version"); err != nil {
		return nil, sdErr("%v", err)
	}
	sd := &SecurityDomain{}
	if v, ok := top["version"]; ok {
		if sd.Version, err = jsonInt(v, "version"); err != nil {
			return nil, sdErr("%v", err)
		}
		if sd.Version != 2 {
			return nil, sdErr("version is %d, want 2 (the only version known)", sd.Version)
		}
	}

	// SharedKeys first: the az CLI checks required and key_algorithm before
	// anything else, and so do we.
	sk, err := objectFields(top["SharedKeys"])
	if err != nil {
		return nil, sdErr("SharedKeys: %v", err)
	}
	if err := fieldSet(sk, "SharedKeys", []string{"enc_shares", "key_algorithm", "required"}); err != nil {
		return nil, sdErr("%v", err)
	}
	if sd.Required, err = jsonInt(sk["required"], "SharedKeys.required"); err != nil {
		return nil, sdErr("%v", err)
	}
	if sd.Required < MinQuorum || sd.Required > MaxQuorum {
		return nil, sdErr("SharedKeys.required is %d, want %d..%d", sd.Required, MinQuorum, MaxQuorum)
	}
	if sd.KeyAlgorithm, err = jsonString(sk["key_algorithm"], "SharedKeys.key_algorithm"); err != nil {
		return nil, sdErr("%v", err)
	}
	if sd.KeyAlgorithm != KeyAlgorithmShamir {
		return nil, sdErr("SharedKeys.key_algorithm is %q, want %q", sd.KeyAlgorithm, KeyAlgorithmShamir)
	}
	list, err := jsonArray(sk["enc_shares"], "SharedKeys.enc_shares")
	if err != nil {
		return nil, sdErr("%v", err)
	}
	if len(list) == 0 {
		return nil, sdErr("SharedKeys.enc_shares is empty")
	}
	if len(list) > maxShare {
		return nil, sdErr("SharedKeys.enc_shares has %d entries, at most %d", len(list), maxShare)
	}
	for i, raw := range list {
		where := "SharedKeys.enc_shares[" + strconv.Itoa(i) + "]"
		f, err := objectFields(raw)
		if err != nil {
			return nil, sdErr("%s: %v", where, err)
		}
		if err := fieldSet(f, where, []string{"enc_key", "x5t_256"}); err != nil {
			return nil, sdErr("%v", err)
		}
		var s EncShare
		if s.EncKey, err = jsonString(f["enc_key"], where+".enc_key"); err != nil {
			return nil, sdErr("%v", err)
		}
		if s.X5T256, err = jsonString(f["x5t_256"], where+".x5t_256"); err != nil {
			return nil, sdErr("%v", err)
		}
		if t, err := decodeB64u(s.X5T256); err != nil || len(t) != sha256.Size {
			return nil, sdErr("%s.x5t_256 is %s, want the unpadded base64url of a SHA-256 digest", where, quoteShort([]byte(s.X5T256)))
		}
		for j, prev := range sd.Shares {
			if prev.X5T256 == s.X5T256 {
				return nil, sdErr("%s.x5t_256 repeats enc_shares[%d]: one certificate holds two shares", where, j)
			}
		}
		j, err := parseJWE(s.EncKey)
		if err != nil {
			return nil, sdErr("%s.enc_key: %v", where, err)
		}
		if j.alg != AlgRSAOAEP256 {
			return nil, sdErr("%s.enc_key: JWE alg %q, want %q", where, j.alg, AlgRSAOAEP256)
		}
		s.Kid = j.kid
		sd.Shares = append(sd.Shares, s)
		sd.shares = append(sd.shares, j)
	}

	ed, err := objectFields(top["EncData"])
	if err != nil {
		return nil, sdErr("EncData: %v", err)
	}
	if err := fieldSet(ed, "EncData", []string{"data", "kdf"}); err != nil {
		return nil, sdErr("%v", err)
	}
	kdf, err := jsonString(ed["kdf"], "EncData.kdf")
	if err != nil {
		return nil, sdErr("%v", err)
	}
	if kdf != KDFName {
		return nil, sdErr("EncData.kdf is %q, want %q", kdf, KDFName)
	}
	if list, err = jsonArray(ed["data"], "EncData.data"); err != nil {
		return nil, sdErr("%v", err)
	}
	if len(list) == 0 {
		return nil, sdErr("EncData.data is empty")
	}
	entries, parsed, err := parseDataEntries(list, "EncData.data")
	if err != nil {
		return nil, sdErr("%v", err)
	}
	sd.Data, sd.data = entries, parsed
	return sd, nil
}

// parseDataEntries parses a list of {compact_jwe, tag} (SD file and restore
// blob alike).
func parseDataEntries(list []json.RawMessage, what string) ([]DataEntry, []*jwe, error) {
	var entries []DataEntry
	var parsed []*jwe
	for i, raw := range list {
		where := what + "[" + strconv.Itoa(i) + "]"
		f, err := objectFields(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", where, err)
		}
		if err := fieldSet(f, where, []string{"compact_jwe", "tag"}); err != nil {
			return nil, nil, err
		}
		var e DataEntry
		if e.CompactJWE, err = jsonString(f["compact_jwe"], where+".compact_jwe"); err != nil {
			return nil, nil, err
		}
		if e.Tag, err = jsonString(f["tag"], where+".tag"); err != nil {
			return nil, nil, err
		}
		if e.Tag == "" {
			return nil, nil, fmt.Errorf("%s.tag is empty", where)
		}
		for j, prev := range entries {
			if prev.Tag == e.Tag {
				return nil, nil, fmt.Errorf("%s.tag %q repeats %s[%d]", where, e.Tag, what, j)
			}
		}
		j, err := parseJWE(e.CompactJWE)
		if err != nil {
			return nil, nil, fmt.Errorf("%s.compact_jwe: %v", where, err)
		}
		if j.alg != AlgDir || j.kid != e.Tag {
			return nil, nil, fmt.Errorf("%s.compact_jwe: JWE alg %q kid %q, want %q and the tag %q", where, j.alg, j.kid, AlgDir, e.Tag)
		}
		entries = append(entries, e)
		parsed = append(parsed, j)
	}
	return entries, parsed, nil
}

// Marshal returns the SD in the service's compact layout: no spaces, keys
// in the order EncData, SharedKeys, version.
func (sd *SecurityDomain) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(`{"EncData":{"data":[`)
	for i, e := range sd.Data {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"compact_jwe":` + pyQuote(e.CompactJWE) + `,"tag":` + pyQuote(e.Tag) + `}`)
	}
	b.WriteString(`],"kdf":` + pyQuote(KDFName) + `},"SharedKeys":{"enc_shares":[`)
	for i, s := range sd.Shares {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"enc_key":` + pyQuote(s.EncKey) + `,"x5t_256":` + pyQuote(s.X5T256) + `}`)
	}
	b.WriteString(`],"key_algorithm":` + pyQuote(sd.KeyAlgorithm) + `,"required":` + strconv.Itoa(sd.Required) + `}`)
	if sd.Version != 0 {
		b.WriteString(`,"version":` + strconv.Itoa(sd.Version))
	}
	b.WriteString(`}`)
	return b.Bytes()
}

// Share kid forms, as ShareKidForm reports them.
const (
	KidFormLegacy   = "not used"  // every share's kid is "not used": made before 2025
	KidFormPerShare = "per-share" // every share has its own kid (a UUID): made since 2025
	KidFormMixed    = "mixed"     // neither: not seen from the service
)

// ShareKidForm says which form the shares' kids take: KidFormLegacy,
// KidFormPerShare or KidFormMixed. Restores work the same for all three.
func (sd *SecurityDomain) ShareKidForm() string {
	legacy, seen := 0, map[string]bool{}
	for _, s := range sd.Shares {
		if s.Kid == LegacyShareKid {
			legacy++
		}
		seen[s.Kid] = true
	}
	switch {
	case legacy == len(sd.Shares):
		return KidFormLegacy
	case legacy == 0 && len(seen) == len(sd.Shares):
		return KidFormPerShare
	}
	return KidFormMixed
}

// shareFor returns the index of the share encrypted to the certificate with
// thumbprint x5t256, or -1.
func (sd *SecurityDomain) shareFor(x5t256 string) int {
	for i, s := range sd.Shares {
		if s.X5T256 == x5t256 {
			return i
		}
	}
	return -1
}

// DecryptData authenticates and decrypts every EncData entry with keys
// derived from master, in file order.
func (sd *SecurityDomain) DecryptData(master []byte) ([]Payload, error) {
	return decryptEntries(sd.Data, sd.data, master, "EncData.data")
}

func decryptEntries(entries []DataEntry, parsed []*jwe, master []byte, what string) ([]Payload, error) {
	out := make([]Payload, 0, len(entries))
	for i, e := range entries {
		k := dataKey(master, e.Tag)
		pt, err := parsed[i].open(k)
		clear(k)
		if err != nil {
			for _, p := range out {
				clear(p.Data)
			}
			return nil, fmt.Errorf("%s[%d] (tag %q): %w", what, i, e.Tag, err)
		}
		out = append(out, Payload{Tag: e.Tag, Data: pt})
	}
	return out, nil
}

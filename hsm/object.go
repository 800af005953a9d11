package hsm

import (
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

// NoKeyType is Object.KeyType for objects that are not keys.
const NoKeyType = ^uint(0)

// Object is a token object and the public attributes keyrite reads from it.
// Nothing secret is read: CKA_VALUE and private components are never asked for.
type Object struct {
	Handle pkcs11.ObjectHandle

	Class   uint   // CKA_CLASS (pkcs11.CKO_...)
	KeyType uint   // CKA_KEY_TYPE (pkcs11.CKK_...), NoKeyType for non-keys
	Label   string // CKA_LABEL
	ID      []byte // CKA_ID
	Token   bool   // CKA_TOKEN: a token object (false: a session object)

	// Size: RSA modulus bits, EC curve bits, secret key bits. 0 if unknown.
	Bits int
	// Curve is the EC curve ("P-256", "P-384", "P-521", "secp256k1",
	// "Ed25519") or, for an unknown curve, "OID 1.2.3".
	Curve string
	// ValueLen is CKA_VALUE_LEN for secret keys, in bytes.
	ValueLen int

	Modulus        []byte // CKA_MODULUS (RSA), big-endian
	PublicExponent []byte // CKA_PUBLIC_EXPONENT (RSA)
	ECParams       []byte // CKA_EC_PARAMS (DER)

	Extractable      bool // CKA_EXTRACTABLE
	Sensitive        bool // CKA_SENSITIVE
	NeverExtractable bool // CKA_NEVER_EXTRACTABLE
	AlwaysSensitive  bool // CKA_ALWAYS_SENSITIVE
	WrapWithTrusted  bool // CKA_WRAP_WITH_TRUSTED
	Wrap             bool // CKA_WRAP
	Private          bool // CKA_PRIVATE
}

// IsKey reports whether the object is a private, public or secret key.
func (o *Object) IsKey() bool {
	return o.Class == pkcs11.CKO_PRIVATE_KEY || o.Class == pkcs11.CKO_PUBLIC_KEY || o.Class == pkcs11.CKO_SECRET_KEY
}

// TypeString is "RSA 2048", "EC P-256", "AES 256", or the class and type
// names when the size is unknown.
func (o *Object) TypeString() string {
	kt := KeyTypeName(o.KeyType)
	switch o.KeyType {
	case pkcs11.CKK_RSA:
		return fmt.Sprintf("RSA %d", o.Bits)
	case pkcs11.CKK_EC, CKK_EC_EDWARDS:
		if o.Curve != "" {
			return "EC " + o.Curve
		}
		return "EC"
	case pkcs11.CKK_AES, pkcs11.CKK_GENERIC_SECRET, pkcs11.CKK_DES3:
		return fmt.Sprintf("%s %d", kt, o.Bits)
	case NoKeyType:
		return ClassName(o.Class)
	}
	return kt
}

// Summary describes the object for error messages and listings:
// `label "app-key", id 01, private-key, RSA 2048`.
func (o *Object) Summary() string {
	id := "no id"
	if len(o.ID) > 0 {
		id = "id " + hex.EncodeToString(o.ID)
	}
	return fmt.Sprintf("label %q, %s, %s, %s", o.Label, id, ClassName(o.Class), o.TypeString())
}

// Object reads the public attributes of the object h.
func (s *Session) Object(h pkcs11.ObjectHandle) (*Object, error) {
	// Secret keys, the commonest export, in one call.
	if got, ok := s.allAttrs(h, secretKeyAttrs); ok {
		if o := secretKeyObject(h, got); o != nil {
			return o, nil
		}
	}
	o := &Object{Handle: h, KeyType: NoKeyType}
	// One call for the common and key attributes; attrs falls back to one
	// call per attribute for objects that lack some (certificates, data).
	got, err := s.attrs(h, pkcs11.CKA_CLASS, pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE,
		pkcs11.CKA_KEY_TYPE, pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_SENSITIVE, pkcs11.CKA_NEVER_EXTRACTABLE,
		pkcs11.CKA_ALWAYS_SENSITIVE, pkcs11.CKA_WRAP_WITH_TRUSTED, pkcs11.CKA_WRAP)
	if err != nil {
		return nil, err
	}
	cls, ok := ulong(got[pkcs11.CKA_CLASS])
	if !ok {
		return nil, fmt.Errorf("hsm: object %d has no readable CKA_CLASS", h)
	}
	o.Class = cls
	o.Label = string(got[pkcs11.CKA_LABEL])
	o.ID = got[pkcs11.CKA_ID]
	o.Token = boolean(got[pkcs11.CKA_TOKEN])
	o.Private = boolean(got[pkcs11.CKA_PRIVATE])
	if !o.IsKey() {
		return o, nil
	}
	if kt, ok := ulong(got[pkcs11.CKA_KEY_TYPE]); ok {
		o.KeyType = kt
	}
	o.Extractable = boolean(got[pkcs11.CKA_EXTRACTABLE])
	o.Sensitive = boolean(got[pkcs11.CKA_SENSITIVE])
	o.NeverExtractable = boolean(got[pkcs11.CKA_NEVER_EXTRACTABLE])
	o.AlwaysSensitive = boolean(got[pkcs11.CKA_ALWAYS_SENSITIVE])
	o.WrapWithTrusted = boolean(got[pkcs11.CKA_WRAP_WITH_TRUSTED])
	o.Wrap = boolean(got[pkcs11.CKA_WRAP])
	switch o.KeyType {
	case pkcs11.CKK_RSA:
		got, err = s.attrs(h, pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT)
		if err != nil {
			return nil, err
		}
		o.Modulus = got[pkcs11.CKA_MODULUS]
		o.PublicExponent = got[pkcs11.CKA_PUBLIC_EXPONENT]
		o.Bits = new(big.Int).SetBytes(o.Modulus).BitLen()
	case pkcs11.CKK_EC, CKK_EC_EDWARDS:
		got, err = s.attrs(h, pkcs11.CKA_EC_PARAMS)
		if err != nil {
			return nil, err
		}
		o.ECParams = got[pkcs11.CKA_EC_PARAMS]
		o.Curve, o.Bits = CurveFromParams(o.ECParams)
	default:
		if o.Class == pkcs11.CKO_SECRET_KEY {
			got, err = s.attrs(h, pkcs11.CKA_VALUE_LEN)
			if err != nil {
				return nil, err
			}
			if n, ok := ulong(got[pkcs11.CKA_VALUE_LEN]); ok && n < 1<<20 {
				o.ValueLen = int(n)
				o.Bits = 8 * int(n)
			}
		}
	}
	return o, nil
}

// secretKeyAttrs is every attribute Object reads from a secret key.
var secretKeyAttrs = []uint{pkcs11.CKA_CLASS, pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE,
	pkcs11.CKA_KEY_TYPE, pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_SENSITIVE, pkcs11.CKA_NEVER_EXTRACTABLE,
	pkcs11.CKA_ALWAYS_SENSITIVE, pkcs11.CKA_WRAP_WITH_TRUSTED, pkcs11.CKA_WRAP, pkcs11.CKA_VALUE_LEN}

// secretKeyObject builds the Object of a secret key from secretKeyAttrs, or
// returns nil if got is not a secret key's.
func secretKeyObject(h pkcs11.ObjectHandle, got map[uint][]byte) *Object {
	cls, ok := ulong(got[pkcs11.CKA_CLASS])
	if !ok || cls != pkcs11.CKO_SECRET_KEY {
		return nil
	}
	o := &Object{Handle: h, Class: cls, KeyType: NoKeyType,
		Label: string(got[pkcs11.CKA_LABEL]), ID: got[pkcs11.CKA_ID],
		Token: boolean(got[pkcs11.CKA_TOKEN]), Private: boolean(got[pkcs11.CKA_PRIVATE]),
		Extractable: boolean(got[pkcs11.CKA_EXTRACTABLE]), Sensitive: boolean(got[pkcs11.CKA_SENSITIVE]),
		NeverExtractable: boolean(got[pkcs11.CKA_NEVER_EXTRACTABLE]), AlwaysSensitive: boolean(got[pkcs11.CKA_ALWAYS_SENSITIVE]),
		WrapWithTrusted: boolean(got[pkcs11.CKA_WRAP_WITH_TRUSTED]), Wrap: boolean(got[pkcs11.CKA_WRAP]),
	}
	if kt, ok := ulong(got[pkcs11.CKA_KEY_TYPE]); ok {
		o.KeyType = kt
	}
	if n, ok := ulong(got[pkcs11.CKA_VALUE_LEN]); ok && n < 1<<20 {
		o.ValueLen, o.Bits = int(n), 8*int(n)
	}
	return o
}

// allAttrs reads all of types in one call; ok is false if the object lacks
// or hides one of them (or the call fails: callers then take the slow path,
// which reports errors).
func (s *Session) allAttrs(h pkcs11.ObjectHandle, types []uint) (map[uint][]byte, bool) {
	tmpl := make([]*pkcs11.Attribute, len(types))
	for i, t := range types {
		tmpl[i] = pkcs11.NewAttribute(t, nil)
	}
	got, err := s.p.GetAttributeValue(s.h, h, tmpl)
	if err != nil {
		return nil, false
	}
	out := make(map[uint][]byte, len(types))
	for _, a := range got {
		if a != nil && a.Value != nil {
			out[a.Type] = a.Value
		}
	}
	return out, true
}

// attrs reads the attributes types of h. Attributes the object does not
// have (or hides) are absent from the result rather than an error: the
// binding fails the whole call when one is missing, so on such a failure
// each attribute is read on its own.
func (s *Session) attrs(h pkcs11.ObjectHandle, types ...uint) (map[uint][]byte, error) {
	tmpl := make([]*pkcs11.Attribute, len(types))
	for i, t := range types {
		tmpl[i] = pkcs11.NewAttribute(t, nil)
	}
	out := make(map[uint][]byte, len(types))
	got, err := s.p.GetAttributeValue(s.h, h, tmpl)
	if err == nil {
		for _, a := range got {
			if a != nil && a.Value != nil {
				out[a.Type] = a.Value
			}
		}
		return out, nil
	}
	if c, ok := Code(err); !ok || (c != pkcs11.CKR_ATTRIBUTE_TYPE_INVALID && c != pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
		return nil, wrapErr("C_GetAttributeValue", fmt.Sprintf("object %d", h), err)
	}
	for _, t := range types {
		got, err := s.p.GetAttributeValue(s.h, h, []*pkcs11.Attribute{pkcs11.NewAttribute(t, nil)})
		if err != nil {
			if c, ok := Code(err); ok && (c == pkcs11.CKR_ATTRIBUTE_TYPE_INVALID || c == pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
				continue
			}
			return nil, wrapErr("C_GetAttributeValue", fmt.Sprintf("object %d", h), err)
		}
		if len(got) == 1 && got[0] != nil && got[0].Value != nil {
			out[t] = got[0].Value
		}
	}
	return out, nil
}

// ulong decodes a CK_ULONG attribute (native byte order and width).
func ulong(b []byte) (uint, bool) {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b)), true
	case 4:
		return uint(binary.NativeEndian.Uint32(b)), true
	}
	return 0, false
}

func boolean(b []byte) bool { return len(b) == 1 && b[0] != 0 }

var (
	oidP256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384      = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521      = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidSecp256k1 = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	oidEd25519   = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// CurveFromParams names the curve of a DER CKA_EC_PARAMS (a namedCurve OID,
// or the PrintableString "edwards25519" some tokens use) and gives its size
// in bits. Unknown OIDs give "OID x.y.z" and 0; unparseable params give "".
func CurveFromParams(params []byte) (string, int) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err == nil && len(rest) == 0 {
		switch {
		case oid.Equal(oidP256):
			return "P-256", 256
		case oid.Equal(oidP384):
			return "P-384", 384
		case oid.Equal(oidP521):
			return "P-521", 521
		case oid.Equal(oidSecp256k1):
			return "secp256k1", 256
		case oid.Equal(oidEd25519):
			return "Ed25519", 255
		}
		return "OID " + oid.String(), 0
	}
	var name string
	if rest, err := asn1.UnmarshalWithParams(params, &name, "printable"); err == nil && len(rest) == 0 {
		if name == "edwards25519" {
			return "Ed25519", 255
		}
		return name, 0
	}
	return "", 0
}

// ECParamsFor returns the DER CKA_EC_PARAMS (namedCurve OID) for "P-256",
// "P-384", "P-521", "secp256k1" or "Ed25519".
func ECParamsFor(curve string) ([]byte, error) {
	var oid asn1.ObjectIdentifier
	switch curve {
	case "P-256":
		oid = oidP256
	case "P-384":
		oid = oidP384
	case "P-521":
		oid = oidP521
	case "secp256k1":
		oid = oidSecp256k1
	case "Ed25519":
		oid = oidEd25519
	default:
		return nil, fmt.Errorf("hsm: unknown curve %q", curve)
	}
	return asn1.Marshal(oid)
}

// ClassName is "private-key", "public-key", "secret-key", "certificate",
// "data" (the RFC 7512 type names, "certificate" for cert) or "class 0x..".
func ClassName(c uint) string {
	switch c {
	case pkcs11.CKO_PRIVATE_KEY:
		return "private-key"
	case pkcs11.CKO_PUBLIC_KEY:
		return "public-key"
	case pkcs11.CKO_SECRET_KEY:
		return "secret-key"
	case pkcs11.CKO_CERTIFICATE:
		return "certificate"
	case pkcs11.CKO_DATA:
		return "data"
	}
	return fmt.Sprintf("class 0x%X", c)
}

// KeyTypeName is "RSA", "EC", "AES", ... for a CKK_ value.
func KeyTypeName(k uint) string {
	switch k {
	case pkcs11.CKK_RSA:
		return "RSA"
	case pkcs11.CKK_EC:
		return "EC"
	case CKK_EC_EDWARDS:
		return "EC-Edwards"
	case pkcs11.CKK_AES:
		return "AES"
	case pkcs11.CKK_GENERIC_SECRET:
		return "generic-secret"
	case pkcs11.CKK_DES3:
		return "DES3"
	case pkcs11.CKK_DSA:
		return "DSA"
	case NoKeyType:
		return "none"
	}
	return fmt.Sprintf("key type 0x%X", k)
}

// MechanismName is "CKM_RSA_AES_KEY_WRAP" etc. for the mechanisms keyrite
// uses, or "CKM 0x...." for others.
func MechanismName(m uint) string {
	switch m {
	case pkcs11.CKM_RSA_AES_KEY_WRAP:
		return "CKM_RSA_AES_KEY_WRAP"
	case pkcs11.CKM_AES_KEY_WRAP_PAD:
		return "CKM_AES_KEY_WRAP_PAD"
	case pkcs11.CKM_AES_KEY_WRAP:
		return "CKM_AES_KEY_WRAP"
	case CKM_AES_KEY_WRAP_KWP:
		return "CKM_AES_KEY_WRAP_KWP"
	case pkcs11.CKM_RSA_PKCS_OAEP:
		return "CKM_RSA_PKCS_OAEP"
	case pkcs11.CKM_RSA_PKCS:
		return "CKM_RSA_PKCS"
	case pkcs11.CKM_RSA_X_509:
		return "CKM_RSA_X_509"
	case pkcs11.CKM_AES_KEY_GEN:
		return "CKM_AES_KEY_GEN"
	case pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN:
		return "CKM_RSA_PKCS_KEY_PAIR_GEN"
	case pkcs11.CKM_EC_KEY_PAIR_GEN:
		return "CKM_EC_KEY_PAIR_GEN"
	case pkcs11.CKM_ECDSA:
		return "CKM_ECDSA"
	case CKM_EDDSA:
		return "CKM_EDDSA"
	case CKM_EC_EDWARDS_KEY_PAIR_GEN:
		return "CKM_EC_EDWARDS_KEY_PAIR_GEN"
	case pkcs11.CKM_SHA256_RSA_PKCS:
		return "CKM_SHA256_RSA_PKCS"
	}
	return fmt.Sprintf("CKM 0x%X", m)
}

// CKM_AES_KEY_WRAP_KWP is PKCS#11 3.0's name for RFC 5649 key wrap with
// padding (0x210B). SoftHSM 2.6.1 implements RFC 5649 as CKM_AES_KEY_WRAP_PAD
// (0x210A) and rejects 0x210B.
const CKM_AES_KEY_WRAP_KWP = 0x0000210B

// PKCS#11 3.0 values missing from github.com/miekg/pkcs11 v1.1.2.
const (
	CKK_EC_EDWARDS              = 0x00000040
	CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x00001055
	CKM_EDDSA                   = 0x00001057
)

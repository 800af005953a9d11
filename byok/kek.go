package byok

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/keyrite/keyrite/internal/base/words"
)

// KEK is a validated Key Exchange Key: the public half of an RSA key of 2048,
// 3072 or 4096 bits that the vault holds.
type KEK struct {
	// Kid is the validated key identifier, or "" when the file did not
	// carry one and none was given.
	Kid string
	// Public is the RSA public key.
	Public *rsa.PublicKey
	// SPKI is the canonical DER SubjectPublicKeyInfo of Public, whatever
	// form the key came in.
	SPKI []byte
	// Source says which form the key came in: "pem-spki", "pem-pkcs1",
	// "der-spki", "der-pkcs1" or "jwk".
	Source string
}

// Bits returns the modulus size in bits.
func (k *KEK) Bits() int { return k.Public.N.BitLen() }

// Size returns the modulus size in bytes, which is the length of the RSA
// part of a ciphertext wrapped under k.
func (k *KEK) Size() int { return k.Public.Size() }

// Fingerprint returns the SHA-256 of the canonical SPKI DER, to be compared
// across the air gap in hex or as words.
func (k *KEK) Fingerprint() words.Fingerprint { return words.Sum(k.SPKI) }

// KEK sizes the service offers.
var kekBits = []int{2048, 3072, 4096}

// maxKEKFile bounds the input size: a JWK of an RSA-4096 key with its
// attributes is under 2 KiB.
const maxKEKFile = 64 << 10

// ParseKEK parses a KEK file and validates it. data may be:
//
//   - a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) or "RSA PUBLIC KEY" (PKCS#1)
//     block, as `az keyvault key download` writes; exactly one block, with
//     only whitespace around it;
//   - the same key in DER;
//   - the JSON that `az keyvault key show` prints, either the whole object
//     (the JWK under "key") or the bare JWK. kty must be "RSA" or "RSA-HSM",
//     key_ops exactly ["import"], and kid a valid key identifier. Private
//     members (d, p, q, dp, dq, qi, k) must be absent or null. No JSON
//     member may appear twice.
//
// The key must be RSA with a modulus of exactly 2048, 3072 or 4096 bits and
// an odd public exponent of at least 3.
//
// kid, when not empty, must pass ParseKid. When the file is a JWK, its kid
// is used and a non-empty kid argument that differs is an error (wrapping
// ErrKidMismatch). Every other error wraps ErrKEK or ErrKid.
func ParseKEK(data []byte, kid string) (*KEK, error) {
	if kid != "" {
		if _, err := ParseKid(kid); err != nil {
			return nil, err
		}
	}
	if len(data) > maxKEKFile {
		return nil, fmt.Errorf("%w: file is %d bytes; a KEK public key is at most a few KiB", ErrKEK, len(data))
	}
	trimmed := bytes.TrimSpace(data)
	var (
		k   *KEK
		err error
	)
	switch {
	case len(trimmed) == 0:
		return nil, fmt.Errorf("%w: file is empty; expected a PEM public key or the JSON of `az keyvault key show`", ErrKEK)
	case trimmed[0] == '{':
		k, err = parseKEKJSON(trimmed, kid)
	case bytes.Contains(trimmed, []byte("-----BEGIN")):
		k, err = parseKEKPEM(data)
	case trimmed[0] == 0x30:
		k, err = parseKEKDER(data, "der")
	default:
		return nil, fmt.Errorf("%w: not PEM, DER or JSON; expected a PEM public key (-----BEGIN PUBLIC KEY-----) or the JSON of `az keyvault key show`", ErrKEK)
	}
	if err != nil {
		return nil, err
	}
	if k.Kid == "" {
		k.Kid = kid
	}
	return k, nil
}

func parseKEKPEM(data []byte) (*KEK, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: PEM block is malformed or truncated (no matching END line, or bad base64)", ErrKEK)
	}
	if len(bytes.TrimSpace(data[:bytes.Index(data, []byte("-----BEGIN"))])) != 0 {
		return nil, fmt.Errorf("%w: text before the PEM block; expected the public key alone", ErrKEK)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		if b2, _ := pem.Decode(rest); b2 != nil {
			return nil, fmt.Errorf("%w: file holds more than one PEM block (%q after %q); expected the public key alone", ErrKEK, b2.Type, block.Type)
		}
		return nil, fmt.Errorf("%w: data after the PEM block; expected the public key alone", ErrKEK)
	}
	if bytes.Count(data, []byte("-----BEGIN")) != 1 {
		return nil, fmt.Errorf("%w: file holds a malformed or truncated PEM block besides the %q block; expected the public key alone", ErrKEK, block.Type)
	}
	if len(block.Headers) != 0 {
		return nil, fmt.Errorf("%w: PEM block has headers; expected none", ErrKEK)
	}
	switch block.Type {
	case "PUBLIC KEY":
		return parseKEKDER(block.Bytes, "pem-spki")
	case "RSA PUBLIC KEY":
		return parseKEKDER(block.Bytes, "pem-pkcs1")
	case "CERTIFICATE":
		return nil, fmt.Errorf("%w: file is a certificate; expected the KEK public key (PUBLIC KEY)", ErrKEK)
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("%w: file holds a private key (%s); the KEK file must hold only the vault's public key", ErrKEK, block.Type)
	}
	return nil, fmt.Errorf("%w: PEM block type is %q; expected \"PUBLIC KEY\" or \"RSA PUBLIC KEY\"", ErrKEK, block.Type)
}

// parseKEKDER parses SPKI or PKCS#1 DER. form is "pem-spki", "pem-pkcs1", or
// "der" (try both).
func parseKEKDER(der []byte, form string) (*KEK, error) {
	var pub *rsa.PublicKey
	switch form {
	case "pem-pkcs1":
		p, err := x509.ParsePKCS1PublicKey(der)
		if err != nil {
			return nil, fmt.Errorf("%w: PKCS#1 RSA public key is malformed or truncated", ErrKEK)
		}
		pub = p
	case "pem-spki":
		p, err := parseSPKI(der)
		if err != nil {
			return nil, err
		}
		pub = p
	default:
		if p, err := x509.ParsePKCS1PublicKey(der); err == nil {
			pub, form = p, "der-pkcs1"
		} else {
			p, err := parseSPKI(der)
			if err != nil {
				return nil, err
			}
			pub, form = p, "der-spki"
		}
	}
	return newKEK(pub, form)
}

func parseSPKI(der []byte) (*rsa.PublicKey, error) {
	p, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		if alg := spkiAlgorithm(der); alg != "" {
			return nil, kekErrorf(ErrKEKType, "public key is %s; expected RSA", alg)
		}
		return nil, fmt.Errorf("%w: SubjectPublicKeyInfo is malformed or truncated", ErrKEK)
	}
	pub, ok := p.(*rsa.PublicKey)
	if !ok {
		return nil, kekErrorf(ErrKEKType, "public key is %s; expected RSA", keyKind(p))
	}
	return pub, nil
}

func newKEK(pub *rsa.PublicKey, source string) (*KEK, error) {
	bits := pub.N.BitLen()
	if !containsInt(kekBits, bits) {
		return nil, kekErrorf(ErrKEKType, "RSA key is %d bits; expected 2048, 3072 or 4096", bits)
	}
	if pub.N.Bit(0) == 0 {
		return nil, fmt.Errorf("%w: RSA modulus is even; not a valid RSA key", ErrKEK)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return nil, fmt.Errorf("%w: RSA public exponent is %d; expected an odd number of at least 3 (usually 65537)", ErrKEK, pub.E)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot encode public key: %v", ErrKEK, err)
	}
	return &KEK{Public: pub, SPKI: spki, Source: source}, nil
}

// jwk holds the members of a JWK this package reads. Others are ignored.
type jwk struct {
	Kid    *string   `json:"kid"`
	Kty    *string   `json:"kty"`
	KeyOps *[]string `json:"key_ops"`
	N      *string   `json:"n"`
	E      *string   `json:"e"`
	// Private members: a KEK file must carry none (null is what
	// `az keyvault key show` prints for them).
	D  *string `json:"d"`
	P  *string `json:"p"`
	Q  *string `json:"q"`
	DP *string `json:"dp"`
	DQ *string `json:"dq"`
	QI *string `json:"qi"`
	K  *string `json:"k"`
}

// private returns the name of a private member that is present, or "".
func (j *jwk) private() string {
	for _, m := range []struct {
		name string
		v    *string
	}{{"d", j.D}, {"p", j.P}, {"q", j.Q}, {"dp", j.DP}, {"dq", j.DQ}, {"qi", j.QI}, {"k", j.K}} {
		if m.v != nil {
			return m.name
		}
	}
	return ""
}

func parseKEKJSON(data []byte, kid string) (*KEK, error) {
	if err := checkJSON(data); err != nil {
		return nil, fmt.Errorf("%w: JSON: %w", ErrKEK, err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: JSON: expected an object: %v", ErrKEK, err)
	}
	raw := json.RawMessage(data)
	where := "" // prefix of member names in errors
	if inner, ok := top["key"]; ok {
		raw, where = inner, "key."
	} else if _, ok := top["kty"]; !ok {
		return nil, fmt.Errorf("%w: JSON has neither a \"key\" member nor a \"kty\" member; expected the output of `az keyvault key show`", ErrKEK)
	}
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("%w: the JWK has a member of the wrong type: %v", ErrKEK, jsonErr(err))
	}
	switch {
	case j.private() != "":
		return nil, fmt.Errorf("%w: %s%s is present: the file holds private key material; the KEK file must hold only the vault's public key", ErrKEK, where, j.private())
	case j.Kty == nil:
		return nil, fmt.Errorf("%w: %skty is missing; expected \"RSA-HSM\"", ErrKEK, where)
	case *j.Kty != "RSA" && *j.Kty != "RSA-HSM":
		return nil, kekErrorf(ErrKEKType, "%skty is %q; expected \"RSA-HSM\" (or \"RSA\")", where, *j.Kty)
	case j.KeyOps == nil:
		return nil, kekErrorf(ErrKEKOps, "%skey_ops is missing; expected [\"import\"]", where)
	case len(*j.KeyOps) != 1 || (*j.KeyOps)[0] != "import":
		ops, _ := json.Marshal(*j.KeyOps)
		return nil, kekErrorf(ErrKEKOps, "%skey_ops is %s; expected exactly [\"import\"] (a KEK may be used for nothing else)", where, ops)
	case j.N == nil || j.E == nil:
		return nil, fmt.Errorf("%w: %sn or %se is missing", ErrKEK, where, where)
	case j.Kid == nil:
		return nil, fmt.Errorf("%w: %skid is missing", ErrKEK, where)
	}
	kk, err := ParseKid(*j.Kid)
	if err != nil {
		return nil, fmt.Errorf("%skid: %w", where, err)
	}
	if kid != "" && kid != kk.URL {
		return nil, fmt.Errorf("%w: --kid %q differs from the kid in the file %q", ErrKidMismatch, kid, kk.URL)
	}
	n, err := b64urlInt(*j.N)
	if err != nil {
		return nil, fmt.Errorf("%w: %sn: %v", ErrKEK, where, err)
	}
	e, err := b64urlInt(*j.E)
	if err != nil {
		return nil, fmt.Errorf("%w: %se: %v", ErrKEK, where, err)
	}
	if e.BitLen() > 31 {
		return nil, fmt.Errorf("%w: %se is too large", ErrKEK, where)
	}
	k, err := newKEK(&rsa.PublicKey{N: n, E: int(e.Int64())}, "jwk")
	if err != nil {
		return nil, err
	}
	k.Kid = kk.URL
	return k, nil
}

// b64urlInt decodes a JWK big-endian integer: base64url, padding optional.
func b64urlInt(s string) (*big.Int, error) {
	b, err := decodeB64URL(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("is empty")
	}
	return new(big.Int).SetBytes(b), nil
}

// decodeB64URL decodes base64url with or without "=" padding, and refuses
// the standard alphabet, whitespace and anything else.
func decodeB64URL(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+' || c == '/':
			return nil, fmt.Errorf("uses the standard base64 alphabet (%q at offset %d); expected base64url (- and _)", c, i)
		case c == '=':
		case isLetter(c) || isDigit(c) || c == '-' || c == '_':
		default:
			return nil, fmt.Errorf("invalid base64url character %q at offset %d", c, i)
		}
	}
	if i := strings.IndexByte(s, '='); i >= 0 && strings.TrimRight(s[i:], "=") != "" {
		return nil, fmt.Errorf("'=' at offset %d inside the data; padding may only end it", i)
	}
	if strings.HasSuffix(s, "=") {
		b, err := base64.URLEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("bad base64url padding or length")
		}
		return b, nil
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad base64url length or trailing bits")
	}
	return b, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// kekErrorf returns an ErrKEK error that also is kind (ErrKEKType or
// ErrKEKOps) for errors.Is, with the message of ErrKEK's other errors.
func kekErrorf(kind error, format string, args ...any) error {
	return &kekError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

type kekError struct {
	kind error
	msg  string
}

func (e *kekError) Error() string   { return ErrKEK.Error() + ": " + e.msg }
func (e *kekError) Unwrap() []error { return []error{ErrKEK, e.kind} }

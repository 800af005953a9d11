package byok

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/internal/base/secret"
)

// KeyType is the type of a target key.
type KeyType string

// Target key types.
const (
	TypeRSA KeyType = "RSA"
	TypeEC  KeyType = "EC"
	TypeAES KeyType = "AES"
)

// JWKType returns the kty to import a key of type t under: "RSA-HSM",
// "EC-HSM" or "oct-HSM".
func (t KeyType) JWKType() string {
	switch t {
	case TypeRSA:
		return "RSA-HSM"
	case TypeEC:
		return "EC-HSM"
	case TypeAES:
		return "oct-HSM"
	}
	return ""
}

// Supported target sizes.
var (
	targetRSABits = []int{2048, 3072, 4096}
	// (SupportedRSABits and SupportedAESLen tell other packages.)
	targetAESLens = []int{16, 24, 32}
)

// TargetInfo says what a target key is, without its key material.
type TargetInfo struct {
	Type  KeyType
	Bits  int    // RSA modulus size, EC curve size (256, 384, 521) or AES key size
	Curve string // "P-256", "P-384" or "P-521" for EC (the JWK crv), else ""

	// Canonical reports whether the plaintext is byte-for-byte the
	// canonical encoding (see IsCanonical). Reason says why not.
	Canonical bool
	Reason    string
	// TrailingZeros counts zero bytes after the DER, as an HSM that pads
	// the key to a multiple of 8 bytes before RFC 5649 leaves them
	// (SoftHSM 2.6.1 does).
	TrailingZeros int
}

// String names the key type and size: "RSA-2048", "EC P-256", "AES-256".
func (i TargetInfo) String() string {
	switch i.Type {
	case TypeRSA:
		return fmt.Sprintf("RSA-%d", i.Bits)
	case TypeEC:
		return "EC " + i.Curve
	case TypeAES:
		return fmt.Sprintf("AES-%d", i.Bits)
	}
	return "unknown"
}

// Target is a target key in soft form, ready to be wrapped.
type Target struct {
	Type  KeyType
	Bits  int
	Curve string
	// Plaintext is what goes inside the wrap: the canonical PKCS#8 DER
	// (x509.MarshalPKCS8PrivateKey; the EC key inside as an RFC 5915
	// ECPrivateKey) for RSA and EC, the raw key bytes for AES. It is
	// secret: clear it with Wipe when done.
	Plaintext []byte
}

// Info returns the target's description, without key material.
func (t *Target) Info() TargetInfo {
	return TargetInfo{Type: t.Type, Bits: t.Bits, Curve: t.Curve, Canonical: true}
}

// String names the key type and size, like TargetInfo.String.
func (t *Target) String() string { return t.Info().String() }

// Wipe overwrites Plaintext with zeros, as a best effort: Go may have left
// copies (for one, in the parsed key the plaintext was encoded from).
func (t *Target) Wipe() {
	if t != nil {
		secret.Wipe(t.Plaintext)
	}
}

// NewTarget returns the target for a key: *rsa.PrivateKey, *ecdsa.PrivateKey,
// or []byte (an AES key, which is copied). Keys of unsupported types or
// sizes are refused with an error wrapping ErrTarget and ErrUnsupported.
func NewTarget(key any) (*Target, error) {
	switch k := key.(type) {
	case []byte:
		if !containsInt(targetAESLens, len(k)) {
			return nil, fmt.Errorf("%w: %w: AES key is %d bytes; expected 16, 24 or 32", ErrTarget, ErrUnsupported, len(k))
		}
		return &Target{Type: TypeAES, Bits: 8 * len(k), Plaintext: bytes.Clone(k)}, nil
	case *rsa.PrivateKey:
		bits := k.N.BitLen()
		if !containsInt(targetRSABits, bits) {
			return nil, fmt.Errorf("%w: %w: RSA-%d is not accepted for import; expected 2048, 3072 or 4096 bits", ErrTarget, ErrUnsupported, bits)
		}
		if len(k.Primes) != 2 {
			return nil, fmt.Errorf("%w: %w: RSA key has %d primes; expected 2", ErrTarget, ErrUnsupported, len(k.Primes))
		}
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("%w: RSA private key is inconsistent", ErrTarget)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("%w: cannot encode RSA key as PKCS#8", ErrTarget)
		}
		return &Target{Type: TypeRSA, Bits: bits, Plaintext: der}, nil
	case *ecdsa.PrivateKey:
		var curve string
		switch k.Curve {
		case elliptic.P256():
			curve = "P-256"
		case elliptic.P384():
			curve = "P-384"
		case elliptic.P521():
			curve = "P-521"
		default:
			return nil, fmt.Errorf("%w: %w: EC %s is not accepted for import; expected P-256, P-384 or P-521", ErrTarget, ErrUnsupported, k.Curve.Params().Name)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("%w: cannot encode EC key as PKCS#8", ErrTarget)
		}
		return &Target{Type: TypeEC, Bits: k.Curve.Params().BitSize, Curve: curve, Plaintext: der}, nil
	}
	return nil, fmt.Errorf("%w: %w: %s keys are not accepted for import; expected RSA, EC or AES", ErrTarget, ErrUnsupported, keyKind(key))
}

// maxTargetFile bounds the input: a PEM RSA-4096 private key is about 3.3 KiB.
const maxTargetFile = 64 << 10

// ParseTargetFile reads a target key in soft form:
//
//   - PEM: exactly one "PRIVATE KEY" (PKCS#8), "RSA PRIVATE KEY" (PKCS#1) or
//     "EC PRIVATE KEY" (SEC1) block, optionally preceded by "EC PARAMETERS"
//     (as `openssl ecparam -genkey` writes), with no PEM headers; text before
//     the first block is ignored, as PEM allows; anything but whitespace
//     after the last block is refused;
//   - otherwise the raw bytes of an AES key: exactly 16, 24 or 32 bytes,
//     not all printable text (hex or base64 text is refused rather than
//     taken as key bytes) and not all zeros.
//
// Accepted keys: RSA 2048/3072/4096 (two primes), EC P-256/P-384/P-521,
// AES 128/192/256. Refused with the reason: RSA-1024 and other sizes,
// secp256k1 (P-256K) and other curves, Ed25519 and other algorithms,
// encrypted PEM, public keys, certificates, DER.
//
// data is not modified; the caller clears it. The result's Plaintext is a
// fresh buffer in canonical form. Errors wrap ErrTarget (and ErrUnsupported
// for well-formed keys the service refuses) and never contain key material.
func ParseTargetFile(data []byte) (*Target, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: file is empty", ErrTarget)
	}
	if len(data) > maxTargetFile {
		return nil, fmt.Errorf("%w: file is %d bytes; a target key file is at most a few KiB", ErrTarget, len(data))
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return parseTargetPEM(data)
	}
	n := len(data)
	switch {
	case containsInt(targetAESLens, n) && isText(data):
		return nil, fmt.Errorf("%w: %d bytes of printable text (hex or base64?); a raw AES key file must hold the key bytes themselves", ErrTarget, n)
	case containsInt(targetAESLens, n) && allZero(data):
		return nil, fmt.Errorf("%w: %d bytes, all zero; not a real AES key", ErrTarget, n)
	case containsInt(targetAESLens, n):
		return NewTarget(data)
	case containsInt(targetAESLens, n-1) && data[n-1] == '\n':
		return nil, fmt.Errorf("%w: %d bytes ending in a newline; a raw AES key file must hold exactly 16, 24 or 32 bytes", ErrTarget, n)
	case data[0] == 0x30 && n > 64:
		return nil, fmt.Errorf("%w: %d bytes of binary data, perhaps a DER key; expected a PEM private key or a raw AES key of 16, 24 or 32 bytes", ErrTarget, n)
	case isText(data):
		return nil, fmt.Errorf("%w: %d bytes of text with no PEM block; expected a PEM private key or a raw AES key of 16, 24 or 32 bytes", ErrTarget, n)
	}
	return nil, fmt.Errorf("%w: %d bytes: not PEM, and not a raw AES key of 16, 24 or 32 bytes", ErrTarget, n)
}

func parseTargetPEM(data []byte) (*Target, error) {
	var key *pem.Block
	var others []string
	var blocks []*pem.Block
	defer func() {
		for _, b := range blocks {
			secret.Wipe(b.Bytes)
		}
	}()
	rest := data
	for {
		b, r := pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
		rest = r
		switch {
		case b.Type == "EC PARAMETERS":
			continue
		case key == nil && strings.Contains(b.Type, "PRIVATE KEY"):
			key = b
		default:
			others = append(others, b.Type)
		}
	}
	if key == nil && len(others) == 0 {
		return nil, fmt.Errorf("%w: PEM block is malformed or truncated (no matching END line, or bad base64)", ErrTarget)
	}
	if bytes.Count(data, []byte("-----BEGIN")) != len(blocks) {
		return nil, fmt.Errorf("%w: a PEM block is malformed or truncated", ErrTarget)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		if bytes.Contains(rest, []byte("-----BEGIN")) {
			return nil, fmt.Errorf("%w: a PEM block after the first is malformed or truncated", ErrTarget)
		}
		return nil, fmt.Errorf("%w: data after the last PEM block", ErrTarget)
	}
	if key == nil {
		switch t := others[0]; {
		case len(others) > 1:
			return nil, fmt.Errorf("%w: file holds no private key, only %s blocks", ErrTarget, strings.Join(quoteAll(others), ", "))
		case t == "CERTIFICATE":
			return nil, fmt.Errorf("%w: file is a certificate; expected the private key", ErrTarget)
		case strings.Contains(t, "PUBLIC KEY"):
			return nil, fmt.Errorf("%w: file is a public key (%s); expected the private key", ErrTarget, t)
		default:
			return nil, fmt.Errorf("%w: PEM block type is %q; expected \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\"", ErrTarget, t)
		}
	}
	if len(others) > 0 {
		return nil, fmt.Errorf("%w: file holds %q and also %s; expected exactly one private key", ErrTarget, key.Type, strings.Join(quoteAll(others), ", "))
	}
	if strings.Contains(key.Headers["Proc-Type"], "ENCRYPTED") || key.Headers["DEK-Info"] != "" {
		return nil, fmt.Errorf("%w: %s is encrypted (legacy PEM encryption); decrypt it first", ErrTarget, key.Type)
	}
	if len(key.Headers) != 0 {
		return nil, fmt.Errorf("%w: PEM block has headers; expected none", ErrTarget)
	}
	var parsed any
	switch key.Type {
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%w: private key is encrypted (PKCS#8 ENCRYPTED PRIVATE KEY); decrypt it first", ErrTarget)
	case "PRIVATE KEY":
		if err := precheckPKCS8(key.Bytes); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTarget, err)
		}
		k, err := x509.ParsePKCS8PrivateKey(key.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: PKCS#8 private key is malformed or truncated", ErrTarget)
		}
		parsed = k
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(key.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: PKCS#1 RSA private key is malformed, truncated or inconsistent", ErrTarget)
		}
		parsed = k
	case "EC PRIVATE KEY":
		if err := precheckSEC1(key.Bytes); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTarget, err)
		}
		k, err := x509.ParseECPrivateKey(key.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: SEC1 EC private key is malformed, truncated or inconsistent", ErrTarget)
		}
		parsed = k
	case "OPENSSH PRIVATE KEY":
		return nil, fmt.Errorf("%w: OpenSSH private key format is not accepted; expected PEM PKCS#8, PKCS#1 or SEC1", ErrTarget)
	default:
		return nil, fmt.Errorf("%w: PEM block type is %q; expected \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\"", ErrTarget, key.Type)
	}
	return NewTarget(parsed)
}

// pkcs8 is the outer structure of a PrivateKeyInfo (RFC 5208).
type pkcs8 struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// ecPrivateKey is RFC 5915's ECPrivateKey.
type ecPrivateKey struct {
	Version       int
	PrivateKey    []byte
	NamedCurveOID asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey     asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// precheckPKCS8 refuses, by name, algorithms that crypto/x509 would reject
// with a vague error or accept though the service refuses them.
func precheckPKCS8(der []byte) error {
	var p pkcs8
	if _, err := asn1.Unmarshal(der, &p); err != nil {
		return nil // let crypto/x509 report the malformation
	}
	return checkAlgorithm(p.Algo)
}

func checkAlgorithm(alg pkix.AlgorithmIdentifier) error {
	if alg.Algorithm.Equal(oidRSA) {
		return nil
	}
	if alg.Algorithm.Equal(oidEC) {
		var c asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &c); err == nil {
			return checkCurve(c)
		}
		return fmt.Errorf("%w: EC key without a named curve is not accepted; expected P-256, P-384 or P-521", ErrUnsupported)
	}
	return fmt.Errorf("%w: %s keys are not accepted for import; expected RSA, EC or AES", ErrUnsupported, algName(alg))
}

func checkCurve(c asn1.ObjectIdentifier) error {
	switch {
	case c.Equal(oidP256), c.Equal(oidP384), c.Equal(oidP521):
		return nil
	case c.Equal(oidSecp256k1):
		return fmt.Errorf("%w: secp256k1 (P-256K) is not accepted for import; expected P-256, P-384 or P-521", ErrUnsupported)
	}
	return fmt.Errorf("%w: EC %s is not accepted for import; expected P-256, P-384 or P-521", ErrUnsupported, curveName(c))
}

func precheckSEC1(der []byte) error {
	var k ecPrivateKey
	if _, err := asn1.Unmarshal(der, &k); err != nil {
		return nil
	}
	secret.Wipe(k.PrivateKey)
	if len(k.NamedCurveOID) == 0 {
		return nil // crypto/x509 reports the missing curve
	}
	return checkCurve(k.NamedCurveOID)
}

// ClassifyPlaintext says what an unwrapped plaintext is, and whether it is
// canonical:
//
//   - 16, 24 or 32 bytes: an AES key (always canonical);
//   - otherwise a PKCS#8 private key of a supported type, possibly followed
//     by trailing bytes. It is canonical when it has no trailing bytes and
//     equals its re-encoding by x509.MarshalPKCS8PrivateKey byte for byte.
//     1 to 7 trailing zero bytes are reported in TrailingZeros: that is the
//     padding SoftHSM 2.6.1 adds before RFC 5649.
//
// A plaintext that is not a key of a supported type is an error wrapping
// ErrPlaintext (and ErrUnsupported for keys the service refuses). pt is not
// modified; temporary copies are cleared.
func ClassifyPlaintext(pt []byte) (*TargetInfo, error) {
	if containsInt(targetAESLens, len(pt)) {
		return &TargetInfo{Type: TypeAES, Bits: 8 * len(pt), Canonical: true}, nil
	}
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(pt, &raw)
	if err != nil || raw.Class != asn1.ClassUniversal || raw.Tag != asn1.TagSequence {
		return nil, fmt.Errorf("%w: %d bytes that are neither an AES key (16, 24 or 32 bytes) nor a DER PKCS#8 private key", ErrPlaintext, len(pt))
	}
	der := pt[:len(pt)-len(rest)]
	var p pkcs8
	if _, err := asn1.Unmarshal(der, &p); err != nil {
		return nil, fmt.Errorf("%w: DER structure is not a PKCS#8 private key", ErrPlaintext)
	}
	secret.Wipe(p.PrivateKey)
	if err := checkAlgorithm(p.Algo); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPlaintext, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: PKCS#8 %s private key is malformed or inconsistent", ErrPlaintext, algName(p.Algo))
	}
	t, err := NewTarget(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPlaintext, err)
	}
	defer t.Wipe()
	info := t.Info()
	switch {
	case len(rest) > 0 && len(rest) <= 7 && allZero(rest):
		info.Canonical, info.TrailingZeros = false, len(rest)
		info.Reason = fmt.Sprintf("the PKCS#8 DER is followed by %d zero bytes (the HSM padded the key to a multiple of 8 bytes before RFC 5649, as SoftHSM 2.6.1 does)", len(rest))
	case len(rest) > 0:
		info.Canonical = false
		info.Reason = fmt.Sprintf("the PKCS#8 DER is followed by %d bytes of trailing data", len(rest))
	case !bytes.Equal(t.Plaintext, der):
		info.Canonical = false
		info.Reason = fmt.Sprintf("the PKCS#8 encoding (%d bytes) differs from the canonical encoding (%d bytes)", len(der), len(t.Plaintext))
	}
	return &info, nil
}

// IsCanonical reports whether pt is exactly the canonical plaintext of a
// supported key (see ClassifyPlaintext), and if not, why.
func IsCanonical(pt []byte) (bool, string) {
	info, err := ClassifyPlaintext(pt)
	if err != nil {
		return false, err.Error()
	}
	return info.Canonical, info.Reason
}

func isText(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

// SupportedRSABits reports whether the service imports RSA targets of this
// size (2048, 3072, 4096).
func SupportedRSABits(bits int) bool { return containsInt(targetRSABits, bits) }

// SupportedAESLen reports whether the service imports AES targets with a key
// of n bytes (16, 24, 32).
func SupportedAESLen(n int) bool { return containsInt(targetAESLens, n) }

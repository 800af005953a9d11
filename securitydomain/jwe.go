package securitydomain

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// JWE algorithm names used by security domains (spec §4).
const (
	AlgRSAOAEP256 = "RSA-OAEP-256"
	AlgDir        = "dir"
	EncA256CBC    = "A256CBC-HS512"
)

// Sizes fixed by A256CBC-HS512 (RFC 7518 §5.2.5).
const (
	cekSize = 64 // MAC_KEY || ENC_KEY
	ivSize  = 16
	tagSize = 32
)

// ErrAuthentication is returned (wrapped) when a JWE's authentication tag
// does not match: the data was damaged or tampered with, or the key is wrong.
var ErrAuthentication = errors.New("securitydomain: JWE authentication tag mismatch")

// ErrDecryption is returned (wrapped) when RSA-OAEP decryption fails.
var ErrDecryption = errors.New("securitydomain: RSA-OAEP decryption failed")

// b64u is base64url without padding. Decoding is strict: no padding, no
// other characters, canonical trailing bits; but encoding/base64 skips CR
// and LF even in Strict mode, so callers refuse them (parseJWE) or decode
// with decodeB64u.
var b64u = base64.RawURLEncoding.Strict()

// errB64uNewline is returned by decodeB64u for a CR or LF in its input.
var errB64uNewline = errors.New("line break inside base64url")

// decodeB64u decodes unpadded base64url strictly, CR and LF included:
// whatever it accepts is the canonical encoding of what it returns. The
// x5t_256 thumbprints are decoded with it, so that "ab\ncd..." is refused
// when the file is read rather than matching no certificate later.
func decodeB64u(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errB64uNewline
	}
	return b64u.DecodeString(s)
}

// jwe is a parsed compact JWE (RFC 7516 §7.1).
type jwe struct {
	rawHeader string // the first part as it appears: the AAD
	alg, kid  string
	encKey    []byte
	iv        []byte
	ct        []byte
	tag       []byte
}

// jweHeader returns the exact header bytes the service and the CLI write:
// keys alg, enc, kid in that order, no spaces.
func jweHeader(alg, kid string) string {
	return `{"alg":` + pyQuote(alg) + `,"enc":` + pyQuote(EncA256CBC) + `,"kid":` + pyQuote(kid) + `}`
}

// LegacyShareKid is the kid of every RSA-OAEP-256 JWE the az CLI writes (the
// restore blob's WrappedKey) and of the shares in security domains the
// service made before 2025. Since 2025 the service gives each share its own
// kid, a UUID; nothing reads it (the az CLI ignores it, and so does the
// restore), so any kid string is accepted in a share.
const LegacyShareKid = "not used"

// shareKid is the kid of the RSA-OAEP-256 JWEs keyrite writes (the restore
// blob's WrappedKey), as the az CLI writes it.
const shareKid = LegacyShareKid

// parseJWE parses a compact JWE. It checks the structure (five base64url
// parts, canonical header with alg, enc and kid only, 16-byte IV, non-empty
// whole-block ciphertext, 32-byte tag, empty encrypted key for "dir") but
// does no cryptography.
func parseJWE(s string) (*jwe, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 5 {
		return nil, fmt.Errorf("compact JWE has %d dot-separated parts, want 5", len(parts))
	}
	names := [5]string{"header", "encrypted key", "IV", "ciphertext", "tag"}
	var dec [5][]byte
	for i, p := range parts {
		// encoding/base64 skips CR and LF even in Strict mode; a compact
		// JWE has none, and must re-serialise to the same string.
		if strings.ContainsAny(p, "\r\n") {
			return nil, fmt.Errorf("JWE %s contains a line break; want unpadded base64url", names[i])
		}
		b, err := b64u.DecodeString(p)
		if err != nil {
			return nil, fmt.Errorf("JWE %s is not unpadded base64url: %v", names[i], err)
		}
		dec[i] = b
	}
	var h struct {
		Alg *string `json:"alg"`
		Enc *string `json:"enc"`
		Kid *string `json:"kid"`
	}
	fields, err := objectFields(dec[0])
	if err != nil {
		return nil, fmt.Errorf("JWE header: %v", err)
	}
	for k := range fields {
		if k != "alg" && k != "enc" && k != "kid" {
			return nil, fmt.Errorf("JWE header has unsupported field %q (only alg, enc and kid are used)", k)
		}
	}
	if err := json.Unmarshal(dec[0], &h); err != nil {
		return nil, fmt.Errorf("JWE header: %v", err)
	}
	if h.Alg == nil || h.Enc == nil || h.Kid == nil {
		return nil, errors.New("JWE header lacks alg, enc or kid")
	}
	if *h.Enc != EncA256CBC {
		return nil, fmt.Errorf("JWE enc is %q, want %q", *h.Enc, EncA256CBC)
	}
	if *h.Alg != AlgRSAOAEP256 && *h.Alg != AlgDir {
		return nil, fmt.Errorf("JWE alg is %q, want %q or %q", *h.Alg, AlgRSAOAEP256, AlgDir)
	}
	if canon := jweHeader(*h.Alg, *h.Kid); string(dec[0]) != canon {
		return nil, fmt.Errorf("JWE header is not in the service's form: got %s, want %s", quoteShort(dec[0]), canon)
	}
	j := &jwe{rawHeader: parts[0], alg: *h.Alg, kid: *h.Kid, encKey: dec[1], iv: dec[2], ct: dec[3], tag: dec[4]}
	switch {
	case j.alg == AlgDir && len(j.encKey) != 0:
		return nil, fmt.Errorf("JWE with alg %q has a %d-byte encrypted key, want none", AlgDir, len(j.encKey))
	case j.alg == AlgRSAOAEP256 && len(j.encKey) == 0:
		return nil, fmt.Errorf("JWE with alg %q has no encrypted key", AlgRSAOAEP256)
	case len(j.iv) != ivSize:
		return nil, fmt.Errorf("JWE IV is %d bytes, want %d", len(j.iv), ivSize)
	case len(j.ct) == 0 || len(j.ct)%aes.BlockSize != 0:
		return nil, fmt.Errorf("JWE ciphertext is %d bytes, want a non-zero multiple of %d", len(j.ct), aes.BlockSize)
	case len(j.tag) != tagSize:
		return nil, fmt.Errorf("JWE authentication tag is %d bytes, want %d", len(j.tag), tagSize)
	}
	return j, nil
}

// String returns the compact serialization.
func (j *jwe) String() string {
	return j.rawHeader + "." + b64u.EncodeToString(j.encKey) + "." + b64u.EncodeToString(j.iv) + "." +
		b64u.EncodeToString(j.ct) + "." + b64u.EncodeToString(j.tag)
}

// macTag computes T = first 32 bytes of HMAC-SHA-512(MAC_KEY, AAD || IV || C || AL).
func macTag(macKey []byte, aad string, iv, ct []byte) []byte {
	m := hmac.New(sha512.New, macKey)
	io.WriteString(m, aad)
	m.Write(iv)
	m.Write(ct)
	var al [8]byte
	binary.BigEndian.PutUint64(al[:], uint64(len(aad))*8)
	m.Write(al[:])
	return m.Sum(nil)[:tagSize]
}

// sealJWE encrypts plaintext under the 64-byte key cek with A256CBC-HS512 and
// returns the JWE with the given header and encrypted key.
func sealJWE(alg, kid string, encKey, cek, plaintext []byte, rand io.Reader) (*jwe, error) {
	if len(cek) != cekSize {
		return nil, fmt.Errorf("securitydomain: content key is %d bytes, want %d", len(cek), cekSize)
	}
	iv := make([]byte, ivSize)
	if _, err := io.ReadFull(rand, iv); err != nil {
		return nil, fmt.Errorf("securitydomain: reading random IV: %w", err)
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := make([]byte, len(plaintext)+pad)
	copy(buf, plaintext)
	for i := len(plaintext); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	block, err := aes.NewCipher(cek[32:])
	if err != nil {
		return nil, err
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	j := &jwe{rawHeader: b64u.EncodeToString([]byte(jweHeader(alg, kid))), alg: alg, kid: kid, encKey: encKey, iv: iv, ct: buf}
	j.tag = macTag(cek[:32], j.rawHeader, iv, buf)
	return j, nil
}

// open authenticates and decrypts j with the 64-byte key cek. The tag is
// compared in constant time before any decryption.
func (j *jwe) open(cek []byte) ([]byte, error) {
	if len(cek) != cekSize {
		return nil, fmt.Errorf("content key is %d bytes, want %d", len(cek), cekSize)
	}
	if len(j.tag) != tagSize {
		return nil, fmt.Errorf("JWE authentication tag is %d bytes, want %d", len(j.tag), tagSize)
	}
	want := macTag(cek[:32], j.rawHeader, j.iv, j.ct)
	if subtle.ConstantTimeCompare(want, j.tag) != 1 {
		return nil, ErrAuthentication
	}
	block, err := aes.NewCipher(cek[32:])
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(j.ct))
	cipher.NewCBCDecrypter(block, j.iv).CryptBlocks(pt, j.ct)
	// The data is authenticated, so the padding check need not be constant time.
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize {
		clear(pt)
		return nil, errors.New("bad PKCS#7 padding after authentication")
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			clear(pt)
			return nil, errors.New("bad PKCS#7 padding after authentication")
		}
	}
	return pt[:len(pt)-pad], nil
}

// sealRSA makes an RSA-OAEP-256 JWE of plaintext for pub, with a fresh
// 64-byte content key and the service's header with the given kid.
func sealRSA(pub *rsa.PublicKey, plaintext []byte, kid string, rand io.Reader) (string, error) {
	cek := make([]byte, cekSize)
	defer clear(cek)
	if _, err := io.ReadFull(rand, cek); err != nil {
		return "", fmt.Errorf("securitydomain: reading random content key: %w", err)
	}
	ek, err := rsa.EncryptOAEP(sha256.New(), rand, pub, cek, nil)
	if err != nil {
		return "", fmt.Errorf("securitydomain: RSA-OAEP-256 encryption: %w", err)
	}
	j, err := sealJWE(AlgRSAOAEP256, kid, ek, cek, plaintext, rand)
	if err != nil {
		return "", err
	}
	return j.String(), nil
}

// openRSA decrypts an RSA-OAEP-256 JWE with d.
func (j *jwe) openRSA(d Decrypter) ([]byte, error) {
	if j.alg != AlgRSAOAEP256 {
		return nil, fmt.Errorf("JWE alg is %q, want %q", j.alg, AlgRSAOAEP256)
	}
	if pub, ok := d.Public().(*rsa.PublicKey); ok && len(j.encKey) != pub.Size() {
		return nil, fmt.Errorf("JWE encrypted key is %d bytes, but the RSA key's modulus is %d bytes", len(j.encKey), pub.Size())
	}
	cek, err := d.DecryptOAEPSHA256(j.encKey)
	if err != nil {
		return nil, err
	}
	defer clear(cek)
	if len(cek) != cekSize {
		return nil, fmt.Errorf("JWE content key is %d bytes, want %d", len(cek), cekSize)
	}
	return j.open(cek)
}

// quoteShort quotes b for an error message, cut to a readable length.
func quoteShort(b []byte) string {
	const max = 120
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

package transcripts

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/mod/sumdb/note"
)

// Signature types, as assigned by C2SP signed-note.
const (
	sigTypeEd25519 = 0x01 // RFC 8032 Ed25519 over the note text
	sigTypeECDSA   = 0x02 // ECDSA P-256, ASN.1 DER over SHA-256(note text), key ID = SHA-256(SPKI)[:4]
)

// Key types as reports name them.
const (
	KeyTypeEd25519   = "ed25519"
	KeyTypeECDSAP256 = "ecdsa-p256"
)

// ErrKey is wrapped by errors about signing or verifier keys.
var ErrKey = errors.New("transcripts: unusable key")

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@/-]{0,63}$`)

// CheckKeyName applies the rule for signer names: 1 to 64 characters from
// A-Z a-z 0-9 . _ @ / -, starting with a letter or digit (a subset of what
// C2SP signed notes allow: no spaces, no '+').
func CheckKeyName(name string) error {
	if !keyNameRE.MatchString(name) {
		return fmt.Errorf("%w: signer name %q: want 1 to 64 characters from A-Z a-z 0-9 . _ @ / -, starting with a letter or digit", ErrKey, name)
	}
	return nil
}

// Signer signs checkpoints (as C2SP signed-note signatures) and attestations
// (as DSSE signatures) with one key. It implements note.Signer.
type Signer struct {
	name  string
	key   crypto.Signer
	typ   byte
	pub   []byte // the public key as the signature type encodes it
	hash  uint32
	vkey  string
	ktype string
}

// NewSigner wraps key, which must be an Ed25519 key (ed25519.PrivateKey or
// any crypto.Signer whose Public is an ed25519.PublicKey, signing the whole
// message with crypto.Hash(0)) or an ECDSA P-256 key (any crypto.Signer whose
// Public is a P-256 *ecdsa.PublicKey, signing a SHA-256 digest and returning
// an ASN.1 DER signature, as crypto/ecdsa and hsm.Signer do).
//
// The name is part of the signature line and of the verifier key, and for
// Ed25519 of the key ID too (C2SP: SHA-256(name || "\n" || 0x01 || key)):
// one key under two names gives two verifier keys that do not match each
// other's signatures. A trust file must hold the verifier key made with the
// name the signatures are made with ([Trust.KeyFor] finds that name).
func NewSigner(name string, key crypto.Signer) (*Signer, error) {
	if err := CheckKeyName(name); err != nil {
		return nil, err
	}
	s := &Signer{name: name, key: key}
	var err error
	if s.typ, s.pub, s.ktype, err = encodePublic(key.Public()); err != nil {
		return nil, err
	}
	s.hash = keyID(name, s.typ, s.pub)
	s.vkey = encodeVerifierKey(name, s.hash, s.typ, s.pub)
	return s, nil
}

// encodePublic gives a public key's C2SP signature type and encoding (the
// 32 Ed25519 bytes, or the SPKI DER of a P-256 key): what a verifier key
// carries after its type byte. The name is not part of it.
func encodePublic(pub crypto.PublicKey) (typ byte, enc []byte, ktype string, err error) {
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return 0, nil, "", fmt.Errorf("%w: Ed25519 public key of %d bytes", ErrKey, len(pub))
		}
		return sigTypeEd25519, append([]byte(nil), pub...), KeyTypeEd25519, nil
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return 0, nil, "", fmt.Errorf("%w: ECDSA key on %s; only P-256 is supported", ErrKey, pub.Curve.Params().Name)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return 0, nil, "", fmt.Errorf("%w: %v", ErrKey, err)
		}
		return sigTypeECDSA, der, KeyTypeECDSAP256, nil
	default:
		return 0, nil, "", fmt.Errorf("%w: %T keys cannot sign transcripts; use Ed25519 or ECDSA P-256", ErrKey, pub)
	}
}

// Public is the signer's public key.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

// Name is the signer's name (note.Signer).
func (s *Signer) Name() string { return s.name }

// KeyHash is the C2SP key ID (note.Signer).
func (s *Signer) KeyHash() uint32 { return s.hash }

// VerifierKey is the public key in C2SP verifier-key form,
// "name+keyid+base64(type||key)", as trust files hold it.
func (s *Signer) VerifierKey() string { return s.vkey }

// KeyType is "ed25519" or "ecdsa-p256".
func (s *Signer) KeyType() string { return s.ktype }

// Sign signs a note text (note.Signer).
func (s *Signer) Sign(msg []byte) ([]byte, error) { return s.signRaw(msg) }

func (s *Signer) signRaw(msg []byte) ([]byte, error) {
	var sig []byte
	var err error
	switch s.typ {
	case sigTypeEd25519:
		sig, err = s.key.Sign(rand.Reader, msg, crypto.Hash(0))
	default:
		d := sha256.Sum256(msg)
		sig, err = s.key.Sign(rand.Reader, d[:], crypto.SHA256)
	}
	if err != nil {
		return nil, fmt.Errorf("transcripts: signing with %s: %w", s.name, err)
	}
	// Check the signature before it is written anywhere (a token that
	// returns garbage must not produce a transcript that fails later).
	v := &Verifier{name: s.name, typ: s.typ, pub: s.pub, hash: s.hash, vkey: s.vkey, ktype: s.ktype}
	if err := v.parseKey(); err != nil {
		return nil, err
	}
	if !v.verifyRaw(msg, sig) {
		return nil, fmt.Errorf("transcripts: signing with %s: the key produced a signature that does not verify", s.name)
	}
	return sig, nil
}

// dsse.Signer
func (s *Signer) dsseSign(_ context.Context, data []byte) ([]byte, error) { return s.signRaw(data) }

type dsseSigner struct{ s *Signer }

func (d dsseSigner) Sign(ctx context.Context, data []byte) ([]byte, error) {
	return d.s.dsseSign(ctx, data)
}

// KeyID is the DSSE keyid: go-securesystemslib's SHA256KeyID of the public
// key (hex SHA-256 of its PKIX DER), which that library's verifiers match.
func (d dsseSigner) KeyID() (string, error) { return dsse.SHA256KeyID(d.s.key.Public()) }

// Verifier checks signatures by one public key. It implements note.Verifier.
type Verifier struct {
	name  string
	typ   byte
	pub   []byte
	hash  uint32
	vkey  string
	ktype string
	ed    ed25519.PublicKey
	ec    *ecdsa.PublicKey
}

// NewVerifier parses a verifier key "name+keyid+base64(type||key)". Type
// 0x01 is a 32-byte Ed25519 key (the standard C2SP / sumdb note form, as
// note.NewVerifier reads it); type 0x02 is an ECDSA P-256 key as SPKI DER.
func NewVerifier(vkey string) (*Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hexID, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || len(hexID) != 8 || strings.ToLower(hexID) != hexID {
		return nil, fmt.Errorf("%w: verifier key: want name+keyid+base64", ErrKey)
	}
	if err := CheckKeyName(name); err != nil {
		return nil, err
	}
	id, err := strconv.ParseUint(hexID, 16, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: verifier key %s: bad key id", ErrKey, name)
	}
	raw, err := decodeStd(b64)
	if err != nil || len(raw) < 2 {
		return nil, fmt.Errorf("%w: verifier key %s: bad base64 key", ErrKey, name)
	}
	v := &Verifier{name: name, typ: raw[0], pub: raw[1:], hash: uint32(id), vkey: vkey}
	if err := v.parseKey(); err != nil {
		return nil, err
	}
	if keyID(name, v.typ, v.pub) != v.hash {
		return nil, fmt.Errorf("%w: verifier key %s: key id %s does not match the key", ErrKey, name, hexID)
	}
	if encodeVerifierKey(name, v.hash, v.typ, v.pub) != vkey {
		return nil, fmt.Errorf("%w: verifier key %s: not in canonical form", ErrKey, name)
	}
	return v, nil
}

func (v *Verifier) parseKey() error {
	switch v.typ {
	case sigTypeEd25519:
		if len(v.pub) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: verifier key %s: Ed25519 key of %d bytes", ErrKey, v.name, len(v.pub))
		}
		v.ed, v.ktype = ed25519.PublicKey(v.pub), KeyTypeEd25519
	case sigTypeECDSA:
		k, err := x509.ParsePKIXPublicKey(v.pub)
		if err != nil {
			return fmt.Errorf("%w: verifier key %s: %v", ErrKey, v.name, err)
		}
		ec, ok := k.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			return fmt.Errorf("%w: verifier key %s: type 0x02 must be an ECDSA P-256 key", ErrKey, v.name)
		}
		if der, _ := x509.MarshalPKIXPublicKey(ec); string(der) != string(v.pub) {
			return fmt.Errorf("%w: verifier key %s: SPKI not in canonical DER", ErrKey, v.name)
		}
		v.ec, v.ktype = ec, KeyTypeECDSAP256
	default:
		return fmt.Errorf("%w: verifier key %s: signature type 0x%02x is not supported (want 0x01 Ed25519 or 0x02 ECDSA P-256)", ErrKey, v.name, v.typ)
	}
	return nil
}

// Name is the key's name (note.Verifier).
func (v *Verifier) Name() string { return v.name }

// KeyHash is the C2SP key ID (note.Verifier).
func (v *Verifier) KeyHash() uint32 { return v.hash }

// Verify checks a note signature (note.Verifier).
func (v *Verifier) Verify(msg, sig []byte) bool { return v.verifyRaw(msg, sig) }

// VerifierKey is the key in "name+keyid+base64" form.
func (v *Verifier) VerifierKey() string { return v.vkey }

// KeyType is "ed25519" or "ecdsa-p256".
func (v *Verifier) KeyType() string { return v.ktype }

// KeyID is the C2SP key ID as 8 hex digits.
func (v *Verifier) KeyID() string { return fmt.Sprintf("%08x", v.hash) }

func (v *Verifier) verifyRaw(msg, sig []byte) bool {
	switch v.typ {
	case sigTypeEd25519:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(v.ed, msg, sig)
	case sigTypeECDSA:
		d := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(v.ec, d[:], sig)
	}
	return false
}

type dsseVerifier struct{ v *Verifier }

func (d dsseVerifier) Verify(_ context.Context, data, sig []byte) error {
	if !d.v.verifyRaw(data, sig) {
		return errors.New("signature does not verify")
	}
	return nil
}
func (d dsseVerifier) KeyID() (string, error)   { return dsse.SHA256KeyID(d.v.publicKey()) }
func (d dsseVerifier) Public() crypto.PublicKey { return d.v.publicKey() }

func (v *Verifier) publicKey() crypto.PublicKey {
	if v.ed != nil {
		return v.ed
	}
	return v.ec
}

// keyID is the C2SP key ID: for Ed25519 SHA-256(name || 0x0A || 0x01 ||
// key)[:4] (what note.NewVerifier expects); for ECDSA (type 0x02, as
// implemented by transparency-dev/witness) SHA-256(SPKI DER)[:4].
func keyID(name string, typ byte, pub []byte) uint32 {
	h := sha256.New()
	if typ == sigTypeEd25519 {
		h.Write([]byte(name))
		h.Write([]byte{'\n', typ})
	}
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func encodeVerifierKey(name string, hash uint32, typ byte, pub []byte) string {
	return fmt.Sprintf("%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(append([]byte{typ}, pub...)))
}

// Compile-time checks: these are what note.Open and note.Sign take.
var (
	_ note.Signer   = (*Signer)(nil)
	_ note.Verifier = (*Verifier)(nil)
)

// ParseSigningKeyPEM reads an unencrypted PKCS#8 PEM private key ("PRIVATE
// KEY") holding an Ed25519 or ECDSA P-256 key, for rehearsals and software
// signers. The caller should wipe pemData afterwards (best effort).
func ParseSigningKeyPEM(pemData []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(pemData)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block found; want a PKCS#8 \"PRIVATE KEY\" PEM file", ErrKey)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrKey)
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: PEM block %q; want a PKCS#8 \"PRIVATE KEY\" (convert with 'openssl pkcs8 -topk8 -nocrypt')", ErrKey, block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	clear(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	switch k := k.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECDSA key on %s; only P-256 is supported", ErrKey, k.Curve.Params().Name)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("%w: %T keys cannot sign transcripts; use Ed25519 or ECDSA P-256", ErrKey, k)
	}
}

// keyIDHex renders a key ID for file names and reports.
func keyIDHex(h uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], h)
	return hex.EncodeToString(b[:])
}

// decodeStd decodes strict standard base64. Go's decoder skips CR and LF
// even in strict mode; refusing them keeps every accepted file the one
// canonical form of its content.
func decodeStd(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break inside base64")
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

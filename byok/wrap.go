package byok

import (
	"crypto/rsa"
	"crypto/sha1"
	"fmt"
	"io"

	"github.com/keyrite/keyrite/internal/base/secret"
	kwp "github.com/tink-crypto/tink-go/v2/kwp/subtle"
)

// Limits of the AES-KWP part, from tink-go's kwp/subtle (NIST SP 800-38F
// section 8 lets implementations restrict them). Every supported target is
// inside them: the smallest is a 16-byte AES-128 key, the largest the
// ~2.4 KB PKCS#8 of RSA-4096.
const (
	MinPlaintext = kwp.MinWrapSize // 16 bytes
	MaxPlaintext = kwp.MaxWrapSize // 8192 bytes
)

// wrapKeySize is the ephemeral AES key size: AES-256, as the service expects.
const wrapKeySize = 32

// KWPLen returns the length of the AES-KWP part for a plaintext of n bytes:
// n rounded up to a multiple of 8, plus the 8-byte integrity block.
func KWPLen(n int) int { return (n+7)/8*8 + 8 }

// Wrap wraps plaintext under the KEK as CKM_RSA_AES_KEY_WRAP does:
//
//	RSA-OAEP-SHA1(kek, aes) || AES-KWP(aes, plaintext)
//
// with a fresh AES-256 key read from rand, RSA-OAEP with SHA-1, MGF1-SHA-1
// and an empty label (crypto/rsa), and RFC 5649 with the default AIV
// (tink-go kwp/subtle). plaintext must be MinPlaintext..MaxPlaintext bytes;
// callers pass a target's canonical Plaintext. The AES key is cleared after
// use as a best effort (its expanded key schedule inside crypto/aes is out
// of reach).
//
// rand must be a cryptographically secure source such as crypto/rand.Reader.
// Errors wrap ErrWrap.
func Wrap(kek *KEK, plaintext []byte, rand io.Reader) ([]byte, error) {
	if kek == nil || kek.Public == nil {
		return nil, fmt.Errorf("%w: no KEK", ErrWrap)
	}
	if n := len(plaintext); n < MinPlaintext || n > MaxPlaintext {
		return nil, fmt.Errorf("%w: plaintext is %d bytes; expected %d to %d", ErrWrap, n, MinPlaintext, MaxPlaintext)
	}
	aesKey := make([]byte, wrapKeySize)
	defer secret.Wipe(aesKey)
	if _, err := io.ReadFull(rand, aesKey); err != nil {
		return nil, fmt.Errorf("%w: reading randomness: %w", ErrWrap, err)
	}
	if allZero(aesKey) {
		return nil, fmt.Errorf("%w: the random source returned zeros", ErrWrap)
	}
	rsaPart, err := rsa.EncryptOAEP(sha1.New(), rand, kek.Public, aesKey, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: RSA-OAEP: %w", ErrWrap, err)
	}
	w, err := kwp.NewKWP(aesKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrap, err)
	}
	kwpPart, err := w.Wrap(plaintext)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrap, err)
	}
	out := make([]byte, 0, len(rsaPart)+len(kwpPart))
	return append(append(out, rsaPart...), kwpPart...), nil
}

// Unwrap reverses Wrap with the KEK's private key: the first priv.Size()
// bytes are RSA-OAEP-SHA1 of an AES-256 key, the rest RFC 5649 AES-KWP of
// the plaintext. It is what the service does on import; keyrite uses it for
// the pre-flight check against a throwaway KEK, and the emulator uses it.
// The returned plaintext is secret: the caller clears it. Errors wrap
// ErrUnwrap and carry no key material.
func Unwrap(priv *rsa.PrivateKey, ciphertext []byte) ([]byte, error) {
	if priv == nil {
		return nil, fmt.Errorf("%w: no private key", ErrUnwrap)
	}
	k := priv.Size()
	if len(ciphertext) < k+KWPLen(MinPlaintext) {
		return nil, fmt.Errorf("%w: ciphertext is %d bytes; expected at least %d (%d-byte RSA part and a %d-byte minimum AES-KWP part)",
			ErrUnwrap, len(ciphertext), k+KWPLen(MinPlaintext), k, KWPLen(MinPlaintext))
	}
	if n := len(ciphertext) - k; n%8 != 0 {
		return nil, fmt.Errorf("%w: AES-KWP part is %d bytes, not a multiple of 8", ErrUnwrap, n)
	}
	if n := len(ciphertext) - k; n > KWPLen(MaxPlaintext) {
		return nil, fmt.Errorf("%w: AES-KWP part is %d bytes; at most %d is accepted", ErrUnwrap, n, KWPLen(MaxPlaintext))
	}
	aesKey, err := rsa.DecryptOAEP(sha1.New(), nil, priv, ciphertext[:k], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: RSA-OAEP-SHA1 decryption of the first %d bytes failed (wrong KEK, or not wrapped with SHA-1 OAEP)", ErrUnwrap, k)
	}
	defer secret.Wipe(aesKey)
	if len(aesKey) != wrapKeySize {
		return nil, fmt.Errorf("%w: the wrapped AES key is %d bytes; expected %d (AES-256)", ErrUnwrap, len(aesKey), wrapKeySize)
	}
	w, err := kwp.NewKWP(aesKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnwrap, err)
	}
	pt, err := w.Unwrap(ciphertext[k:])
	if err != nil {
		return nil, fmt.Errorf("%w: AES-KWP integrity check failed (corrupted ciphertext, or not RFC 5649 with the default IV)", ErrUnwrap)
	}
	if len(pt) < MinPlaintext {
		// tink unwraps 9..15-byte payloads (their wrapped form has the
		// minimum length) though it refuses to wrap them; so does Wrap.
		secret.Wipe(pt[:cap(pt)])
		return nil, fmt.Errorf("%w: the plaintext is %d bytes; expected at least %d", ErrUnwrap, len(pt), MinPlaintext)
	}
	// pt aliases tink's internal buffer, which also holds the padding;
	// return a copy and clear the buffer.
	out := append([]byte(nil), pt...)
	secret.Wipe(pt[:cap(pt)])
	return out, nil
}

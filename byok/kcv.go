package byok

import (
	"crypto/aes"
	"encoding/hex"
	"errors"
	"fmt"
)

// KCVLen is the length in bytes of a key check value: 3 bytes, shown as 6
// hex digits. No more is ever recorded: a KCV is public by convention
// because 3 bytes of one block say next to nothing about the key.
const KCVLen = 3

// ErrKCV is returned (wrapped) for a malformed key check value.
var ErrKCV = errors.New("byok: invalid key check value")

// KCV returns the key check value of an AES key (16, 24 or 32 bytes): the
// first 3 bytes of AES-ECB(key, 16 zero bytes), as 6 lowercase hex digits,
// the form HSM vendors' tools show. Key ceremonies identify symmetric keys
// by it: the uploader has the service encrypt the same zero block with the
// imported key and compares.
func KCV(key []byte) (string, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return "", fmt.Errorf("%w: an AES key is 16, 24 or 32 bytes; got %d", ErrKCV, len(key))
	}
	c, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrKCV, err)
	}
	var block [aes.BlockSize]byte
	c.Encrypt(block[:], block[:])
	kcv := hex.EncodeToString(block[:KCVLen])
	clear(block[:])
	return kcv, nil
}

// KCV returns the key check value of an AES target (see [KCV]); other key
// types have none and give an error.
func (t *Target) KCV() (string, error) {
	if t.Type != TypeAES {
		return "", fmt.Errorf("%w: a %s key has no key check value", ErrKCV, t.Info())
	}
	return KCV(t.Plaintext)
}

// FormatKCV formats the first 3 bytes of an AES-ECB encryption of the zero
// block (as an HSM or the service returns it) as a key check value. It
// refuses fewer than 3 bytes and never formats more.
func FormatKCV(block []byte) (string, error) {
	if len(block) < KCVLen {
		return "", fmt.Errorf("%w: %d bytes; expected at least %d", ErrKCV, len(block), KCVLen)
	}
	return hex.EncodeToString(block[:KCVLen]), nil
}

// ParseKCV checks a recorded key check value: exactly 6 lowercase hex
// digits. It returns the 3 bytes.
func ParseKCV(s string) ([]byte, error) {
	if len(s) != 2*KCVLen {
		return nil, fmt.Errorf("%w: %q is %d characters; expected 6 lowercase hex digits", ErrKCV, s, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return nil, fmt.Errorf("%w: %q; expected 6 lowercase hex digits", ErrKCV, s)
		}
	}
	b, _ := hex.DecodeString(s)
	return b, nil
}

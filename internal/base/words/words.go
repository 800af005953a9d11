// Package words renders digests as PGP word lists, so that people on both
// sides of an air gap can compare fingerprints aloud.
//
// The PGP word list (Juola and Zimmermann, 1995) maps each byte to one of two
// words depending on its position: bytes at even offsets use a two-syllable
// list, bytes at odd offsets a three-syllable list. A swapped or repeated byte
// therefore changes how the phrase sounds, not just which word is said.
package words

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"strings"
)

//go:embed even.txt
var evenText string

//go:embed odd.txt
var oddText string

var even, odd = strings.Fields(evenText), strings.Fields(oddText)

func init() {
	if len(even) != 256 || len(odd) != 256 {
		panic("words: the embedded PGP word lists must have 256 words each")
	}
}

// Of returns the PGP words for b, separated by single spaces.
func Of(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		if i%2 == 0 {
			sb.WriteString(even[c])
		} else {
			sb.WriteString(odd[c])
		}
	}
	return sb.String()
}

// ShortLen is how many leading digest bytes a short word phrase covers: eight
// words, 64 bits, enough to catch any accidental or unsophisticated mix-up
// when read aloud, while the full hex digest remains the binding value.
const ShortLen = 8

// Fingerprint is a SHA-256 digest shown to people.
type Fingerprint [sha256.Size]byte

// Sum returns the SHA-256 fingerprint of data.
func Sum(data []byte) Fingerprint { return sha256.Sum256(data) }

// Hex is the lowercase hex encoding of the whole digest.
func (f Fingerprint) Hex() string { return hex.EncodeToString(f[:]) }

// Words is the PGP word phrase of the whole digest (32 words).
func (f Fingerprint) Words() string { return Of(f[:]) }

// Short is the PGP word phrase of the first ShortLen bytes.
func (f Fingerprint) Short() string { return Of(f[:ShortLen]) }

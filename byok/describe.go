package byok

import (
	"fmt"

	"github.com/keyrite/keyrite/internal/words"
)

// Description is what can be told about a blob without the KEK's private
// key. It holds no secret.
type Description struct {
	Kid           string
	Generator     string            // "" when absent
	Digest        words.Fingerprint // SHA-256 of the file as read (or as Marshal writes it)
	CiphertextLen int

	// Layouts lists every way the ciphertext length splits into the RSA
	// part of a supported KEK size and the AES-KWP part of a supported
	// target type. Usually there is exactly one (408 and 536 bytes have
	// two); with a KEK given, only that KEK's size is considered.
	Layouts []Layout

	// With a KEK (Describe(kek) with kek != nil):
	KEKChecked     bool
	KEKFingerprint words.Fingerprint
	// KidMatch is "match", "mismatch", or "unknown" when the KEK carries
	// no kid (a bare PEM public key without --kid).
	KidMatch string
	// Problems lists what is wrong, for people; empty means the checks
	// passed.
	Problems []string
}

// Layout is one reading of a ciphertext's length.
type Layout struct {
	KEKBits int      // RSA part: KEKBits/8 bytes
	KWPLen  int      // AES-KWP part in bytes
	Targets []string // target types whose plaintext wraps to KWPLen bytes, e.g. ["EC P-256"]
}

// plaintextRanges are the plaintext lengths of the supported targets. AES
// lengths are exact. An EC key's PKCS#8 ranges from the smallest valid
// encoding (RFC 5915 ECPrivateKey without the optional parameters and public
// key, as SoftHSM and many HSMs emit it: 67, 80 and 98 bytes) to the full one
// (with both, as crypto/x509 emits it: 138, 185 and 241 bytes). RSA PKCS#8
// length varies by a few bytes with the sizes of the CRT integers, so a
// generous range is used.
//
// The EC ranges overlap one another, and the KEK sizes differ by 128-byte
// steps, so a length alone can have several readings (e.g. 408 bytes is an EC
// key under RSA-2048 or AES-128 under RSA-3072). Layouts lists them all; with
// the KEK the size is fixed, and only the EC curves can remain ambiguous.
var plaintextRanges = []struct {
	name   string
	lo, hi int
}{
	{"AES-128", 16, 16},
	{"AES-192", 24, 24},
	{"AES-256", 32, 32},
	{"EC P-256", 67, 138},
	{"EC P-384", 80, 185},
	{"EC P-521", 98, 241},
	{"RSA-2048", 1180, 1230},
	{"RSA-3072", 1750, 1805},
	{"RSA-4096", 2330, 2385},
}

// targetsForKWPLen returns the target types whose plaintext wraps to n
// bytes of AES-KWP.
func targetsForKWPLen(n int) []string {
	var out []string
	for _, r := range plaintextRanges {
		if KWPLen(r.lo) <= n && n <= KWPLen(r.hi) {
			out = append(out, r.name)
		}
	}
	return out
}

// Layouts returns the readings of a ciphertext length under the given KEK
// sizes in bits (all supported sizes when none are given), keeping only
// those whose AES-KWP part fits a supported target type.
func Layouts(ciphertextLen int, kekSizes ...int) []Layout {
	if len(kekSizes) == 0 {
		kekSizes = kekBits
	}
	var out []Layout
	for _, bits := range kekSizes {
		n := ciphertextLen - bits/8
		if n < KWPLen(MinPlaintext) || n%8 != 0 {
			continue
		}
		if t := targetsForKWPLen(n); len(t) > 0 {
			out = append(out, Layout{KEKBits: bits, KWPLen: n, Targets: t})
		}
	}
	return out
}

// Describe tells what can be known about b without a private key. With a
// KEK (kek may be nil), it also checks that the blob's kid is the KEK's
// (when the KEK's kid is known) and that the ciphertext length fits the
// KEK's size and a supported target type; failures are listed in Problems.
func (b *Blob) Describe(kek *KEK) Description {
	d := Description{
		Kid:           b.Kid,
		Generator:     b.Generator,
		Digest:        words.Sum(b.Raw()),
		CiphertextLen: len(b.Ciphertext),
	}
	if kek == nil {
		d.Layouts = Layouts(len(b.Ciphertext))
		return d
	}
	d.KEKChecked = true
	d.KEKFingerprint = kek.Fingerprint()
	switch {
	case kek.Kid == "":
		d.KidMatch = "unknown"
	case kek.Kid == b.Kid:
		d.KidMatch = "match"
	default:
		d.KidMatch = "mismatch"
		d.Problems = append(d.Problems, fmt.Sprintf("the blob's kid %q is not the KEK's kid %q", b.Kid, kek.Kid))
	}
	d.Layouts = Layouts(len(b.Ciphertext), kek.Bits())
	if len(d.Layouts) == 0 {
		n := len(b.Ciphertext) - kek.Size()
		if n < KWPLen(MinPlaintext) {
			d.Problems = append(d.Problems, fmt.Sprintf(
				"the ciphertext (%d bytes) is too short for an RSA-%d KEK: its RSA part alone is %d bytes, and the AES-KWP part at least %d", len(b.Ciphertext), kek.Bits(), kek.Size(), KWPLen(MinPlaintext)))
		} else {
			d.Problems = append(d.Problems, fmt.Sprintf(
				"the ciphertext (%d bytes) does not fit an RSA-%d KEK: that leaves %d bytes of AES-KWP, which no supported target type wraps to", len(b.Ciphertext), kek.Bits(), n))
		}
	}
	return d
}

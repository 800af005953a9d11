package byok

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/keyrite/keyrite/internal/base/words"
)

// Description is what can be told about a blob without the KEK's private
// key. It holds no secret.
//
// What the file alone can show: its kid (which KEK it claims), its
// digest, and what its ciphertext length allows (RSA-OAEP part ‖ AES-KWP
// part, the RSA part exactly as long as the KEK's modulus). With the KEK's
// public key: whether the kid is the KEK's, whether the length has a
// reading with the KEK's modulus size (and whether only that one), and
// whether the would-be RSA-OAEP part is below the modulus, as every RSA
// ciphertext under that key is. What it cannot show: that the blob was
// wrapped under this KEK, or that it holds a valid key of the type its
// length suggests. Only the KEK's private key (the service, on import) can.
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
	// Readings lists every reading of the length alone, whatever the KEK
	// (the same as Layouts without a KEK): with a KEK, the readings under
	// other sizes are what the length cannot rule out.
	Readings []Layout

	// With a KEK (Describe(kek) with kek != nil):
	KEKChecked     bool
	KEKFingerprint words.Fingerprint
	KEKBits        int // the KEK's modulus size in bits; its RSA-OAEP part is KEKBits/8 bytes
	// KidMatch is "match", "mismatch", or "unknown" when the KEK carries
	// no kid (a bare PEM public key without --kid).
	KidMatch string
	// SizeCheck is "ok" when the length reads only with the KEK's size,
	// "ambiguous" when it reads with the KEK's size and with another (the
	// length alone does not tell which KEK the blob was made for), and
	// "mismatch" when it does not read with the KEK's size (a problem).
	SizeCheck string
	// ModulusCheck is "ok" when the would-be RSA-OAEP part (the first
	// KEKBits/8 bytes) is below the KEK's modulus, "failed" when it is not
	// (a problem: no RSA encryption under this KEK gives it), "" when not
	// done (size mismatch).
	ModulusCheck string
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

// Describe tells what can be known about b without a private key (see
// [Description]). With a KEK (kek may be nil), it also checks that the
// blob's kid is the KEK's (when the KEK's kid is known), that the ciphertext
// length has a reading with the KEK's modulus size and a supported target
// type, and that the would-be RSA-OAEP part is below the modulus; failures
// are listed in Problems. Passing these checks does not prove the blob was
// wrapped under kek.
func (b *Blob) Describe(kek *KEK) Description {
	d := Description{
		Kid:           b.Kid,
		Generator:     b.Generator,
		Digest:        words.Sum(b.Raw()),
		CiphertextLen: len(b.Ciphertext),
	}
	d.Readings = Layouts(len(b.Ciphertext))
	if kek == nil {
		d.Layouts = d.Readings
		return d
	}
	d.KEKChecked = true
	d.KEKFingerprint = kek.Fingerprint()
	d.KEKBits = kek.Bits()
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
	var others []string
	for _, l := range d.Readings {
		if l.KEKBits != kek.Bits() {
			others = append(others, fmt.Sprintf("%d bytes (RSA-%d)", l.KEKBits/8, l.KEKBits))
		}
	}
	switch {
	case len(d.Layouts) > 0 && len(others) == 0:
		d.SizeCheck = "ok"
	case len(d.Layouts) > 0:
		d.SizeCheck = "ambiguous"
	default:
		d.SizeCheck = "mismatch"
		want := fmt.Sprintf("the RSA-OAEP part must be %d bytes for this RSA-%d KEK (its modulus size)", kek.Size(), kek.Bits())
		n := len(b.Ciphertext) - kek.Size()
		switch {
		case len(others) > 0:
			d.Problems = append(d.Problems, fmt.Sprintf("%s, but the %d-byte ciphertext reads only as an RSA-OAEP part of %s: the blob was made for a KEK of another size",
				want, len(b.Ciphertext), strings.Join(others, " or ")))
		case n < KWPLen(MinPlaintext):
			d.Problems = append(d.Problems, fmt.Sprintf("%s, but the whole ciphertext is %d bytes, which leaves no room for an AES-KWP part of at least %d bytes",
				want, len(b.Ciphertext), KWPLen(MinPlaintext)))
		default:
			d.Problems = append(d.Problems, fmt.Sprintf("%s, which leaves %d bytes of AES-KWP in the %d-byte ciphertext, a length no supported target type wraps to",
				want, n, len(b.Ciphertext)))
		}
		return d
	}
	// Every RSA ciphertext under this key is below its modulus; bytes that
	// are not cannot have been made with it.
	c := new(big.Int).SetBytes(b.Ciphertext[:kek.Size()])
	if c.Cmp(kek.Public.N) >= 0 {
		d.ModulusCheck = "failed"
		d.Problems = append(d.Problems, fmt.Sprintf("the first %d bytes, the RSA-OAEP part under this RSA-%d KEK, are not below its modulus: no encryption under this KEK gives them, so the blob was not wrapped under it",
			kek.Size(), kek.Bits()))
	} else {
		d.ModulusCheck = "ok"
	}
	return d
}

// CheckCiphertextLen checks that a ciphertext of n bytes is what wrapping a
// target of type info under kek gives: the KEK's modulus size, then an
// AES-KWP part whose length fits a plaintext of that type, by the same rules
// as Layouts (which byok inspect uses): HSMs encode keys in their own valid
// ways, so EC plaintexts range from the minimal RFC 5915 encoding to the full
// one and RSA ones over the usual spread of the CRT integers' lengths. Zero
// padding to a multiple of 8 (SoftHSM 2.6.1) does not change the length.
func CheckCiphertextLen(kek *KEK, info TargetInfo, n int) error {
	for _, l := range Layouts(n, kek.Bits()) {
		if slices.Contains(l.Targets, info.String()) {
			return nil
		}
	}
	return fmt.Errorf("%w: the ciphertext is %d bytes, which does not fit %s under an RSA-%d KEK (a %d-byte RSA part, then an AES-KWP part of the key's size)",
		ErrWrap, n, info, kek.Bits(), kek.Size())
}

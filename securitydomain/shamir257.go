package securitydomain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Shamir secret sharing over GF(257), as the Managed HSM service does it
// (spec §5). This is NOT HashiCorp Vault's scheme (GF(2^8), x byte appended):
// neither shares nor arithmetic carry over.
//
// Each secret byte s is split with its own polynomial
// f(X) = s + a1·X + … + a_{M-1}·X^{M-1} mod 257. Share number i (1-based, in
// certificate order) holds, for every secret byte, the little-endian 16-bit
// word x<<9 | f(x) with x = i: 7 bits of x, 9 bits of y.

const (
	gfPrime  = 257
	maxShare = 126 // x must fit in 7 bits; the service's own limit
)

// ErrShare is returned (wrapped) for malformed or inconsistent share data.
var ErrShare = errors.New("securitydomain: invalid share")

// gfReduce returns v mod 257 for 0 <= v < 2^16+2^8, in constant time,
// using 256 ≡ -1.
func gfReduce(v uint32) uint32 {
	v = (v & 0xff) + gfPrime - (v >> 8 & 0xff) + (v >> 16) // ≡ v, in [1, 513]
	v = (v & 0xff) + gfPrime - (v >> 8)                    // in [255, 512]
	// Now v - 257 is in [-2, 255]; subtract 257 once or twice without branches.
	for range 2 {
		t := v - gfPrime
		mask := uint32(int32(t) >> 31) // all ones if v < 257
		v = (v & mask) | (t &^ mask)
	}
	return v
}

func gfMul(a, b uint32) uint32 { return gfReduce(a * b) }
func gfAdd(a, b uint32) uint32 { return gfReduce(a + b) }
func gfSub(a, b uint32) uint32 { return gfReduce(a + gfPrime - b) }

// gfInv returns a^255 = a^-1 (and 0 for 0) with a fixed sequence of operations.
func gfInv(a uint32) uint32 {
	r := uint32(1)
	for i := 7; i >= 0; i-- { // 255 = 0b11111111
		r = gfMul(r, r)
		r = gfMul(r, a)
	}
	return r
}

// Split splits secret into n shares, any m of which recover it. Share i
// (0-based) has x = i+1 and is 2·len(secret) bytes of little-endian words
// x<<9 | y. Coefficients are uniform in [0, 256]. It is the service side of
// the scheme; keyrite needs it for the emulator and for tests.
func Split(secret []byte, n, m int, rand io.Reader) ([][]byte, error) {
	if m < 2 || m > n {
		return nil, fmt.Errorf("securitydomain: split %d-of-%d: want 2 <= m <= n", m, n)
	}
	if n > maxShare {
		return nil, fmt.Errorf("securitydomain: split into %d shares: at most %d", n, maxShare)
	}
	if len(secret) == 0 {
		return nil, errors.New("securitydomain: split: empty secret")
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, 2*len(secret))
	}
	coef := make([]uint32, m)
	defer clear(coef)
	var rb [2]byte
	for bi, s := range secret {
		coef[0] = uint32(s)
		for k := 1; k < m; k++ {
			// Rejection sampling: 65535 = 255·257, so values below it reduce uniformly.
			for {
				if _, err := io.ReadFull(rand, rb[:]); err != nil {
					return nil, fmt.Errorf("securitydomain: split: reading random coefficients: %w", err)
				}
				if v := binary.LittleEndian.Uint16(rb[:]); v < 65535 {
					coef[k] = uint32(v) % gfPrime
					break
				}
			}
		}
		for i := range n {
			x := uint32(i + 1)
			// Horner: f(x) = (…(a_{m-1}·x + a_{m-2})·x + …)·x + a0.
			y := uint32(0)
			for k := m - 1; k >= 0; k-- {
				y = gfAdd(gfMul(y, x), coef[k])
			}
			binary.LittleEndian.PutUint16(shares[i][2*bi:], uint16(x<<9|y))
		}
	}
	clear(rb[:])
	return shares, nil
}

// ShareX returns the x coordinate of a share, checking that every word
// carries the same non-zero x and a y below 257.
func ShareX(share []byte) (int, error) {
	if len(share) == 0 || len(share)%2 != 0 {
		return 0, fmt.Errorf("%w: %d bytes, want a non-zero even length", ErrShare, len(share))
	}
	x := binary.LittleEndian.Uint16(share) >> 9
	if x == 0 {
		return 0, fmt.Errorf("%w: x coordinate is 0", ErrShare)
	}
	bad := uint16(0)
	for i := 0; i < len(share); i += 2 {
		w := binary.LittleEndian.Uint16(share[i:])
		// Accumulate without branching on the (secret) y values.
		bad |= (w >> 9) ^ x
		y := uint32(w & 0x1ff)
		bad |= uint16((gfPrime - 1 - y) >> 31) // set if y > 256
	}
	if bad != 0 {
		return 0, fmt.Errorf("%w: words disagree on x or hold y > 256", ErrShare)
	}
	return int(x), nil
}

// Combine recovers the secret from shares by Lagrange interpolation at 0.
// Every share must have the same length and its own distinct non-zero x,
// consistent across its words, and y values below 257. It uses all the shares
// given: pass exactly a quorum. A recovered value above 255 means the shares
// do not belong together and is an error.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) < 2 {
		return nil, fmt.Errorf("%w: %d shares given, need at least 2", ErrShare, len(shares))
	}
	if len(shares) > maxShare {
		return nil, fmt.Errorf("%w: %d shares given, at most %d", ErrShare, len(shares), maxShare)
	}
	xs := make([]uint32, len(shares))
	for i, s := range shares {
		if len(s) != len(shares[0]) {
			return nil, fmt.Errorf("%w: share %d is %d bytes, share 1 is %d", ErrShare, i+1, len(s), len(shares[0]))
		}
		x, err := ShareX(s)
		if err != nil {
			return nil, fmt.Errorf("share %d: %w", i+1, err)
		}
		for j := range i {
			if xs[j] == uint32(x) {
				return nil, fmt.Errorf("%w: shares %d and %d both have x = %d", ErrShare, j+1, i+1, x)
			}
		}
		xs[i] = uint32(x)
	}
	// Lagrange basis at 0: l_i = Π_{j≠i} x_j / (x_j − x_i). Public values only.
	l := make([]uint32, len(xs))
	for i := range xs {
		num, den := uint32(1), uint32(1)
		for j := range xs {
			if j != i {
				num = gfMul(num, xs[j])
				den = gfMul(den, gfSub(xs[j], xs[i]))
			}
		}
		l[i] = gfMul(num, gfInv(den))
	}
	out := make([]byte, len(shares[0])/2)
	over := uint32(0)
	for b := range out {
		acc := uint32(0)
		for i, s := range shares {
			y := uint32(binary.LittleEndian.Uint16(s[2*b:]) & 0x1ff)
			acc = gfAdd(acc, gfMul(y, l[i]))
		}
		over |= (255 - acc) >> 31 // set if acc > 255
		out[b] = byte(acc)
	}
	if over != 0 {
		clear(out)
		return nil, fmt.Errorf("%w: interpolation gives a value above 255 (the shares do not belong together)", ErrShare)
	}
	return out, nil
}

package securitydomain

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// DecodeOAEPSHA256 decodes em, the output of a raw RSA private-key operation
// (PKCS#11 CKM_RSA_X_509) with a k-byte modulus, as an RSAES-OAEP encoded
// message with SHA-256, MGF1-SHA-256 and an empty label (RFC 8017 §7.1.2
// step 3). em may be shorter than k if the token dropped leading zero bytes;
// it is left-padded back.
//
// The checks run in constant time and every failure returns the same error,
// ErrDecryption, so that nothing tells which check failed (Manger's attack).
func DecodeOAEPSHA256(em []byte, k int) ([]byte, error) {
	const hLen = sha256.Size
	if k < 2*hLen+2 || len(em) > k {
		return nil, fmt.Errorf("%w: %d-byte RSA output for a %d-byte modulus", ErrDecryption, len(em), k)
	}
	buf := make([]byte, k)
	defer clear(buf)
	copy(buf[k-len(em):], em)

	firstByteIsZero := subtle.ConstantTimeByteEq(buf[0], 0)
	seed := buf[1 : hLen+1]
	db := buf[hLen+1:]
	mgf1XOR(seed, db)
	mgf1XOR(db, seed)

	lHash := sha256.Sum256(nil)
	lHashGood := subtle.ConstantTimeCompare(lHash[:], db[:hLen])

	// DB = lHash' || PS (zeros) || 0x01 || M. Find the 0x01 without branching.
	lookingForIndex, index, invalid := 1, 0, 0
	rest := db[hLen:]
	for i := range rest {
		equals0 := subtle.ConstantTimeByteEq(rest[i], 0)
		equals1 := subtle.ConstantTimeByteEq(rest[i], 1)
		index = subtle.ConstantTimeSelect(lookingForIndex&equals1, i, index)
		lookingForIndex = subtle.ConstantTimeSelect(equals1, 0, lookingForIndex)
		invalid = subtle.ConstantTimeSelect(lookingForIndex&^equals0, 1, invalid)
	}
	if firstByteIsZero&lHashGood&^invalid&^lookingForIndex != 1 {
		return nil, ErrDecryption
	}
	return append([]byte(nil), rest[index+1:]...), nil
}

// mgf1XOR XORs out with MGF1-SHA-256(seed).
func mgf1XOR(out, seed []byte) {
	var counter [4]byte
	var digest [sha256.Size]byte
	done := 0
	for done < len(out) {
		h := sha256.New()
		h.Write(seed)
		h.Write(counter[:])
		h.Sum(digest[:0])
		for i := 0; i < len(digest) && done < len(out); i++ {
			out[done] ^= digest[i]
			done++
		}
		binary.BigEndian.PutUint32(counter[:], binary.BigEndian.Uint32(counter[:])+1)
	}
	clear(digest[:])
}

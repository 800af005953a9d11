package securitydomain

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
)

// KDFName is the only EncData.kdf value: NIST SP 800-108 counter mode.
const KDFName = "sp108_kdf"

// KDF is NIST SP 800-108 key derivation in counter mode with HMAC-SHA-512 as
// the PRF (spec §6). Block i (from 1) is
//
//	HMAC-SHA-512(key, BE32(i) || label || 0x00 || context || BE32(bits))
//
// and the output is the first bits/8 bytes of the blocks. bits must be a
// multiple of 8 in [8, 512]: the service only uses 512 (one block), and its
// code would not give standard output for more.
func KDF(key []byte, label, context string, bits int) ([]byte, error) {
	if bits <= 0 || bits > 512 || bits%8 != 0 {
		return nil, fmt.Errorf("securitydomain: KDF output of %d bits: want a multiple of 8 in [8, 512]", bits)
	}
	m := hmac.New(sha512.New, key)
	var be [4]byte
	binary.BigEndian.PutUint32(be[:], 1)
	m.Write(be[:])
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(context))
	binary.BigEndian.PutUint32(be[:], uint32(bits))
	m.Write(be[:])
	return m.Sum(nil)[:bits/8], nil
}

// dataKey is the 64-byte A256CBC-HS512 key of the EncData entry tag:
// KDF(master, tag, "", 512).
func dataKey(master []byte, tag string) []byte {
	k, err := KDF(master, tag, "", 512)
	if err != nil {
		panic(err) // unreachable: 512 is valid
	}
	return k
}

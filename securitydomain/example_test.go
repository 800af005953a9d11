package securitydomain_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/keyrite/keyrite/securitydomain"
)

// Shares of the service's GF(257) scheme: any 2 of 3 give the secret back.
func ExampleSplit() {
	secret := []byte("a 32-byte master key, for show!!")
	shares, _ := securitydomain.Split(secret, 3, 2, rand.Reader)
	x, _ := securitydomain.ShareX(shares[2])
	got, _ := securitydomain.Combine([][]byte{shares[2], shares[0]})
	fmt.Println(len(shares[0]), x, bytes.Equal(got, secret))
	// Output: 64 3 true
}

// The known answer of the Azure CLI's own KDF self-test.
func ExampleKDF() {
	key := bytes.Repeat([]byte{0x41}, 32)
	out, _ := securitydomain.KDF(key, "label", "context", 256)
	fmt.Println(hex.EncodeToString(out))
	// Output: f0ca51f6308791404bf68b56024ee7c64d6c737716f81d47e1e68b5c4e399575
}

package sdop

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/keyrite/keyrite/securitydomain"
)

// checkBlob reads a restore blob back as the service will, as far as that
// is possible without the exchange private key: it parses strictly and
// re-encodes to the same bytes, it is wrapped to the exchange certificate
// with a key of that certificate's modulus size, and it holds the entries
// made, in order, each with the ciphertext length its plaintext gives
// (A256CBC-HS512: the plaintext padded to whole 16-byte blocks).
func checkBlob(blob []byte, exch *x509.Certificate, payloads []securitydomain.PayloadInfo) error {
	b, err := securitydomain.ParseRestoreBlob(blob)
	if err != nil {
		return &marked{kind: ErrReadBack, err: err}
	}
	if !bytes.Equal(b.Marshal(), blob) {
		return markf(ErrReadBack, "the restore blob does not re-encode to the same bytes")
	}
	if b.X5T256 != securitydomain.X5T256(exch) {
		return markf(ErrReadBack, "the restore blob is wrapped to %s, not the exchange key %s", b.X5T256, securitydomain.X5T256(exch))
	}
	pub, ok := exch.PublicKey.(*rsa.PublicKey)
	if !ok {
		return markf(ErrReadBack, "the exchange key is not an RSA key")
	}
	if n, want := jweLen(b.EncKey, 1), pub.Size(); n != want {
		return markf(ErrReadBack, "WrappedKey.enc_key holds a %d-byte RSA ciphertext, want %d", n, want)
	}
	if len(b.Data) != len(payloads) {
		return markf(ErrReadBack, "the restore blob holds %d entries, want %d", len(b.Data), len(payloads))
	}
	for i, e := range b.Data {
		p := payloads[i]
		if e.Tag != p.Tag {
			return markf(ErrReadBack, "EncData.data[%d] is %q, want %q", i, e.Tag, p.Tag)
		}
		if n, want := jweLen(e.CompactJWE, 3), (p.Size/16+1)*16; n != want {
			return markf(ErrReadBack, "EncData.data[%d] (tag %q) has %d bytes of ciphertext for %d bytes, want %d", i, e.Tag, n, p.Size, want)
		}
	}
	return nil
}

// jweLen is the decoded length of part i of a compact JWE (-1 if absent).
func jweLen(compact string, i int) int {
	parts := strings.Split(compact, ".")
	if i >= len(parts) {
		return -1
	}
	return base64.RawURLEncoding.DecodedLen(len(parts[i]))
}

// sameBlob compares a file read back with what was written.
func sameBlob(got, want []byte) error {
	if !bytes.Equal(got, want) {
		return errors.New("its content differs from what was written")
	}
	return nil
}

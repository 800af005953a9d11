package emulator

import (
	"crypto/rsa"
	"errors"
	"strings"

	"github.com/keyrite/keyrite/byok"
)

// parseBYOK reads a .byok file with the byok package's strict reader and
// returns the KEK identifier it names and its ciphertext.
func parseBYOK(data []byte) (kid string, ciphertext []byte, perr *badParam) {
	b, err := byok.ParseBlob(data)
	if err != nil {
		return "", nil, &badParam{msg: "The BYOK blob is not valid: " + trimPkg(err), inner: "InvalidBYOKBlob"}
	}
	return b.Kid, b.Ciphertext, nil
}

// unwrapBYOK is what the service does with the KEK's private key.
func unwrapBYOK(kek *rsa.PrivateKey, ct []byte) ([]byte, error) {
	pt, err := byok.Unwrap(kek, ct)
	if err != nil {
		return nil, errors.New(trimPkg(err))
	}
	return pt, nil
}

// trimPkg drops the Go package prefixes ("byok: ") from an error message
// meant for a service-style response.
func trimPkg(err error) string {
	s := err.Error()
	for _, p := range []string{"byok: ", "securitydomain: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}

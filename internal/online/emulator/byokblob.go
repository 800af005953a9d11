package emulator

import (
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/byok"
)

// The emulator's error bodies are worded as the service words them. A
// message is chosen from what the error is (errors.Is and errors.As on the
// library's sentinels and types), never by editing the library's text;
// where the library says more precisely what is wrong, its error follows in
// parentheses as it is, package prefix included (see because).

// parseBYOK reads a .byok file with the byok package's strict reader and
// returns the KEK identifier it names and its ciphertext.
func parseBYOK(data []byte) (kid string, ciphertext []byte, perr *badParam) {
	b, err := byok.ParseBlob(data)
	if err != nil {
		msg := "The BYOK blob is not valid"
		if errors.Is(err, byok.ErrKid) {
			msg = "The BYOK blob is not valid: its header.kid is not a key identifier"
		}
		return "", nil, &badParam{msg: because(msg, err), inner: "InvalidBYOKBlob"}
	}
	return b.Kid, b.Ciphertext, nil
}

// unwrapBYOK is what the service does with the KEK's private key; kid is
// the KEK's identifier, for the message.
func unwrapBYOK(kek *rsa.PrivateKey, kid string, ct []byte) ([]byte, *badParam) {
	pt, err := byok.Unwrap(kek, ct)
	if err != nil {
		return nil, &badParam{msg: because(fmt.Sprintf("The BYOK blob does not unwrap with key exchange key %s", kid), err), inner: "BYOKUnwrapFailed"}
	}
	return pt, nil
}

// because is msg followed by what err says, unchanged, in parentheses.
func because(msg string, err error) string {
	return fmt.Sprintf("%s (%v)", msg, err)
}

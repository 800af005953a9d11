package ceremony_test

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

func sha256sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

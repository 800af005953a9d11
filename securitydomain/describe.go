package securitydomain

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// describeStart says what kind of content a file that is not what was
// expected holds, without quoting it: the wrong file may be a key, a PIN or
// a share, and its bytes must not reach an error. Only a PEM block's type
// line (never its body) is named.
func describeStart(b []byte) string {
	if block, _ := pem.Decode(b); block != nil {
		t := block.Type
		if len(t) > 40 {
			t = t[:40] + "..."
		}
		return fmt.Sprintf("a PEM %q block", t)
	}
	if bytes.HasPrefix(b, []byte("-----BEGIN ")) {
		return "a malformed PEM block"
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("%d bytes of binary data", len(b))
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return fmt.Sprintf("%d bytes of binary data", len(b))
		}
	}
	return fmt.Sprintf("%d bytes of other text", len(b))
}

package emulator

import (
	"encoding/asn1"
	"fmt"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/securitydomain"
)

// TestMessagesFromStructure: the error bodies' messages are chosen from
// what an error is (sentinels, typed errors' fields), with a library's own
// error quoted whole after them: no package prefix is cut out of a text.
func TestMessagesFromStructure(t *testing.T) {
	testKeys(t)
	var v map[string]any
	for body, want := range map[string]string{
		``:        "no JSON value: the body is empty",
		`{"a":`:   "truncated JSON",
		`{x}`:     "not valid JSON at byte 2: invalid character 'x' looking for beginning of object key string",
		`{} junk`: "data after the JSON value",
	} {
		if err := strictUnmarshal([]byte(body), &v); err == nil || err.Error() != want {
			t.Errorf("%q: %v; want %q", body, err, want)
		}
	}
	var raw asn1.RawValue
	_, err := asn1.Unmarshal([]byte{0x30, 0x05, 0x02}, &raw)
	if got := asn1Msg(err); got == "" || strings.HasPrefix(got, "asn1:") || !strings.Contains(err.Error(), got) {
		t.Errorf("asn1Msg(%v) = %q", err, got)
	}

	_, _, perr := parseBYOK([]byte("not a byok file"))
	if perr == nil || perr.inner != "InvalidBYOKBlob" || !strings.HasPrefix(perr.msg, "The BYOK blob is not valid (byok: invalid .byok file: not a JSON object") {
		t.Errorf("parseBYOK: %+v", perr)
	}
	const kid = "https://demo.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef"
	_, perr = unwrapBYOK(rsa2048, kid, make([]byte, 256+40))
	if perr == nil || perr.inner != "BYOKUnwrapFailed" || !strings.HasPrefix(perr.msg, "The BYOK blob does not unwrap with key exchange key "+kid+" (byok: unwrap failed: ") {
		t.Errorf("unwrapBYOK: %+v", perr)
	}

	blobX5T, hsmX5T := strings.Repeat("A", 43), strings.Repeat("B", 43)
	for err, want := range map[error]string{
		&otherExchangeKey{blob: blobX5T, hsm: hsmX5T}:                      "The restore blob is wrapped to certificate " + blobX5T + ", not to this HSM's exchange certificate " + hsmX5T,
		fmt.Errorf("%w: the file is empty", securitydomain.ErrInvalidBlob): "The restore blob is not valid (securitydomain: invalid restore blob: the file is empty)",
		securitydomain.ErrDecryption:                                       "The restore blob could not be opened with this HSM's exchange key (securitydomain: RSA-OAEP decryption failed)",
	} {
		if got := restoreBlobMessage(err); got != want {
			t.Errorf("restoreBlobMessage(%v) = %q; want %q", err, got, want)
		}
	}
	if _, err := openRestoreBlob([]byte("{}"), rsa2048, nil); err == nil || restoreBlobMessage(err) == "" {
		t.Errorf("openRestoreBlob({}): %v", err)
	}
}

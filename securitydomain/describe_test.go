package securitydomain

import (
	"bytes"
	"strings"
	"testing"
)

// TestWrongFileNotQuoted: a key, PIN or share given as the security domain
// or the exchange key is described, never quoted, in the error.
func TestWrongFileNotQuoted(t *testing.T) {
	secretHex := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	for _, c := range []struct {
		data []byte
		want string
	}{
		{[]byte(secretHex + "\n"), "64 bytes of other text"},
		{bytes.Repeat([]byte{0xc3, 0x28, 0x01, 0xfe}, 8), "32 bytes of binary data"},
		{[]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIP7Tv2bDlVMiNlMH3W0yeVZQbF3hp5SgE2lFhhXlKJV2\n-----END PRIVATE KEY-----\n"), `a PEM "PRIVATE KEY" block`},
	} {
		_, err := ParseSD(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSD: %v, want it to say %q", err, c.want)
		}
		_, xerr := ParseExchangeKey(c.data)
		for _, e := range []error{err, xerr} {
			if e == nil {
				t.Errorf("accepted %q", c.data)
				continue
			}
			for _, leak := range []string{"0011223344", "MC4CAQAw", "\\xc3(", "\\x01\\xfe"} {
				if strings.Contains(e.Error(), leak) {
					t.Errorf("error quotes the file's content: %v", e)
				}
			}
		}
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
)

// TestHSMListShow: text from a token cannot break the table's columns or
// write to the terminal.
func TestHSMListShow(t *testing.T) {
	for in, want := range map[string]string{
		"app-key":        "app-key",
		"":               `""`,
		"two words":      `"two words"`,
		"evil\x1b[2Jkey": `"evil\x1b[2Jkey"`,
		"tab\there":      `"tab\there"`,
		"bidi\u202ekey":  `"bidi\u202ekey"`,
	} {
		if got := show(in); got != want {
			t.Errorf("show(%q) = %s, want %s", in, got, want)
		}
	}
	if dash("") != "-" || dash("SoftHSM project") != "SoftHSM project" || dash("a\nb") != `"a\nb"` {
		t.Errorf("dash: %q %q %q", dash(""), dash("SoftHSM project"), dash("a\nb"))
	}
	var b bytes.Buffer
	objs := []hsm.ObjectInfo{
		{Label: "line\nbreak", ID: "01", ClassName: "secret-key", Class: 4, KeyType: 0x1f, Bits: 256, Token: true, Duplicates: 1, URI: "pkcs11:object=line%0Abreak"},
		{Label: "pub", ClassName: "public-key", Class: 2, KeyType: 0, Bits: 2048, Token: true, URI: "pkcs11:object=pub"},
	}
	if err := printObjects(&b, objs, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Count(out, "\n") != 4 || !strings.Contains(out, `"line\nbreak"  01`) || !strings.Contains(out, "non-extractable,AMBIGUOUS") ||
		!strings.Contains(out, "public-key  RSA 2048  -  ") {
		t.Errorf("table:\n%s", out)
	}
}

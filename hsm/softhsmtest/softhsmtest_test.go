package softhsmtest

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
)

func TestNewTokenAndWrite(t *testing.T) {
	tok := New(t, "vendor")
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	tok.WritePrivateKey(t, k, Options{Label: "app-key", ID: "01", Extractable: true, Sensitive: true})
	aes := make([]byte, 32)
	rand.Read(aes)
	tok.WriteSecretKey(t, aes, Options{Label: "aes-key", ID: "02", Extractable: true})
	out := tok.Tool(t, "--list-objects")
	if !strings.Contains(out, "app-key") || !strings.Contains(out, "aes-key") {
		t.Fatalf("objects not listed:\n%s", out)
	}
}

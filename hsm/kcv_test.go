package hsm_test

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/miekg/pkcs11"
)

// TestAESCheckBlock: the token's AES-ECB of the zero block under a known
// key equals crypto/aes's; a key without CKA_ENCRYPT is refused before any
// C_EncryptInit and keeps its attributes.
func TestAESCheckBlock(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	keys := map[string][]byte{"aes128": make([]byte, 16), "aes192": make([]byte, 24), "aes256": make([]byte, 32)}
	id := 1
	for label, k := range keys {
		rand.Read(k)
		tok.WriteSecretKey(t, k, softhsmtest.Options{Label: label, ID: string([]byte{'0', byte('0' + id)}), Extractable: true, Sensitive: true})
		id++
	}
	s := open(t, tok)
	for label, k := range keys {
		u, _ := hsm.ParseURI(tok.URI(label))
		obj, err := s.FindURI(u)
		if err != nil {
			t.Fatal(err)
		}
		// The key as pkcs11-tool wrote it allows encryption.
		got, err := s.P11().GetAttributeValue(s.Handle(), obj.Handle, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, nil)})
		if err != nil || len(got) != 1 || !bytes.Equal(got[0].Value, []byte{1}) {
			t.Fatalf("%s: CKA_ENCRYPT = %v, %v; the test needs a key that allows encryption", label, got, err)
		}
		kcv, err := s.AESCheckBlock(obj, 3)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		c, _ := aes.NewCipher(k)
		want := make([]byte, 16)
		c.Encrypt(want, want)
		if !bytes.Equal(kcv, want[:3]) {
			t.Errorf("%s: the token's check value %x; crypto/aes gives %x", label, kcv, want[:3])
		}
		if full, err := s.AESCheckBlock(obj, 16); err != nil || !bytes.Equal(full, want) {
			t.Errorf("%s: 16 bytes: %x, %v", label, full, err)
		}
	}

	// A session key with CKA_ENCRYPT false (hsm's template sets it so).
	h, err := s.ImportSessionAES(make([]byte, 32), hsm.SecretKeyOptions{Label: "no-encrypt", Extractable: true, Sensitive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy(h)
	obj, err := s.Object(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AESCheckBlock(obj, 3); !errors.Is(err, hsm.ErrEncryptNotAllowed) {
		t.Fatalf("key without CKA_ENCRYPT: %v", err)
	}
	got, err := s.P11().GetAttributeValue(s.Handle(), h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, nil)})
	if err != nil || !bytes.Equal(got[0].Value, []byte{0}) {
		t.Errorf("CKA_ENCRYPT after the refusal: %v, %v", got, err)
	}
	if _, err := s.AESCheckBlock(obj, 17); err == nil {
		t.Error("17 bytes accepted")
	}
}

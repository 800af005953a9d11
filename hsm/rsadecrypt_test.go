package hsm_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/miekg/pkcs11"
)

// TestRSAKeyOnToken generates a custodian key pair on SoftHSM, signs its
// certificate on the token, stores and reads the certificate back, and
// decrypts OAEP-SHA-256: SoftHSM 2.6.1 refuses CKM_RSA_PKCS_OAEP with SHA-256
// (ErrUnsupported), and the raw path, decoded on the host, gives the
// plaintext back. The software side (crypto/rsa) is the independent check.
func TestRSAKeyOnToken(t *testing.T) {
	tok := softhsmtest.New(t, "custodian1")
	s := open(t, tok)
	k, err := s.GenerateRSAKeyPair(hsm.RSAKeyPairOptions{Bits: 2048, Label: "sd-wrap", ID: []byte{0x51}, Sign: true})
	if err != nil {
		t.Fatal(err)
	}
	o := k.Object()
	if o.Extractable || !o.Sensitive || !o.NeverExtractable || !o.Token || !o.Private {
		t.Errorf("private key attributes: %+v", o)
	}
	if _, err := s.GenerateRSAKeyPair(hsm.RSAKeyPairOptions{Bits: 2048, Label: "sd-wrap", ID: []byte{0x52}}); err == nil {
		t.Error("a second key with the same label was generated")
	}
	cert, err := securitydomain.SelfSignedCertificate(k, "custodian 1", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.DisableSign(); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	if _, err := k.Sign(rand.Reader, digest[:], crypto.SHA256); err == nil {
		t.Error("the key still signs after DisableSign")
	}
	if _, err := s.StoreCertificate(cert, "sd-wrap", []byte{0x51}); err != nil {
		t.Fatal(err)
	}
	back, obj, err := s.FindCertificate("certificate", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{0x51})})
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(cert) || obj.Label != "sd-wrap" {
		t.Fatal("certificate read back differs")
	}

	msg := bytes.Repeat([]byte{0xa5}, 64)
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, cert.PublicKey.(*rsa.PublicKey), msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.DecryptOAEPSHA256(ct)
	if err == nil {
		t.Log("this token accepts CKM_RSA_PKCS_OAEP with SHA-256")
	} else if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("OAEP-SHA-256: %v, want an error wrapping errors.ErrUnsupported", err)
	}
	raw, err := k.DecryptRaw(ct)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := securitydomain.DecodeOAEPSHA256(raw, 256)
	if err != nil || !bytes.Equal(pt, msg) {
		t.Fatalf("raw decrypt + host OAEP decode: %x, %v", pt, err)
	}
	d := securitydomain.NewTokenDecrypter(k)
	pt, err = d.DecryptOAEPSHA256(ct)
	if err != nil || !bytes.Equal(pt, msg) {
		t.Fatalf("TokenDecrypter: %v", err)
	}
	t.Logf("mechanism: %s", d.Mechanism())
	// Independent check of the raw operation: raw^e mod n == ct.
	pub := cert.PublicKey.(*rsa.PublicKey)
	m := new(big.Int).SetBytes(raw)
	if new(big.Int).Exp(m, big.NewInt(int64(pub.E)), pub.N).Cmp(new(big.Int).SetBytes(ct)) != 0 {
		t.Fatal("raw RSA output does not re-encrypt to the ciphertext")
	}
	if _, err := k.DecryptRaw(ct[1:]); err == nil {
		t.Error("short ciphertext accepted")
	}
}

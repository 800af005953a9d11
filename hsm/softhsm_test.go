package hsm_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/miekg/pkcs11"
)

// open loads the token's module, finds the token by label and logs in.
func open(t *testing.T, tok *softhsmtest.Token) *hsm.Session { return tok.Session(t) }

func TestTokenInfoAndObjects(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tok.WritePrivateKey(t, ec, softhsmtest.Options{Label: "ec-key", ID: "01", Extractable: true, Sensitive: true})
	tok.WriteSecretKey(t, make([]byte, 24), softhsmtest.Options{Label: "aes-key", ID: "02"})
	s := open(t, tok)

	ti := s.Token()
	if ti.Label != "vendor" || ti.Manufacturer != "SoftHSM project" || ti.Model != "SoftHSM v2" || ti.Serial == "" || ti.Firmware == "" {
		t.Errorf("token info = %+v", ti)
	}
	if s.Module.SHA256 == "" || len(s.Module.SHA256) != 64 {
		t.Errorf("module SHA-256 = %q", s.Module.SHA256)
	}
	if !strings.Contains(ti.Describe(), "SoftHSM") {
		t.Errorf("Describe = %q", ti.Describe())
	}

	u, err := hsm.ParseURI(tok.URI("ec-key"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.FindURI(u)
	if err != nil {
		t.Fatal(err)
	}
	if o.Class != pkcs11.CKO_PRIVATE_KEY || o.KeyType != pkcs11.CKK_EC || o.Curve != "P-384" || o.Bits != 384 ||
		!o.Extractable || !o.Sensitive || o.NeverExtractable || o.WrapWithTrusted || !o.Token || o.Label != "ec-key" {
		t.Errorf("ec-key = %+v", o)
	}
	o, err = s.FindOne(`object "aes-key"`, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "aes-key")})
	if err != nil {
		t.Fatal(err)
	}
	if o.KeyType != pkcs11.CKK_AES || o.Bits != 192 || o.ValueLen != 24 || o.Extractable {
		t.Errorf("aes-key = %+v (%s)", o, o.TypeString())
	}
}

func TestFindErrors(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok.WritePrivateKey(t, k, softhsmtest.Options{Label: "dup", ID: "01"})
	tok.WriteSecretKey(t, make([]byte, 32), softhsmtest.Options{Label: "dup", ID: "02"})
	s := open(t, tok)

	_, err := s.FindURI(&hsm.URI{Object: "dup"})
	if !errors.Is(err, hsm.ErrAmbiguous) {
		t.Fatalf("several matches: err = %v", err)
	}
	for _, want := range []string{`label "dup", id 01, private-key, EC P-256`, `label "dup", id 02, secret-key, AES 256`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not list %q", err, want)
		}
	}
	if _, err := s.FindURI(&hsm.URI{Object: "dup", Type: "secret-key"}); err != nil {
		t.Errorf("narrowed by type: %v", err)
	}
	if _, err := s.FindURI(&hsm.URI{Object: "nope"}); !errors.Is(err, hsm.ErrObjectNotFound) {
		t.Errorf("no match: err = %v", err)
	}
	if _, err := s.Module.FindToken(hsm.TokenFilter{Label: "other"}); !errors.Is(err, hsm.ErrTokenNotFound) || !strings.Contains(err.Error(), `tokens present: "vendor"`) {
		t.Errorf("unknown label: err = %v", err)
	}
}

func TestWrongPIN(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	m, err := hsm.Load(tok.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	slot, err := m.FindToken(hsm.TokenFilter{Label: "vendor"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.OpenSession(slot)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pin := []byte("0000")
	err = s.Login(pin)
	if !errors.Is(err, hsm.ErrPINIncorrect) || !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Fatalf("wrong PIN: err = %v", err)
	}
	if string(pin) != "\x00\x00\x00\x00" {
		t.Errorf("PIN buffer not wiped")
	}
	var he *hsm.Error
	if !errors.As(err, &he) || he.Code != pkcs11.CKR_PIN_INCORRECT {
		t.Errorf("not an *hsm.Error with the code: %#v", err)
	}
}

func TestWrongModulePath(t *testing.T) {
	for _, p := range []string{"/nonexistent/libnope.so", "/etc/passwd", "/tmp", ""} {
		_, err := hsm.Load(p)
		if !errors.Is(err, hsm.ErrModuleLoad) || !strings.Contains(err.Error(), "cannot load PKCS#11 module") {
			t.Errorf("Load(%q): err = %v", p, err)
		}
	}
}

func TestNotExtractable(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	tok.WriteSecretKey(t, make([]byte, 32), softhsmtest.Options{Label: "locked", Sensitive: true})
	s := open(t, tok)
	o, err := s.FindURI(&hsm.URI{Object: "locked"})
	if err != nil {
		t.Fatal(err)
	}
	kek, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kh, err := s.ImportRSAPublicKey(&kek.PublicKey, "kek")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy(kh)
	aes, err := s.GenerateSessionAES(256, hsm.SecretKeyOptions{Extractable: true, Wrap: true, Sensitive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy(aes)
	_, err = s.WrapKey(pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil), aes, o.Handle, `"locked"`)
	if !errors.Is(err, hsm.ErrNotExtractable) || !strings.Contains(err.Error(), "CKA_EXTRACTABLE=true") {
		t.Fatalf("err = %v", err)
	}
	// The ephemeral AES key can itself be wrapped under the KEK with OAEP.
	ct, err := s.WrapKey(hsm.OAEPSHA1(), kh, aes, "ephemeral")
	if err != nil {
		t.Fatal(err)
	}
	pt, err := rsa.DecryptOAEP(sha1New(), nil, kek, ct, nil)
	if err != nil || len(pt) != 32 {
		t.Fatalf("OAEP unwrap: %d bytes, %v", len(pt), err)
	}
	if ok, err := s.Supports(pkcs11.CKM_RSA_AES_KEY_WRAP, pkcs11.CKF_WRAP); err != nil || ok {
		t.Errorf("SoftHSM 2.6.1 lists CKM_RSA_AES_KEY_WRAP? %v %v", ok, err)
	}
	if ok, err := s.Supports(pkcs11.CKM_AES_KEY_WRAP_PAD, pkcs11.CKF_WRAP); err != nil || !ok {
		t.Errorf("CKM_AES_KEY_WRAP_PAD: %v %v", ok, err)
	}
}

// TestFindAll: the one-pass lookup agrees with C_FindObjects.
func TestFindAll(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	for i, l := range []string{"a", "b", "c", "d", "e"} {
		tok.WriteSecretKey(t, make([]byte, 16+8*(i%3)), softhsmtest.Options{Label: l, ID: fmt.Sprintf("%02x", i+1)})
	}
	tok.WriteSecretKey(t, make([]byte, 32), softhsmtest.Options{Label: "e", ID: "09"})
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok.WritePrivateKey(t, k, softhsmtest.Options{Label: "ec", ID: "0a"})
	tok.WritePublicKey(t, &k.PublicKey, softhsmtest.Options{Label: "ec", ID: "0a"})
	s := open(t, tok)

	uris := []*hsm.URI{{Object: "a"}, {Object: "b"}, {ID: []byte{3}}, {Object: "d", ID: []byte{4}}, {Object: "ec", Type: "private"}, {Object: "e", ID: []byte{9}}}
	objs, err := s.FindAll(uris)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range uris {
		one, err := s.FindURI(u)
		if err != nil {
			t.Fatal(err)
		}
		if objs[i].Handle != one.Handle || objs[i].Summary() != one.Summary() {
			t.Errorf("%s: FindAll %s, FindURI %s", u, objs[i].Summary(), one.Summary())
		}
	}
	if objs[4].Class != pkcs11.CKO_PRIVATE_KEY || objs[4].Curve != "P-256" {
		t.Errorf("ec = %s", objs[4].Summary())
	}
	_, err = s.FindAll(append(uris[:4:4], &hsm.URI{Object: "e"}))
	if !errors.Is(err, hsm.ErrAmbiguous) || !strings.Contains(err.Error(), `label "e", id 05, secret-key, AES 192; label "e", id 09, secret-key, AES 256`) {
		t.Errorf("ambiguous: %v", err)
	}
	_, err = s.FindAll(append(uris[:4:4], &hsm.URI{Object: "zz"}))
	if !errors.Is(err, hsm.ErrObjectNotFound) {
		t.Errorf("missing: %v", err)
	}
	_, err = s.FindAll(append(uris[:4:4], &hsm.URI{Object: "ec"}))
	if !errors.Is(err, hsm.ErrAmbiguous) || !strings.Contains(err.Error(), "public-key, EC P-256") {
		t.Errorf("private and public: %v", err)
	}
}

// TestWrapRefusalsOnToken: the codes SoftHSM gives for a wrap-with-trusted
// target and for a wrapping key without CKA_WRAP map to their sentinels.
func TestWrapRefusalsOnToken(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	s := open(t, tok)
	target, err := s.P11().CreateObject(s.Handle(), []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP_WITH_TRUSTED, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "trusted-only"),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, make([]byte, 32)),
	})
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Object(target)
	if err != nil || !o.WrapWithTrusted || !o.Extractable {
		t.Fatalf("%+v %v", o, err)
	}
	aes, err := s.GenerateSessionAES(256, hsm.SecretKeyOptions{Extractable: true, Wrap: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.WrapKey(pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil), aes, target, `"trusted-only"`)
	if !errors.Is(err, hsm.ErrKeyNotWrappable) || !strings.Contains(err.Error(), "only the security officer can mark a key trusted") {
		t.Errorf("wrap-with-trusted: %v", err)
	}
	noWrap, err := s.GenerateSessionAES(256, hsm.SecretKeyOptions{Extractable: true})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.GenerateSessionAES(128, hsm.SecretKeyOptions{Extractable: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.WrapKey(pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil), noWrap, other, "")
	if !errors.Is(err, hsm.ErrKeyFunctionNotPermitted) || !strings.Contains(err.Error(), "CKA_WRAP=true") {
		t.Errorf("wrapping key without CKA_WRAP: %v", err)
	}
}

// TestBadConfiguration: SoftHSM with a configuration it cannot read fails
// C_Initialize with CKR_GENERAL_ERROR, which says to check the configuration.
func TestBadConfiguration(t *testing.T) {
	mod := softhsmtest.Module(t)
	t.Setenv("SOFTHSM2_CONF", t.TempDir()+"/missing.conf")
	m, err := hsm.Load(mod)
	if err == nil {
		m.Close()
		t.Fatal("Load succeeded with a missing configuration")
	}
	if !errors.Is(err, hsm.ErrGeneral) || !strings.Contains(err.Error(), "cannot initialise PKCS#11 module") || !strings.Contains(err.Error(), "SOFTHSM2_CONF") {
		t.Errorf("err = %v", err)
	}
	// A later Load with a good configuration works: the failed one left nothing behind.
	tok := softhsmtest.New(t, "vendor")
	open(t, tok)
}

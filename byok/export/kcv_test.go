package export_test

import (
	"crypto/aes"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/transcripts"
)

// ecbKCV is the key check value computed here, with crypto/aes directly.
func ecbKCV(t *testing.T, key []byte) string {
	t.Helper()
	c, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	c.Encrypt(b, b)
	return hex.EncodeToString(b[:3])
}

// exportParams returns the params of the ceremony's byok.export events,
// in order.
func exportParams(t *testing.T, dir string) []map[string]string {
	t.Helper()
	rep, err := transcripts.Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, e := range rep.Events {
		if e.Step != "byok.export" {
			continue
		}
		m := map[string]string{}
		for _, p := range e.Params {
			m[p.Name] = p.Value
		}
		out = append(out, m)
	}
	return out
}

func TestKCVSoftFile(t *testing.T) {
	dir := t.TempDir()
	cer := filepath.Join(dir, "cer")
	src := vectors + "/target-aes256.bin"
	res, err := export.Run(export.Request{KEK: kek(t, mhsmKid), Keys: []string{src}, Out: filepath.Join(dir, "k.byok"), CeremonyDir: cer})
	if err != nil {
		t.Fatal(err)
	}
	want := ecbKCV(t, read(t, src))
	r := res.Keys[0]
	if r.KCV != want || r.KCVNote != "" {
		t.Fatalf("KCV %q (note %q); crypto/aes gives %q", r.KCV, r.KCVNote, want)
	}
	ps := exportParams(t, cer)
	if len(ps) != 1 || ps[0]["kcv"] != want {
		t.Fatalf("recorded params %v; want kcv %s", ps, want)
	}
	if _, ok := ps[0]["kcv_note"]; ok {
		t.Error("kcv_note recorded next to a kcv")
	}

	// RSA and EC keys have none.
	res, err = export.Run(export.Request{KEK: kek(t, mhsmKid), Keys: []string{vectors + "/target-rsa2048.pem"}, Out: filepath.Join(dir, "r.byok")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys[0].KCV != "" || res.Keys[0].KCVNote != "" {
		t.Errorf("RSA key with KCV %q / %q", res.Keys[0].KCV, res.Keys[0].KCVNote)
	}
}

// TestKCVSoftHSM: a known AES key loaded on a SoftHSM token gets, from the
// HSM, the KCV computed here in software; a token key whose CKA_ENCRYPT is
// false is exported with "not available" and keeps its attribute.
func TestKCVSoftHSM(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	key := make([]byte, 24)
	rand.Read(key)
	tok.WriteSecretKey(t, key, softhsmtest.Options{Label: "app-key", ID: "01", Extractable: true, Sensitive: true})

	// A token key without CKA_ENCRYPT, made through the hsm layer.
	s := tok.Session(t)
	_, err := s.P11().CreateObject(s.Handle(), []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "wrap-only"),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{2}),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, make([]byte, 32)),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // the export opens its own session

	dir := t.TempDir()
	cer := filepath.Join(dir, "cer")
	res, err := export.Run(export.Request{KEK: kek(t, mhsmKid), Keys: []string{tok.URI("app-key"), tok.URI("wrap-only")},
		OutDir: filepath.Join(dir, "out"), CeremonyDir: cer, PIN: func(string) ([]byte, error) { return []byte(tok.PIN), nil }})
	if err != nil {
		t.Fatal(err)
	}
	want := ecbKCV(t, key)
	if r := res.Keys[0]; r.KCV != want || r.KCVNote != "" {
		t.Errorf("token key: KCV %q (note %q); crypto/aes gives %q", r.KCV, r.KCVNote, want)
	}
	if r := res.Keys[1]; r.KCV != "" || r.KCVNote != "not available: the key does not allow CKA_ENCRYPT" {
		t.Errorf("key without CKA_ENCRYPT: KCV %q, note %q", r.KCV, r.KCVNote)
	}
	ps := exportParams(t, cer)
	if len(ps) != 2 || ps[0]["kcv"] != want || ps[1]["kcv"] != "" || ps[1]["kcv_note"] != "not available: the key does not allow CKA_ENCRYPT" {
		t.Errorf("recorded params %v", ps)
	}

	// The export left CKA_ENCRYPT false.
	s = tok.Session(t)
	u, _ := hsm.ParseURI(tok.URI("wrap-only"))
	obj, err := s.FindURI(u)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.P11().GetAttributeValue(s.Handle(), obj.Handle, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, nil)})
	if err != nil || len(got) != 1 || len(got[0].Value) != 1 || got[0].Value[0] != 0 {
		t.Errorf("CKA_ENCRYPT after the export: %v, %v", got, err)
	}
}

package export_test

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/hsmfake"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/miekg/pkcs11"
)

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectors, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testKEK(t testing.TB, bits string) (*byok.KEK, *rsa.PrivateKey) {
	t.Helper()
	kek, err := byok.ParseKEK(readVector(t, "kek-rsa"+bits+".pem"), mhsmKid)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(readVector(t, "kek-rsa"+bits+".key.pem"))
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return kek, priv.(*rsa.PrivateKey)
}

// loadTarget puts a testvectors target on the token as an extractable,
// sensitive token object labelled label, and returns its canonical plaintext
// (the PEM block bytes, or the raw AES key).
func loadTarget(t testing.TB, tok *softhsmtest.Token, file, label string) []byte {
	t.Helper()
	data := readVector(t, file)
	if strings.HasSuffix(file, ".bin") {
		tok.WriteSecretKey(t, data, softhsmtest.Options{Label: label, ID: "01", Extractable: true, Sensitive: true})
		return data
	}
	block, _ := pem.Decode(data)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tok.WritePrivateKey(t, key, softhsmtest.Options{Label: label, ID: "01", Extractable: true, Sensitive: true})
	return block.Bytes
}

func session(t testing.TB, tok *softhsmtest.Token, p hsm.PKCS11) *hsm.Session {
	return tok.SessionWith(t, p)
}

func find(t testing.TB, s *hsm.Session, label string) *hsm.Object {
	t.Helper()
	o, err := s.FindURI(&hsm.URI{Object: label})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// independentUnwrap undoes RSA-OAEP-SHA1 || RFC 5649 with crypto/rsa and an
// RFC 5649 unwrap written here from crypto/aes, not with byok.Unwrap.
func independentUnwrap(t testing.TB, priv *rsa.PrivateKey, ct []byte) []byte {
	t.Helper()
	k := priv.Size()
	key, err := rsa.DecryptOAEP(sha1.New(), nil, priv, ct[:k], nil)
	if err != nil {
		t.Fatalf("RSA-OAEP part: %v", err)
	}
	if len(key) != 32 {
		t.Fatalf("ephemeral key is %d bytes", len(key))
	}
	c, _ := aes.NewCipher(key)
	w := ct[k:]
	n := len(w)/8 - 1
	if len(w)%8 != 0 || n < 1 {
		t.Fatalf("KWP part is %d bytes", len(w))
	}
	a := binary.BigEndian.Uint64(w[:8])
	r := make([]byte, 8*n)
	copy(r, w[8:])
	var buf [16]byte
	if n == 1 {
		c.Decrypt(buf[:], w)
		a = binary.BigEndian.Uint64(buf[:8])
		copy(r, buf[8:])
	} else {
		for j := 5; j >= 0; j-- {
			for i := n; i >= 1; i-- {
				binary.BigEndian.PutUint64(buf[:8], a^uint64(n*j+i))
				copy(buf[8:], r[8*(i-1):8*i])
				c.Decrypt(buf[:], buf[:])
				a = binary.BigEndian.Uint64(buf[:8])
				copy(r[8*(i-1):8*i], buf[8:])
			}
		}
	}
	if a>>32 != 0xA65959A6 {
		t.Fatalf("RFC 5649 integrity check failed (AIV %08x)", a>>32)
	}
	mli := int(a & 0xffffffff)
	if mli > len(r) || mli <= len(r)-8 || !allZero(r[mli:]) {
		t.Fatalf("RFC 5649 length %d does not fit %d bytes", mli, len(r))
	}
	return r[:mli]
}

// splitPadding splits an unwrapped plaintext into the key (the raw AES key,
// or the one DER structure at its start) and SoftHSM's zero padding, which
// must be 0-7 zero bytes up to a multiple of 8.
func splitPadding(t testing.TB, pt []byte, raw bool) (key []byte, pad int) {
	t.Helper()
	if raw {
		return pt, 0
	}
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(pt, &v)
	if err != nil {
		t.Fatalf("plaintext is not DER: %v", err)
	}
	if len(rest) > 7 || !allZero(rest) || (len(rest) > 0 && len(pt)%8 != 0) {
		t.Fatalf("plaintext has %d trailing bytes that are not SoftHSM's zero padding", len(rest))
	}
	return pt[:len(pt)-len(rest)], len(rest)
}

// sameKey checks that the unwrapped key is the one loaded: the same AES
// bytes, or a PKCS#8 private key equal to the test vector's (SoftHSM encodes
// EC keys without the optional public key, so the bytes may differ).
func sameKey(t testing.TB, got, want []byte) {
	t.Helper()
	if len(want) <= 32 {
		if !bytes.Equal(got, want) {
			t.Fatal("unwrapped AES key differs from the key loaded")
		}
		return
	}
	g, err := x509.ParsePKCS8PrivateKey(got)
	if err != nil {
		t.Fatalf("unwrapped key: %v", err)
	}
	w, _ := x509.ParsePKCS8PrivateKey(want)
	if !w.(interface{ Equal(crypto.PrivateKey) bool }).Equal(g) {
		t.Fatal("unwrapped key differs from the key loaded")
	}
}

func allZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// TestExportEveryType exports every target type from a real SoftHSM token
// through the two-step path and checks each blob independently. SoftHSM
// 2.6.1 zero-pads RSA, P-256 and P-521 key data; those exports run as
// rehearsals, and the pre-flight check must have found the same padding.
func TestExportEveryType(t *testing.T) {
	tests := []struct {
		file   string
		target string
		kek    string
	}{
		{"target-rsa2048.pem", "RSA-2048", "2048"},
		{"target-rsa3072.pem", "RSA-3072", "3072"},
		{"target-rsa4096.pem", "RSA-4096", "4096"},
		{"target-ec-p256.pem", "EC P-256", "2048"},
		{"target-ec-p384.pem", "EC P-384", "2048"},
		{"target-ec-p521.pem", "EC P-521", "3072"},
		{"target-aes128.bin", "AES-128", "2048"},
		{"target-aes192.bin", "AES-192", "2048"},
		{"target-aes256.bin", "AES-256", "4096"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			tok := softhsmtest.New(t, "vendor")
			want := loadTarget(t, tok, tt.file, "app-key")
			kek, priv := testKEK(t, tt.kek)
			s := session(t, tok, nil)
			x, err := export.NewHSMExporter(s, kek, export.HSMOptions{Rehearsal: true})
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			res, err := x.Export(find(t, s, "app-key"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Target.String() != tt.target || res.Mechanism != "CKM_AES_KEY_WRAP_PAD+CKM_RSA_PKCS_OAEP" {
				t.Errorf("target %s, mechanism %s", res.Target, res.Mechanism)
			}
			got := independentUnwrap(t, priv, res.Ciphertext)
			der, pad := splitPadding(t, got, strings.HasPrefix(tt.target, "AES"))
			sameKey(t, der, want)
			t.Logf("%s: %d-byte plaintext (canonical encoding: %v), %d zero bytes of SoftHSM padding, pre-flight %+v",
				tt.target, len(der), bytes.Equal(der, want), pad, *res.Preflight)
			// The pre-flight check saw the padding on a throwaway key of
			// the same type (whose length is not a multiple of 8).
			if pad > 0 && res.Preflight.Passed {
				t.Errorf("pre-flight passed but the real export has %d padding bytes", pad)
			}
			if wantPass := tt.target == "EC P-384" || strings.HasPrefix(tt.target, "AES"); res.Preflight.Passed != wantPass {
				t.Errorf("pre-flight passed=%v, want %v on SoftHSM 2.6.1: %+v", res.Preflight.Passed, wantPass, res.Preflight)
			}
			if !res.Preflight.Passed && (len(res.Deviations) != 1 || !strings.Contains(res.Deviations[0], "appended")) {
				t.Errorf("deviations = %q", res.Deviations)
			}
			if res.Preflight.Passed && len(res.Deviations) != 0 {
				t.Errorf("deviations = %q", res.Deviations)
			}
		})
	}
}

// TestPreflightRefusesByDefault: outside a rehearsal, SoftHSM's padding stops
// the export before the real key is wrapped; P-384 and AES pass.
func TestPreflightRefusesByDefault(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	loadTarget(t, tok, "target-rsa2048.pem", "rsa")
	loadTarget(t, tok, "target-ec-p521.pem", "p521")
	loadTarget(t, tok, "target-ec-p384.pem", "p384")
	loadTarget(t, tok, "target-aes256.bin", "aes")
	kek, priv := testKEK(t, "2048")
	f := &hsmfake.Fake{PKCS11: pkcs11.New(tok.Module)}
	s := session(t, tok, f)
	x, err := export.NewHSMExporter(s, kek, export.HSMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{"rsa", "p521"} {
		before := len(f.WrapMechanisms)
		_, err = x.Export(find(t, s, label))
		if !errors.Is(err, export.ErrPreflight) || !strings.Contains(err.Error(), "the HSM's padded key wrap appended") ||
			!strings.Contains(err.Error(), "zero bytes to the key data; Azure may reject or mis-import it") {
			t.Fatalf("%s: err = %v", label, err)
		}
		// Only the throwaway key and its ephemeral AES key were wrapped.
		if n := len(f.WrapMechanisms) - before; n != 2 {
			t.Errorf("%s: %d wraps, want the pre-flight's 2", label, n)
		}
	}
	// Asking again gives the same refusal without another check.
	before := len(f.WrapMechanisms)
	if _, err := x.Export(find(t, s, "rsa")); !errors.Is(err, export.ErrPreflight) || len(f.WrapMechanisms) != before {
		t.Errorf("second export: %v, %d new wraps", err, len(f.WrapMechanisms)-before)
	}
	for _, label := range []string{"p384", "aes"} {
		res, err := x.Export(find(t, s, label))
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		if !res.Preflight.Passed || len(res.Deviations) != 0 {
			t.Errorf("%s: preflight %+v deviations %q", label, res.Preflight, res.Deviations)
		}
		independentUnwrap(t, priv, res.Ciphertext)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if n := f.LiveObjects(); n != 0 {
		t.Errorf("%d session objects left behind (ephemeral, throwaway or KEK)", n)
	}
}

// TestSingleMechanismPath: a token listing CKM_RSA_AES_KEY_WRAP gets the
// single mechanism (emulated here on SoftHSM by hsmfake).
func TestSingleMechanismPath(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	want := loadTarget(t, tok, "target-aes256.bin", "aes")
	loadTarget(t, tok, "target-ec-p521.pem", "p521")
	kek, priv := testKEK(t, "3072")
	f := &hsmfake.Fake{PKCS11: pkcs11.New(tok.Module), RSAAESKeyWrap: true}
	s := session(t, tok, f)
	x, err := export.NewHSMExporter(s, kek, export.HSMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := x.Path()
	if err != nil || !p.Single || p.Mechanism != "CKM_RSA_AES_KEY_WRAP" {
		t.Fatalf("path %+v, %v", p, err)
	}
	res, err := x.Export(find(t, s, "aes"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Mechanism != "CKM_RSA_AES_KEY_WRAP" || res.Preflight.Mechanism != "CKM_RSA_AES_KEY_WRAP" {
		t.Errorf("mechanism %s, pre-flight %s", res.Mechanism, res.Preflight.Mechanism)
	}
	for _, m := range f.WrapMechanisms {
		if m != pkcs11.CKM_RSA_AES_KEY_WRAP {
			t.Errorf("C_WrapKey with 0x%X; want only CKM_RSA_AES_KEY_WRAP", m)
		}
	}
	if got := independentUnwrap(t, priv, res.Ciphertext); !bytes.Equal(got, want) {
		t.Error("unwrapped key differs")
	}
	x.Close()

	// TwoStep overrides the choice.
	x2, _ := export.NewHSMExporter(s, kek, export.HSMOptions{TwoStep: true})
	if p, err := x2.Path(); err != nil || p.Single {
		t.Errorf("TwoStep: path %+v, %v", p, err)
	}
}

// TestEphemeralKeyDestroyedOnError: the two-step path destroys its AES key
// even when a wrap fails.
func TestEphemeralKeyDestroyedOnError(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	loadTarget(t, tok, "target-aes128.bin", "aes")
	kek, _ := testKEK(t, "2048")
	f := &hsmfake.Fake{PKCS11: pkcs11.New(tok.Module)}
	s := session(t, tok, f)
	x, _ := export.NewHSMExporter(s, kek, export.HSMOptions{})
	o := find(t, s, "aes")
	if _, err := x.Export(o); err != nil { // pre-flight and KEK import done
		t.Fatal(err)
	}
	f.Fail = map[string]error{"WrapKey": pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)}
	_, err := x.Export(o)
	if err == nil || !strings.Contains(err.Error(), "CKR_DEVICE_ERROR") {
		t.Fatalf("err = %v", err)
	}
	f.Fail = nil
	x.Close()
	if n := f.LiveObjects(); n != 0 {
		t.Errorf("%d session objects left behind", n)
	}
}

func TestExportRefusals(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	tok.WriteSecretKey(t, readVector(t, "target-aes256.bin"), softhsmtest.Options{Label: "stuck", Sensitive: true})
	block, _ := pem.Decode(readVector(t, "target-rsa1024.pem"))
	k1024, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tok.WritePrivateKey(t, k1024, softhsmtest.Options{Label: "small", Extractable: true})
	tok.WritePublicKey(t, &k1024.(*rsa.PrivateKey).PublicKey, softhsmtest.Options{Label: "pub"})
	kek, _ := testKEK(t, "2048")
	s := session(t, tok, nil)
	x, _ := export.NewHSMExporter(s, kek, export.HSMOptions{})
	defer x.Close()
	tests := []struct {
		label string
		is    error
		want  string
	}{
		{"stuck", hsm.ErrNotExtractable, "CKA_EXTRACTABLE=false; BYOK needs CKA_EXTRACTABLE=true"},
		{"small", byok.ErrUnsupported, "is RSA-1024; the service imports RSA 2048, 3072 or 4096"},
		{"pub", export.ErrHSMTarget, "is a public-key, not a private or secret key"},
	}
	for _, tt := range tests {
		_, err := x.Export(find(t, s, tt.label))
		if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v", tt.label, err)
		}
	}

	// A KWP mechanism id the token does not have.
	x2, _ := export.NewHSMExporter(s, kek, export.HSMOptions{KWPMechanism: hsm.CKM_AES_KEY_WRAP_KWP})
	if _, err := x2.Path(); !errors.Is(err, hsm.ErrMechanismInvalid) || !strings.Contains(err.Error(), "--kwp-mechanism 0x210A") {
		t.Errorf("0x210B: err = %v", err)
	}
}

// TestTargetFromObject: which HSM objects are BYOK targets (no token needed).
func TestTargetFromObject(t *testing.T) {
	key := func(class, kt uint, bits int, curve string, valueLen int) *hsm.Object {
		return &hsm.Object{Label: "k", Class: class, KeyType: kt, Bits: bits, Curve: curve, ValueLen: valueLen, Extractable: true}
	}
	ok := []struct {
		o    *hsm.Object
		want string
	}{
		{key(pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_RSA, 2048, "", 0), "RSA-2048"},
		{key(pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_RSA, 4096, "", 0), "RSA-4096"},
		{key(pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_EC, 521, "P-521", 0), "EC P-521"},
		{key(pkcs11.CKO_SECRET_KEY, pkcs11.CKK_AES, 192, "", 24), "AES-192"},
	}
	for _, tt := range ok {
		info, err := export.TargetFromObject(tt.o)
		if err != nil || info.String() != tt.want {
			t.Errorf("%s: %v, %v", tt.want, info, err)
		}
	}
	wwt := key(pkcs11.CKO_SECRET_KEY, pkcs11.CKK_AES, 256, "", 32)
	wwt.WrapWithTrusted = true
	stuck := key(pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_EC, 256, "P-256", 0)
	stuck.Extractable = false
	bad := []struct {
		o    *hsm.Object
		is   error
		want string
	}{
		{key(pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_RSA, 1024, "", 0), byok.ErrUnsupported, "RSA-1024"},
		{key(pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_EC, 256, "secp256k1", 0), byok.ErrUnsupported, "EC on secp256k1"},
		{key(pkcs11.CKO_PRIVATE_KEY, hsm.CKK_EC_EDWARDS, 255, "Ed25519", 0), byok.ErrUnsupported, "EC-Edwards"},
		{key(pkcs11.CKO_SECRET_KEY, pkcs11.CKK_AES, 512, "", 64), byok.ErrUnsupported, "64-byte value"},
		{key(pkcs11.CKO_SECRET_KEY, pkcs11.CKK_GENERIC_SECRET, 256, "", 32), byok.ErrUnsupported, "generic-secret"},
		{key(pkcs11.CKO_PUBLIC_KEY, pkcs11.CKK_RSA, 2048, "", 0), export.ErrHSMTarget, "public-key, not a private or secret key"},
		{&hsm.Object{Label: "k", Class: pkcs11.CKO_CERTIFICATE, KeyType: hsm.NoKeyType}, export.ErrHSMTarget, "certificate"},
		{wwt, hsm.ErrKeyNotWrappable, "CKA_WRAP_WITH_TRUSTED=true"},
		{stuck, hsm.ErrNotExtractable, "CKA_EXTRACTABLE=false"},
	}
	for _, tt := range bad {
		_, err := export.TargetFromObject(tt.o)
		if !errors.Is(err, tt.is) || !errors.Is(err, export.ErrHSMTarget) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", tt.want, err)
		}
	}
}

package securitydomain

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestGF257(t *testing.T) {
	for a := uint32(0); a < gfPrime; a++ {
		for b := uint32(0); b < gfPrime; b++ {
			if got, want := gfMul(a, b), a*b%gfPrime; got != want {
				t.Fatalf("%d*%d = %d, want %d", a, b, got, want)
			}
			if got, want := gfSub(a, b), (a+gfPrime-b)%gfPrime; got != want {
				t.Fatalf("%d-%d = %d, want %d", a, b, got, want)
			}
		}
		if a != 0 && gfMul(a, gfInv(a)) != 1 {
			t.Fatalf("inverse of %d is wrong", a)
		}
	}
	if gfInv(0) != 0 {
		t.Fatal("inv(0) != 0")
	}
}

func TestShamirSplitCombine(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	for n := 2; n <= 10; n++ {
		for m := 2; m <= n; m++ {
			shares, err := Split(secret, n, m, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range shares {
				if x, err := ShareX(s); err != nil || x != i+1 {
					t.Fatalf("share %d: x %d, %v", i, x, err)
				}
			}
			forSubsets(n, m, func(idx []int) {
				// Collected in reverse order: the order must not matter.
				var sub [][]byte
				for k := len(idx) - 1; k >= 0; k-- {
					sub = append(sub, shares[idx[k]])
				}
				got, err := Combine(sub)
				if err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("n=%d m=%d subset %v: %x, %v", n, m, idx, got, err)
				}
			})
			if m > 2 {
				// Fewer than m shares give a wrong secret (or an error), never the secret.
				got, err := Combine(shares[:m-1])
				if err == nil && bytes.Equal(got, secret) {
					t.Fatalf("n=%d m=%d: %d shares recovered the secret", n, m, m-1)
				}
			}
		}
	}
}

func word(x, y uint16) []byte {
	b := make([]byte, 2)
	binary.LittleEndian.PutUint16(b, x<<9|y)
	return b
}

func TestShamirCombineRejects(t *testing.T) {
	s1 := append(word(1, 5), word(1, 6)...)
	s2 := append(word(2, 7), word(2, 8)...)
	for _, c := range []struct {
		name   string
		shares [][]byte
		msg    string
	}{
		{"one_share", [][]byte{s1}, "need at least 2"},
		{"duplicate_x", [][]byte{s1, s1}, "both have x = 1"},
		{"zero_x", [][]byte{append(word(0, 1), word(0, 2)...), s2}, "x coordinate is 0"},
		{"mixed_x", [][]byte{append(word(1, 1), word(3, 2)...), s2}, "disagree on x"},
		{"unequal_length", [][]byte{s1, s2[:2]}, "share 2 is 2 bytes"},
		{"odd_length", [][]byte{s1[:3], s2[:3]}, "even length"},
		{"empty", [][]byte{{}, {}}, "even length"},
		{"y_above_256", [][]byte{append(word(1, 300), word(1, 2)...), s2}, "y > 256"},
		{"result_above_255", [][]byte{word(1, 0), word(2, 1)}, "above 255"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Combine(c.shares)
			if !errors.Is(err, ErrShare) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want ErrShare with %q", err, c.msg)
			}
		})
	}
}

func TestJWETamper(t *testing.T) {
	key := make([]byte, 64)
	rand.Read(key)
	j, err := sealJWE(AlgDir, "hsm_backup", nil, key, []byte("payload of some length"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := j.String()
	if !strings.HasPrefix(s, "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoiaHNtX2JhY2t1cCJ9..") {
		t.Fatalf("header bytes differ from the service's: %s", s[:80])
	}
	parts := strings.Split(s, ".")
	flip := func(part int) string {
		b, _ := b64u.DecodeString(parts[part])
		b[len(b)-1] ^= 1
		p := append([]string(nil), parts...)
		p[part] = b64u.EncodeToString(b)
		return strings.Join(p, ".")
	}
	for _, c := range []struct {
		name, jwe, msg string
	}{
		{"ciphertext", flip(3), "tag mismatch"},
		{"iv", flip(2), "tag mismatch"},
		{"tag", flip(4), "tag mismatch"},
		{"short_tag", strings.Join(append(parts[:4:4], b64u.EncodeToString(j.tag[:16])), "."), "tag is 16 bytes"},
		{"missing_tag", strings.Join(append(parts[:4:4], ""), "."), "tag is 0 bytes"},
		{"long_tag", strings.Join(append(parts[:4:4], b64u.EncodeToString(make([]byte, 64))), "."), "tag is 64 bytes"},
		{"four_parts", strings.Join(parts[:4], "."), "4 dot-separated parts"},
		{"padded", s + "=", "not unpadded base64url"},
		{"header_spaces", b64u.EncodeToString([]byte(`{"alg": "dir","enc":"A256CBC-HS512","kid":"hsm_backup"}`)) + s[strings.Index(s, "."):], "not in the service's form"},
		{"header_zip", b64u.EncodeToString([]byte(`{"alg":"dir","enc":"A256CBC-HS512","zip":"DEF","kid":"x"}`)) + s[strings.Index(s, "."):], "unsupported field"},
		{"enc_gcm", b64u.EncodeToString([]byte(`{"alg":"dir","enc":"A256GCM","kid":"x"}`)) + s[strings.Index(s, "."):], "enc is"},
		{"alg_rsa1_5", b64u.EncodeToString([]byte(`{"alg":"RSA1_5","enc":"A256CBC-HS512","kid":"x"}`)) + s[strings.Index(s, "."):], "alg is"},
		{"dir_with_key", parts[0] + ".AAAA." + strings.Join(parts[2:], "."), "want none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			j2, err := parseJWE(c.jwe)
			if err == nil {
				_, err = j2.open(key)
			}
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want %q", err, c.msg)
			}
		})
	}
	// Padding: plaintexts of every length around the block size.
	for n := range 40 {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		j, _ := sealJWE(AlgDir, "t", nil, key, pt, rand.Reader)
		if len(j.ct) != (n/16+1)*16 {
			t.Fatalf("%d bytes: ciphertext %d bytes", n, len(j.ct))
		}
		got, err := j.open(key)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
}

// TestDecodeOAEP checks the host-side decoder against crypto/rsa: raw RSA is
// computed here with math/big (c^d mod n), independently of any token.
func TestDecodeOAEP(t *testing.T) {
	k := testKeys(t)["2048"][0].key
	raw := func(ct []byte) []byte {
		m := new(big.Int).Exp(new(big.Int).SetBytes(ct), k.D, k.N)
		return m.FillBytes(make([]byte, k.Size()))
	}
	for _, n := range []int{0, 1, 32, 64, 190} {
		msg := bytes.Repeat([]byte{0x5a}, n)
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &k.PublicKey, msg, nil)
		if err != nil {
			t.Fatal(err)
		}
		em := raw(ct)
		got, err := DecodeOAEPSHA256(em, k.Size())
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		// A token that drops leading zero bytes of the raw output.
		if got, err := DecodeOAEPSHA256(bytes.TrimLeft(em, "\x00"), k.Size()); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes, trimmed: %v", n, err)
		}
		for _, i := range []int{0, 1, 40, 100, len(em) - 1} {
			bad := bytes.Clone(em)
			bad[i] ^= 0x80
			if _, err := DecodeOAEPSHA256(bad, k.Size()); !errors.Is(err, ErrDecryption) {
				t.Fatalf("byte %d flipped: %v", i, err)
			}
		}
	}
	// A label (SHA-1 OAEP, other label) is refused.
	ct, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, &k.PublicKey, []byte("x"), []byte("label"))
	if _, err := DecodeOAEPSHA256(raw(ct), k.Size()); !errors.Is(err, ErrDecryption) {
		t.Fatal("labelled OAEP accepted")
	}
	if _, err := DecodeOAEPSHA256(make([]byte, k.Size()+1), k.Size()); !errors.Is(err, ErrDecryption) {
		t.Fatal("long input accepted")
	}
}

func TestTokenDecrypterFallback(t *testing.T) {
	k := testKeys(t)["2048"][1].key
	d := NewTokenDecrypter(softRaw{k})
	msg := []byte("share bytes")
	ct, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, &k.PublicKey, msg, nil)
	got, err := d.DecryptOAEPSHA256(ct)
	if err != nil || !bytes.Equal(got, msg) || d.Mechanism() != MechRawOAEP {
		t.Fatalf("%v, mechanism %q", err, d.Mechanism())
	}
}

// softRaw is a TokenKey in software that refuses OAEP-SHA-256 the way
// SoftHSM 2.6.1 does.
type softRaw struct{ k *rsa.PrivateKey }

func (s softRaw) Public() crypto.PublicKey { return &s.k.PublicKey }
func (s softRaw) DecryptOAEPSHA256([]byte) ([]byte, error) {
	return nil, errors.Join(errors.New("CKR_ARGUMENTS_BAD"), errors.ErrUnsupported)
}
func (s softRaw) DecryptRaw(ct []byte) ([]byte, error) {
	m := new(big.Int).Exp(new(big.Int).SetBytes(ct), s.k.D, s.k.N)
	return m.Bytes(), nil // leading zeros dropped, as some tokens do
}

func TestParsePrivateKeyPEM(t *testing.T) {
	k := testKeys(t)["2048"][2].key
	pw := []byte("correct horse")
	ask := func(p []byte) func() ([]byte, error) {
		return func() ([]byte, error) { return bytes.Clone(p), nil }
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	der8, _ := x509.MarshalPKCS8PrivateKey(k)
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der8})
	//lint:ignore SA1019 testing the legacy format on purpose.
	legacyBlock, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), pw, x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	legacy := pem.EncodeToMemory(legacyBlock)
	for name, data := range map[string][]byte{"pkcs1": pkcs1, "pkcs8": pkcs8, "legacy_encrypted": legacy} {
		got, err := ParsePrivateKeyPEM(data, ask(pw))
		if err != nil || !got.Equal(k) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParsePrivateKeyPEM(legacy, ask([]byte("wrong"))); !errors.Is(err, ErrPassword) {
		t.Errorf("legacy, wrong password: %v", err)
	}
	if _, err := ParsePrivateKeyPEM(legacy, nil); err == nil {
		t.Error("encrypted key without a password source accepted")
	}
	ec := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})
	if _, err := ParsePrivateKeyPEM(ec, nil); err == nil || !strings.Contains(err.Error(), `"EC PRIVATE KEY"`) {
		t.Errorf("EC key: %v", err)
	}
	if _, err := ParsePrivateKeyPEM(append(pkcs1, pkcs8...), nil); err == nil {
		t.Error("two PEM blocks accepted")
	}

	// Encrypted PKCS#8, written by OpenSSL (an independent implementation).
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "k.pem")
	os.WriteFile(in, pkcs8, 0o600)
	for _, c := range []struct{ name, args string }{
		{"aes256_sha256", "-v2 aes-256-cbc -v2prf hmacWithSHA256"},
		{"aes128_sha1", "-v2 aes-128-cbc -v2prf hmacWithSHA1"},
		{"aes192_sha512", "-v2 aes-192-cbc -v2prf hmacWithSHA512"},
		{"scrypt", "-scrypt"},
		{"pbes1_des", "-v1 PBE-MD5-DES"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name+".pem")
			args := append([]string{"pkcs8", "-topk8", "-in", in, "-out", out, "-passout", "pass:" + string(pw)}, strings.Fields(c.args)...)
			if b, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
				t.Skipf("openssl %s: %v %s", c.args, err, b)
			}
			data, _ := os.ReadFile(out)
			got, err := ParsePrivateKeyPEM(data, ask(pw))
			switch c.name {
			case "scrypt", "pbes1_des":
				if err == nil || !strings.Contains(err.Error(), "not supported") {
					t.Fatalf("%v, want a clear refusal", err)
				}
				return
			}
			if err != nil || !got.Equal(k) {
				t.Fatalf("%v", err)
			}
			if _, err := ParsePrivateKeyPEM(data, ask([]byte("wrong"))); !errors.Is(err, ErrPassword) {
				t.Fatalf("wrong password: %v", err)
			}
		})
	}
}

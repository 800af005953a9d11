package byok

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/json"
	"encoding/pem"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type manifestEntry struct {
	Blob, KEK, Target, Type, Plaintext string
}

func readManifest(t testing.TB) []manifestEntry {
	t.Helper()
	var m []manifestEntry
	if err := json.Unmarshal(mustRead(t, filepath.Join(vectorsDir, "manifest.json")), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) < 15 {
		t.Fatalf("manifest lists %d blobs", len(m))
	}
	return m
}

// expectedPlaintext reads what a target file must unwrap to, without the
// code under test: the PEM block's bytes of a canonical PKCS#8 file, or the
// raw bytes of an AES key file.
func expectedPlaintext(t testing.TB, name string) []byte {
	t.Helper()
	data := mustRead(t, filepath.Join(vectorsDir, name))
	if strings.HasSuffix(name, ".bin") {
		return data
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("%s: not a single PKCS#8 PEM block", name)
	}
	return block.Bytes
}

// refUnwrap is the independent unwrap: crypto/rsa OAEP-SHA1 for the first
// priv.Size() bytes, then refUnwrapKWP.
func refUnwrap(t testing.TB, priv *rsa.PrivateKey, ct []byte) []byte {
	t.Helper()
	k := priv.Size()
	if len(ct) <= k {
		t.Fatalf("ciphertext %d bytes, RSA part %d", len(ct), k)
	}
	aesKey, err := rsa.DecryptOAEP(sha1.New(), nil, priv, ct[:k], nil)
	if err != nil {
		t.Fatalf("RSA-OAEP-SHA1: %v", err)
	}
	if len(aesKey) != 32 {
		t.Fatalf("ephemeral AES key is %d bytes; want 32", len(aesKey))
	}
	pt, err := refUnwrapKWP(aesKey, ct[k:])
	if err != nil {
		t.Fatalf("KWP: %v", err)
	}
	return pt
}

func kekPrivate(t testing.TB, name string) *rsa.PrivateKey {
	return readPrivate(t, filepath.Join(vectorsDir, name+".key.pem")).(*rsa.PrivateKey)
}

// TestVectorBlobs unwraps every fixed blob independently and compares with
// the target that went in; then checks the package's own reading of it.
func TestVectorBlobs(t *testing.T) {
	for _, e := range readManifest(t) {
		t.Run(e.Blob, func(t *testing.T) {
			data := mustRead(t, filepath.Join(vectorsDir, e.Blob))
			b, err := ParseBlob(data)
			if err != nil {
				t.Fatal(err)
			}
			kek := kekFromFile(t, filepath.Join(vectorsDir, e.KEK+".json"))
			if b.Kid != kek.Kid {
				t.Errorf("kid %q; want the KEK's %q", b.Kid, kek.Kid)
			}
			priv := kekPrivate(t, e.KEK)
			want := expectedPlaintext(t, e.Target)
			if e.Plaintext == "zero-padded" {
				want = append(append([]byte(nil), want...), make([]byte, (8-len(want)%8)%8)...)
			}
			got := refUnwrap(t, priv, b.Ciphertext)
			if !bytes.Equal(got, want) {
				t.Fatalf("independent unwrap differs from the target (%d vs %d bytes)", len(got), len(want))
			}
			// The package's Unwrap agrees.
			got2, err := Unwrap(priv, b.Ciphertext)
			if err != nil || !bytes.Equal(got2, want) {
				t.Fatalf("Unwrap: %v", err)
			}
			info, err := ClassifyPlaintext(got)
			if err != nil {
				t.Fatal(err)
			}
			if info.String() != e.Type {
				t.Errorf("ClassifyPlaintext = %s; want %s", info, e.Type)
			}
			if wantCanon := e.Plaintext == "canonical"; info.Canonical != wantCanon {
				t.Errorf("Canonical = %v (%s); want %v", info.Canonical, info.Reason, wantCanon)
			}
			if e.Plaintext == "zero-padded" && (info.TrailingZeros == 0 || !strings.Contains(info.Reason, "zero bytes")) {
				t.Errorf("padding not reported: %+v", info)
			}
			// Describe, with and without the KEK, finds the type.
			d := b.Describe(kek)
			if len(d.Problems) != 0 || d.KidMatch != "match" || len(d.Layouts) != 1 || d.Layouts[0].KEKBits != kek.Bits() {
				t.Errorf("Describe(kek) = %+v", d)
			} else if ts := d.Layouts[0].Targets; !slices.Contains(ts, e.Type) || (!strings.HasPrefix(e.Type, "EC ") && len(ts) != 1) {
				// Only EC curves can share a length under one KEK size.
				t.Errorf("Describe(kek) target %v; want %s", ts, e.Type)
			}
			found := false
			for _, l := range b.Describe(nil).Layouts {
				found = found || l.KEKBits == kek.Bits() && slices.Contains(l.Targets, e.Type)
			}
			if !found {
				t.Errorf("Describe(nil) does not list RSA-%d/%s: %+v", kek.Bits(), e.Type, b.Describe(nil).Layouts)
			}
			// Files keyrite wrote round-trip byte for byte.
			if strings.HasPrefix(string(data), `{"schema_version"`) {
				if !bytes.Equal(b.Marshal(), data) {
					t.Errorf("Marshal does not reproduce the file")
				}
			} else if bytes.Equal(b.Marshal(), data) {
				t.Errorf("vendor-style file unexpectedly canonical")
			}
		})
	}
}

// TestWrapEveryTarget wraps every supported target type under each KEK size
// and checks, independently, that what comes out is the key that went in.
func TestWrapEveryTarget(t *testing.T) {
	targets := []struct{ file, typ string }{
		{"target-rsa2048.pem", "RSA-2048"}, {"target-rsa3072.pem", "RSA-3072"}, {"target-rsa4096.pem", "RSA-4096"},
		{"target-ec-p256.pem", "EC P-256"}, {"target-ec-p384.pem", "EC P-384"}, {"target-ec-p521.pem", "EC P-521"},
		{"target-aes128.bin", "AES-128"}, {"target-aes192.bin", "AES-192"}, {"target-aes256.bin", "AES-256"},
	}
	for _, kekName := range []string{"kek-rsa2048", "kek-rsa3072", "kek-rsa4096"} {
		kek := kekFromFile(t, filepath.Join(vectorsDir, kekName+".pem"))
		priv := kekPrivate(t, kekName)
		for _, tc := range targets {
			if kekName != "kek-rsa2048" && testing.Short() {
				continue
			}
			t.Run(kekName+"/"+tc.typ, func(t *testing.T) {
				tg, err := ParseTargetFile(mustRead(t, filepath.Join(vectorsDir, tc.file)))
				if err != nil {
					t.Fatal(err)
				}
				if tg.String() != tc.typ {
					t.Errorf("type %s; want %s", tg, tc.typ)
				}
				want := expectedPlaintext(t, tc.file)
				if !bytes.Equal(tg.Plaintext, want) {
					t.Fatalf("Plaintext is not the canonical PKCS#8 / raw key")
				}
				ct, err := Wrap(kek, tg.Plaintext, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				if n := len(ct) - kek.Size(); n != KWPLen(len(want)) {
					t.Errorf("KWP part %d bytes; want %d", n, KWPLen(len(want)))
				}
				if got := refUnwrap(t, priv, ct); !bytes.Equal(got, want) {
					t.Fatal("independent unwrap differs from the target")
				}
				// Two wraps of the same key differ (fresh AES key, OAEP seed).
				ct2, _ := Wrap(kek, tg.Plaintext, rand.Reader)
				if bytes.Equal(ct, ct2) || bytes.Equal(ct[kek.Size():], ct2[kek.Size():]) {
					t.Error("two wraps are equal: the ephemeral key is not fresh")
				}
				tg.Wipe()
				for _, c := range tg.Plaintext {
					if c != 0 {
						t.Fatal("Wipe left key bytes")
					}
				}
			})
		}
	}
}

// TestTargetForms checks that PKCS#1, SEC1 and OpenSSL's ecparam output give
// the same canonical plaintext as the PKCS#8 file of the same key.
func TestTargetForms(t *testing.T) {
	for _, tc := range []struct{ file, same string }{
		{"target-rsa2048.pkcs1.pem", "target-rsa2048.pem"},
		{"target-ec-p256.sec1.pem", "target-ec-p256.pem"},
		{"target-ec-p384.sec1.pem", "target-ec-p384.pem"},
		{"target-ec-p521.sec1.pem", "target-ec-p521.pem"},
		{"target-ec-p256.openssl.pem", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tg, err := ParseTargetFile(mustRead(t, filepath.Join(vectorsDir, tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if tc.same != "" && !bytes.Equal(tg.Plaintext, expectedPlaintext(t, tc.same)) {
				t.Error("plaintext differs from the PKCS#8 form of the same key")
			}
			if ok, why := IsCanonical(tg.Plaintext); !ok {
				t.Errorf("not canonical: %s", why)
			}
		})
	}
}

func TestUnwrapErrors(t *testing.T) {
	priv := kekPrivate(t, "kek-rsa2048")
	other := kekPrivate(t, "kek-rsa3072")
	kek := kekFromFile(t, filepath.Join(vectorsDir, "kek-rsa2048.pem"))
	tg, err := ParseTargetFile(mustRead(t, filepath.Join(vectorsDir, "target-ec-p256.pem")))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := Wrap(kek, tg.Plaintext, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { c := bytes.Clone(ct); c[i] ^= 1; return c }
	for name, tc := range map[string]struct {
		priv *rsa.PrivateKey
		ct   []byte
		want string
	}{
		"wrong KEK":       {other, ct, "RSA-OAEP-SHA1 decryption"},
		"RSA part flip":   {priv, flip(10), "RSA-OAEP-SHA1 decryption"},
		"KWP part flip":   {priv, flip(len(ct) - 1), "AES-KWP integrity"},
		"truncated":       {priv, ct[:len(ct)-8], "AES-KWP integrity"},
		"odd length":      {priv, ct[:len(ct)-3], "not a multiple of 8"},
		"RSA part only":   {priv, ct[:256], "expected at least"},
		"empty":           {priv, nil, "expected at least"},
		"no private key":  {nil, ct, "no private key"},
		"extra KWP block": {priv, append(bytes.Clone(ct), make([]byte, 8)...), "AES-KWP integrity"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Unwrap(tc.priv, tc.ct)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
			if !errorsIs(err, ErrUnwrap) {
				t.Errorf("does not wrap ErrUnwrap")
			}
		})
	}
}

func TestWrapErrors(t *testing.T) {
	kek := kekFromFile(t, filepath.Join(vectorsDir, "kek-rsa2048.pem"))
	for name, tc := range map[string]struct {
		kek  *KEK
		pt   []byte
		want string
	}{
		"15 bytes":   {kek, make([]byte, 15), "plaintext is 15 bytes; expected 16 to 8192"},
		"8193 bytes": {kek, make([]byte, 8193), "plaintext is 8193 bytes"},
		"nil KEK":    {nil, make([]byte, 16), "no KEK"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Wrap(tc.kek, tc.pt, rand.Reader)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errorsIs(err, ErrWrap) {
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
		})
	}
	// A dead random source is an error, not a weak key.
	if _, err := Wrap(kek, make([]byte, 32), bytes.NewReader(make([]byte, 8))); err == nil {
		t.Error("Wrap with an exhausted random source succeeded")
	}
	if _, err := Wrap(kek, make([]byte, 32), bytes.NewReader(make([]byte, 4096))); err == nil {
		t.Error("Wrap with an all-zero random source succeeded")
	}
	// The edge: 16 bytes (AES-128 target) and 8192 bytes both wrap.
	for _, n := range []int{16, 8192} {
		ct, err := Wrap(kek, bytes.Repeat([]byte{7}, n), rand.Reader)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if got := refUnwrap(t, kekPrivate(t, "kek-rsa2048"), ct); !bytes.Equal(got, bytes.Repeat([]byte{7}, n)) {
			t.Fatalf("%d bytes: round trip failed", n)
		}
	}
}

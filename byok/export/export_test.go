package export_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/kwp/subtle"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
)

const (
	vectors = "../../testvectors/byok"
	mhsmKid = "https://keyrite-test.managedhsm.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"
	kvKid   = "https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"
)

func kek(t testing.TB, kid string) *byok.KEK {
	t.Helper()
	k, err := byok.ParseKEK(read(t, vectors+"/kek-rsa2048.pem"), kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func read(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unwrap opens a .byok's ciphertext with the KEK's private key, with
// crypto/rsa and tink's KWP: a path independent of package byok.
func unwrap(t *testing.T, blob []byte) []byte {
	t.Helper()
	b, err := byok.ParseBlob(blob)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pem.Decode(read(t, vectors+"/kek-rsa2048.key.pem"))
	var priv *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(p.Bytes); err == nil {
		priv = k.(*rsa.PrivateKey)
	} else if priv, err = x509.ParsePKCS1PrivateKey(p.Bytes); err != nil {
		t.Fatal(err)
	}
	ct := b.Ciphertext
	aes, err := rsa.DecryptOAEP(sha1.New(), nil, priv, ct[:priv.Size()], nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := subtle.NewKWP(aes)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := w.Unwrap(ct[priv.Size():])
	if err != nil {
		t.Fatal(err)
	}
	return pt
}

func TestRunSoftFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "k.byok")
	var progress []int
	res, err := export.Run(export.Request{KEK: kek(t, mhsmKid), Keys: []string{vectors + "/target-aes256.bin"}, Out: out,
		Progress: func(done, total int) { progress = append(progress, done, total) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Keys) != 1 || res.HSM != nil || len(progress) != 2 || progress[0] != 1 || progress[1] != 1 {
		t.Fatalf("result %+v, progress %v", res, progress)
	}
	r := res.Keys[0]
	if r.Out != out || r.Source != "file" || r.Name != "target-aes256" || r.Target != "AES-256" || r.Kty != "oct-HSM" ||
		strings.Join(r.Ops, ",") != "encrypt,decrypt,wrapKey,unwrapKey" || r.Deviations == nil || r.PublicKey != nil {
		t.Fatalf("key result %+v", r)
	}
	if !bytes.Equal(read(t, out), r.Blob) {
		t.Fatal("the file differs from Result.Blob")
	}
	if !bytes.Equal(unwrap(t, r.Blob), read(t, vectors+"/target-aes256.bin")) {
		t.Fatal("the unwrapped key differs from the key file")
	}
}

func TestRunRefusals(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.byok")
	os.WriteFile(existing, []byte("old"), 0o644)
	aes := vectors + "/target-aes256.bin"
	for _, tc := range []struct {
		name  string
		req   export.Request
		msg   string
		usage bool
		is    error
	}{
		{"no keys", export.Request{KEK: kek(t, mhsmKid), Out: filepath.Join(dir, "a.byok")}, "export: no key to export", true, export.ErrNoKeys},
		{"no kid", export.Request{KEK: kek(t, ""), Keys: []string{aes}, Out: filepath.Join(dir, "a.byok")}, "export: the KEK and its key identifier are required", true, nil},
		{"existing out", export.Request{KEK: kek(t, mhsmKid), Keys: []string{aes}, Out: existing}, "--out " + existing + " already exists: file already exists", false, fs.ErrExist},
		{"no module-path", export.Request{KEK: kek(t, mhsmKid), Keys: []string{"pkcs11:token=t;object=k"}, Out: filepath.Join(dir, "a.byok")},
			"--key pkcs11:token=t;object=k: the URI has no module-path", true, nil},
		{"AES to Key Vault", export.Request{KEK: kek(t, kvKid), Keys: []string{aes}, Out: filepath.Join(dir, "a.byok")},
			"--key " + aes + ": AES-256 keys import only into Managed HSM, but the KEK " + kvKid + " is in Key Vault", false, nil},
		{"same name twice", export.Request{KEK: kek(t, mhsmKid), Keys: []string{aes, aes}, OutDir: filepath.Join(dir, "batch")},
			"keys " + aes + " and " + aes + ` would both be named "target-aes256"`, false, nil},
		{"unsupported key", export.Request{KEK: kek(t, mhsmKid), Keys: []string{vectors + "/target-rsa1024.pem"}, Out: filepath.Join(dir, "a.byok")},
			vectors + "/target-rsa1024.pem: invalid target key: unsupported key type: RSA-1024 is not accepted for import; expected 2048, 3072 or 4096 bits", false, byok.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := export.Run(tc.req)
			var xe *export.Error
			if !errors.As(err, &xe) || err.Error() != tc.msg || export.IsUsage(err) != tc.usage {
				t.Fatalf("got %v (usage %v), want %q", err, export.IsUsage(err), tc.msg)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("%v is not %v", err, tc.is)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("refused runs left %d entries", len(ents))
	}
}

// TestRunSoftHSM exports a batch from a real SoftHSM2 token with one PIN
// prompt naming the token, and refuses, before loading anything, a run
// whose early PIN cannot be had.
func TestRunSoftHSM(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	key := make([]byte, 32)
	rand.Read(key)
	tok.WriteSecretKey(t, key, softhsmtest.Options{Label: "app-key", ID: "01", Extractable: true, Sensitive: true})
	key2 := make([]byte, 16)
	rand.Read(key2)
	tok.WriteSecretKey(t, key2, softhsmtest.Options{Label: "other-key", ID: "02", Extractable: true, Sensitive: true})

	outDir := filepath.Join(t.TempDir(), "out")
	var prompts []string
	res, err := export.Run(export.Request{KEK: kek(t, mhsmKid), Keys: []string{tok.URI("app-key"), tok.URI("other-key")}, OutDir: outDir,
		PIN: func(p string) ([]byte, error) { prompts = append(prompts, p); return []byte(tok.PIN), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if len(prompts) != 1 || prompts[0] != `PIN for token "vendor": ` {
		t.Fatalf("prompts %q", prompts)
	}
	if res.HSM == nil || res.HSM.Token.Label != "vendor" || len(res.Keys) != 2 {
		t.Fatalf("result %+v", res)
	}
	for i, want := range [][]byte{key, key2} {
		r := res.Keys[i]
		if r.Source != "pkcs11" || r.Attributes == nil || r.Preflight == nil || !r.Preflight.Passed ||
			r.Out != filepath.Join(outDir, r.Name+".byok") {
			t.Fatalf("key %d: %+v", i, r)
		}
		if !bytes.Equal(unwrap(t, read(t, r.Out)), want) {
			t.Fatalf("key %d: the unwrapped key differs from the key on the token", i)
		}
	}

	cancelled := errors.New("no PIN")
	_, err = export.Run(export.Request{KEK: kek(t, mhsmKid), Keys: []string{"pkcs11:token=vendor;object=k?module-path=/nonexistent/lib.so"},
		Out: filepath.Join(t.TempDir(), "k.byok"), PINEarly: true, PIN: func(p string) ([]byte, error) { return nil, cancelled }})
	if err != cancelled {
		t.Fatalf("early PIN error: %v", err)
	}
	_, err = export.Run(export.Request{KEK: kek(t, mhsmKid), Keys: []string{tok.URI("app-key")}, Out: filepath.Join(t.TempDir(), "k.byok"),
		PIN: func(string) ([]byte, error) { return []byte("0000"), nil }})
	if !errors.Is(err, hsm.ErrPINIncorrect) || len((err.(*export.Error)).Hints()) != 1 {
		t.Fatalf("wrong PIN: %v", err)
	}
}

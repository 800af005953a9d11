package custodian_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
)

const vectors = "../../testvectors/sd/n3_q2_rsa2048"

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkKey checks c's key against an independent path: RSA-OAEP-SHA-256
// encryption to the certificate's public key with crypto/rsa, then the
// custodian key's decryption must give the plaintext back.
func checkKey(t *testing.T, c securitydomain.Custodian) {
	t.Helper()
	msg := make([]byte, 32)
	rand.Read(msg)
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, c.Cert.PublicKey.(*rsa.PublicKey), msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := c.Key.DecryptOAEPSHA256(ct)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	if !bytes.Equal(pt, msg) {
		t.Fatalf("%s: decryption differs from what was encrypted", c.Name)
	}
}

// wantErr checks that err matches every target and has the package prefix.
func wantErr(t *testing.T, err error, text string, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", text)
	}
	if !strings.HasPrefix(err.Error(), "custodian: ") || !strings.Contains(err.Error(), text) {
		t.Errorf("error %q, want the prefix \"custodian: \" and %q", err, text)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("error %q does not match %v", err, target)
		}
	}
}

// encryptedCopy writes the vector key wrap_<i> encrypted with password (legacy
// PEM encryption, as OpenSSL's "Proc-Type: 4,ENCRYPTED"), and its
// certificate beside it.
func encryptedCopy(t *testing.T, dir string, i int, password string) string {
	t.Helper()
	key, err := securitydomain.ParsePrivateKeyPEM(read(t, filepath.Join(vectors, "wrap_"+string(rune('0'+i))+".pem")), nil)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 the legacy format is what the loader must read.
	block, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), []byte(password), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "enc.pem")
	os.WriteFile(p, pem.EncodeToMemory(block), 0o600)
	os.WriteFile(filepath.Join(dir, "enc.cer"), read(t, filepath.Join(vectors, "wrap_"+string(rune('0'+i))+".cer")), 0o644)
	return p
}

func TestLoadFile(t *testing.T) {
	l := custodian.NewLoader(custodian.Options{})
	defer l.Close()
	// Certificate beside the key, and named explicitly.
	for _, src := range []string{vectors + "/wrap_0.pem", vectors + "/wrap_1.pem:" + vectors + "/wrap_1.cer"} {
		c, err := l.Load(src)
		if err != nil {
			t.Fatal(err)
		}
		if want, _, _ := strings.Cut(src, ":"); c.Name != want {
			t.Errorf("name %q, want %q", c.Name, want)
		}
		if securitydomain.MechanismOf(c.Key) != securitydomain.MechSoftware {
			t.Errorf("mechanism %q", securitydomain.MechanismOf(c.Key))
		}
		checkKey(t, c)
	}
	if info, all := l.HSMInfo(); info != nil || all != nil {
		t.Errorf("HSMInfo without tokens: %v %v", info, all)
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("not a key"), 0o600)
	os.WriteFile(filepath.Join(dir, "bad.cer"), read(t, vectors+"/wrap_0.cer"), 0o644)
	os.WriteFile(filepath.Join(dir, "lonely.pem"), read(t, vectors+"/wrap_0.pem"), 0o600)
	os.Mkdir(filepath.Join(dir, "dir.pem"), 0o755)
	for _, tc := range []struct {
		name, src, text string
		targets         []error
	}{
		{"empty certificate path", "k.pem:", `key source "k.pem:": empty key or certificate path`, []error{custodian.ErrSource}},
		{"empty key path", ":c.cer", `key source ":c.cer": empty key or certificate path`, []error{custodian.ErrSource}},
		{"no key file", filepath.Join(dir, "nope.pem"), "wrapping key " + filepath.Join(dir, "nope.pem") + ": no such file", []error{custodian.ErrKeyFile, fs.ErrNotExist}},
		{"key is a directory", filepath.Join(dir, "dir.pem"), "is a directory; expected a file", []error{custodian.ErrKeyFile}},
		{"no certificate", filepath.Join(dir, "lonely.pem"), "certificate " + filepath.Join(dir, "lonely.cer") + ": no such file (for wrapping key " + filepath.Join(dir, "lonely.pem") + ")", []error{custodian.ErrCertificate, fs.ErrNotExist}},
		{"bad certificate", vectors + "/wrap_0.pem:" + filepath.Join(dir, "bad.pem"), "certificate " + filepath.Join(dir, "bad.pem") + ": securitydomain: ", []error{custodian.ErrCertificate}},
		{"bad key", filepath.Join(dir, "bad.pem"), "wrapping key " + filepath.Join(dir, "bad.pem") + ": securitydomain: no PEM block found", []error{custodian.ErrKey}},
		{"mismatch", vectors + "/wrap_0.pem:" + vectors + "/wrap_1.cer", "wrapping key " + vectors + "/wrap_0.pem does not match its certificate " + vectors + "/wrap_1.cer", []error{custodian.ErrMismatch}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := custodian.NewLoader(custodian.Options{}).Load(tc.src)
			wantErr(t, err, tc.text, tc.targets...)
		})
	}
}

// TestEncryptedFile: the password is asked on first use only, once, with the
// key's path in the prompt; its errors are sorted by cause.
func TestEncryptedFile(t *testing.T) {
	dir := t.TempDir()
	p := encryptedCopy(t, dir, 0, "s3cret")
	var prompts []string
	pw := func(answer string, err error) func(string) ([]byte, error) {
		return func(prompt string) ([]byte, error) {
			prompts = append(prompts, prompt)
			return []byte(answer), err
		}
	}
	l := custodian.NewLoader(custodian.Options{Password: pw("s3cret", nil)})
	c, err := l.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(prompts) != 0 {
		t.Fatalf("password asked at load: %q", prompts)
	}
	checkKey(t, c)
	checkKey(t, c)
	if len(prompts) != 1 || prompts[0] != "password for "+p {
		t.Fatalf("prompts %q", prompts)
	}

	// A wrong password: ErrKey and securitydomain.ErrPassword; not asked again.
	prompts = nil
	c, _ = custodian.NewLoader(custodian.Options{Password: pw("wrong", nil)}).Load(p)
	_, err = c.Key.DecryptOAEPSHA256(make([]byte, 256))
	wantErr(t, err, "wrapping key "+p+": securitydomain: wrong password", custodian.ErrKey, securitydomain.ErrPassword)
	if _, err2 := c.Key.DecryptOAEPSHA256(make([]byte, 256)); err2 != err || len(prompts) != 1 {
		t.Errorf("second use: %v, %d prompts", err2, len(prompts))
	}
	if strings.Contains(err.Error(), "wrong\"") {
		t.Error("the password is in the error")
	}

	// The callback fails: its error is wrapped.
	cancelled := errors.New("cancelled")
	c, _ = custodian.NewLoader(custodian.Options{Password: pw("", cancelled)}).Load(p)
	_, err = c.Key.DecryptOAEPSHA256(make([]byte, 256))
	wantErr(t, err, "wrapping key "+p+" is encrypted: cancelled", custodian.ErrNoSecret, cancelled)

	// No password source.
	_, err = custodian.NewLoader(custodian.Options{}).Open(p)
	wantErr(t, err, "wrapping key "+p+" is encrypted: no password source was given", custodian.ErrNoSecret)

	// Open asks at once.
	prompts = nil
	c, err = custodian.NewLoader(custodian.Options{Password: pw("s3cret", nil)}).Open(p)
	if err != nil || len(prompts) != 1 {
		t.Fatalf("Open: %v, %d prompts", err, len(prompts))
	}
	checkKey(t, c)
}

// TestRestoreWithFiles runs the vector's restore with loaded custodians and
// compares the payloads with the vector's expected plaintexts through the
// exchange private key.
func TestRestoreWithFiles(t *testing.T) {
	sd, err := securitydomain.ParseSD(read(t, vectors+"/sd.json"))
	if err != nil {
		t.Fatal(err)
	}
	exCert, err := securitydomain.ParseExchangeKey(read(t, vectors+"/exchange_cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	l := custodian.NewLoader(custodian.Options{})
	defer l.Close()
	var cs []securitydomain.Custodian
	for _, s := range []string{vectors + "/wrap_2.pem", vectors + "/wrap_0.pem"} {
		c, err := l.Load(s)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	res, err := securitydomain.Restore(sd, exCert, cs, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	exKey, err := securitydomain.ParsePrivateKeyPEM(read(t, vectors+"/exchange_key.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := securitydomain.OpenRestoreBlob(res.Blob.Marshal(), exKey, exCert)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0].Data, read(t, vectors+"/payload_hsm_backup.bin")) {
		t.Fatal("hsm_backup differs after the restore")
	}
}

package ceremony_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/kwp/subtle"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/ceremonytest"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
)

const (
	vectors = "../testvectors"
	kekPEM  = vectors + "/byok/kek-rsa2048.pem"
	kekJSON = vectors + "/byok/kek-rsa2048.json"
	kekKey  = vectors + "/byok/kek-rsa2048.key.pem"
	kid     = "https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"
	mhsmKid = "https://keyrite-test.managedhsm.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"
	sdSet   = vectors + "/sd/n3_q2_rsa2048"
)

func engine(ui ceremony.UI) *ceremony.Engine { return &ceremony.Engine{UI: ui} }

func TestIntakeKEKFromPEM(t *testing.T) {
	ui := ceremonytest.New(t, kekPEM, kid, kekWords(t, kekPEM))
	kek, err := engine(ui).IntakeKEK()
	if err != nil {
		t.Fatal(err)
	}
	if kek.Kid != kid || kek.Bits() != 2048 {
		t.Fatalf("kek %s %d", kek.Kid, kek.Bits())
	}
	fp := kek.Fingerprint()
	first8 := strings.Join(strings.Fields(fp.Words())[:8], " ")
	ui.Contains("kid:", kid, "RSA 2048 bits", fp.Hex(), first8,
		"? Type the first 4 or more words the online side reads out →", "KEK confirmed")
}

func TestIntakeKEKFromJSONAsksNoKid(t *testing.T) {
	ui := ceremonytest.New(t, kekJSON, kekWords(t, kekJSON))
	kek, err := engine(ui).IntakeKEK()
	if err != nil || kek.Kid != kid {
		t.Fatal(kek, err)
	}
	if strings.Contains(ui.Log(), "key identifier") {
		t.Error("asked for the kid although the JSON carries it")
	}
}

func TestIntakeKEKAsksAgain(t *testing.T) {
	ui := ceremonytest.New(t,
		"/nonexistent/kek.pem",
		vectors+"/byok/kek-rsa1024.pem",
		kekPEM,
		"https://keyrite-test.vault.azure.net/keys/kek-rsa2048", // no version
		kid, kekWords(t, kekPEM))
	if _, err := engine(ui).IntakeKEK(); err != nil {
		t.Fatal(err)
	}
	ui.Contains("error: KEK file /nonexistent/kek.pem: no such file", "kek-rsa1024.pem:", "error: ")
	if n := strings.Count(ui.Log(), "error: "); n != 3 {
		t.Errorf("%d errors shown, want 3:\n%s", n, ui.Log())
	}
}

// TestIntakeKEKWordsDiffer: words typed back that differ from the KEK's
// are refused with the word that differs, and asked again; the flow goes on
// only with words that agree.
func TestIntakeKEKWordsDiffer(t *testing.T) {
	good := kekWords(t, kekJSON)
	ws := strings.Fields(good)
	bad := strings.Join(append([]string{ws[0], ws[1], "aardvark"}, ws[3:]...), " ")
	ui := ceremonytest.New(t, kekJSON, ws[0], bad, strings.ToUpper(good))
	if _, err := engine(ui).IntakeKEK(); err != nil {
		t.Fatal(err)
	}
	ui.Contains("type at least the first 4 words", `word 3 is "`+strings.ToLower(ws[2])+`" here, but "aardvark" was typed`)
}

func TestIntakeKEKWordsNeverAgree(t *testing.T) {
	ui := ceremonytest.New(t, kekJSON, "a b c d", "a b c d", "a b c d", "a b c d", "a b c d")
	_, err := engine(ui).IntakeKEK()
	if !errors.Is(err, ceremony.ErrTooManyAttempts) {
		t.Fatalf("got %v", err)
	}
}

// kekWords is the first four words of the KEK file's fingerprint, as the
// online side reads them out.
func kekWords(t *testing.T, path string) string {
	t.Helper()
	k, err := byok.ParseKEK(mustRead(t, path), "")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(k.Fingerprint().Words())[:4], " ")
}

func TestIntakeKEKCancelled(t *testing.T) {
	ui := ceremonytest.New(t, ceremonytest.Cancel)
	if _, err := engine(ui).IntakeKEK(); !errors.Is(err, ceremony.ErrCancelled) {
		t.Fatalf("got %v", err)
	}
}

func TestIntakeKEKTooManyAttempts(t *testing.T) {
	ui := ceremonytest.New(t, "a", "b", "c", "d", "e")
	e := engine(ui)
	if _, err := e.IntakeKEK(); !errors.Is(err, ceremony.ErrTooManyAttempts) {
		t.Fatalf("got %v", err)
	}
}

// unwrapIndependently opens a .byok ciphertext with crypto/rsa and tink's
// KWP directly, not with package byok.
func unwrapIndependently(t *testing.T, blobFile string) []byte {
	t.Helper()
	var blob struct {
		Ciphertext string `json:"ciphertext"`
	}
	data, err := os.ReadFile(blobFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &blob); err != nil {
		t.Fatal(err)
	}
	ct, err := b64url(blob.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := os.ReadFile(kekKey)
	p, _ := pem.Decode(kb)
	k, err := x509.ParsePKCS8PrivateKey(p.Bytes)
	if err != nil {
		kk, err2 := x509.ParsePKCS1PrivateKey(p.Bytes)
		if err2 != nil {
			t.Fatal(err)
		}
		k = kk
	}
	priv := k.(*rsa.PrivateKey)
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

func TestBYOKExportSoftAES(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	key[0] = 0xff // not printable text
	keyFile := filepath.Join(dir, "app-key.bin")
	os.WriteFile(keyFile, key, 0o600)
	out := filepath.Join(dir, "app-key.byok")
	os.WriteFile(filepath.Join(dir, "taken.byok"), nil, 0o644)

	ui := ceremonytest.New(t,
		kekPEM, mhsmKid, kekWords(t, kekPEM), // KEK intake (AES keys go to a Managed HSM)
		"2",                              // key file
		keyFile,                          //
		filepath.Join(dir, "taken.byok"), // refused: exists
		filepath.Join(dir, "x.txt"),      // refused: not .byok
		out,
		"", // default name
		"1",
	)
	if err := engine(ui).BYOKExport(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains("taken.byok already exists; keyrite never overwrites", "must end in .byok",
		"name:", "app-key", "Export now?", " → 1", "ok: Exported AES-256", "KCV:")
	if got := unwrapIndependently(t, out); !bytes.Equal(got, key) {
		t.Fatal("the unwrapped key differs from the key that went in")
	}
	data, _ := os.ReadFile(out)
	fp := hex.EncodeToString(sha256sum(data))
	ui.Contains(fp)
	if strings.Contains(ui.Log(), hex.EncodeToString(key)) {
		t.Fatal("key material in the UI log")
	}
}

func TestBYOKExportSoftEC(t *testing.T) {
	dir := t.TempDir()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	keyFile := filepath.Join(dir, "ec.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	out := filepath.Join(dir, "ec.byok")
	ui := ceremonytest.New(t, kekJSON, kekWords(t, kekJSON), "2", keyFile, out, "my-ec-key", "1")
	if err := engine(ui).BYOKExport(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	if got := unwrapIndependently(t, out); !bytes.Equal(got, der) {
		t.Fatal("the unwrapped key differs from the key that went in")
	}
	ui.Contains("(EC P-256)", "name:", "my-ec-key", "public words:")
}

func TestBYOKExportNotConfirmedWritesNothing(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{0xa5}, 16)
	keyFile := filepath.Join(dir, "k.bin")
	os.WriteFile(keyFile, key, 0o600)
	out := filepath.Join(dir, "k.byok")
	ui := ceremonytest.New(t, kekJSON, kekWords(t, kekJSON), "2", keyFile, out, "", "3")
	if err := engine(ui).BYOKExport(); !errors.Is(err, ceremony.ErrNotConfirmed) {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("output written without confirmation")
	}
}

// TestBYOKExportPKCS11Backend checks the order: every input is validated and
// the summary confirmed before the PIN is asked and the backend called.
func TestBYOKExportPKCS11Backend(t *testing.T) {
	dir := t.TempDir()
	module := filepath.Join(dir, "module.so")
	os.WriteFile(module, nil, 0o644)
	uri := "pkcs11:token=vendor;object=app-key?module-path=" + module
	out := filepath.Join(dir, "app.byok")
	var got ceremony.ExportRequest
	var pinSeen string
	e := engine(nil)
	ui := ceremonytest.New(t, kekJSON, kekWords(t, kekJSON), "1",
		"pkcs11:token=vendor;object=app-key", // no module-path
		uri, out, "", "1", "1234")
	e.UI = ui
	e.Backends.Export = func(req ceremony.ExportRequest) (*ceremony.ExportResult, error) {
		got = req
		pinSeen = string(req.PIN)
		if !strings.Contains(ui.Log(), "Export now?") {
			t.Error("backend called before the summary was confirmed")
		}
		// Stand in for the HSM: wrap an AES key in software.
		kek, err := byok.ParseKEK(mustRead(t, kekJSON), "")
		if err != nil {
			return nil, err
		}
		ct, err := byok.Wrap(kek, bytes.Repeat([]byte{7}, 32), rand.Reader)
		if err != nil {
			return nil, err
		}
		data := byok.NewBlob(kek, ct, "test").Marshal()
		res := &ceremony.ExportResult{Keys: []ceremony.ExportedKey{{Out: req.Out, Blob: data, Target: "AES-256"}}}
		return res, os.WriteFile(req.Out, data, 0o644)
	}
	if err := e.BYOKExport(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	if pinSeen != "1234" || len(got.Sources) != 1 || got.Sources[0] != uri || got.Name != "" || got.Out != out {
		t.Fatalf("request %+v pin %q", got, pinSeen)
	}
	ui.Contains("the URI needs ?module-path=", uri+" (type and size are checked at the export)", `? PIN for token "vendor" (not shown) (secret) → ****`)
	if strings.Index(ui.Log(), "Export now?") > strings.Index(ui.Log(), "PIN for token") {
		t.Error("PIN asked before the summary")
	}
	if strings.Contains(ui.Log(), "1234") {
		t.Error("PIN in the log")
	}
}

func TestSDRestoreWithKeyFiles(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "blob.json")
	ui := ceremonytest.New(t,
		sdSet+"/sd.json",
		sdSet+"/exchange_cert.pem", exchWords(t, sdSet+"/exchange_cert.pem"),
		out, "y",
		"2", vectors+"/sd/negative/foreign.pem", // custodian 1: a key with no share: refused, asked again
		"2", sdSet+"/wrap_2.pem",
		"2", sdSet+"/wrap_2.pem", // the same custodian twice: refused
		"2", sdSet+"/wrap_0.pem",
	)
	if err := engine(ui).SDRestore(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains("quorum:", "2 of 3 custodians", "Custodian 1 of 2: insert your card", "Custodian 2 of 2",
		"custodian 1: share opened (x=3", "custodian 2: share opened (x=1",
		"this custodian's share is already open", "ok: Restore blob written")
	checkBlob(t, out, sdSet)
}

func checkBlob(t *testing.T, out, set string) {
	t.Helper()
	blob := mustRead(t, out)
	kb := mustRead(t, set+"/exchange_key.pem")
	p, _ := pem.Decode(kb)
	var priv *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(p.Bytes); err == nil {
		priv = k.(*rsa.PrivateKey)
	} else if priv, err = x509.ParsePKCS1PrivateKey(p.Bytes); err != nil {
		t.Fatal(err)
	}
	cert, err := securitydomain.ParseExchangeKey(mustRead(t, set+"/exchange_cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	payloads, err := securitydomain.OpenRestoreBlob(blob, priv, cert)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	json.Unmarshal(mustRead(t, set+"/expected_plaintexts.json"), &want)
	if len(payloads) != len(want) {
		t.Fatalf("%d payloads, want %d", len(payloads), len(want))
	}
	for _, p := range payloads {
		if hex.EncodeToString(p.Data) != want[p.Tag] {
			t.Errorf("payload %s differs", p.Tag)
		}
	}
}

func TestSDRestoreTokenNotAvailable(t *testing.T) {
	out := filepath.Join(t.TempDir(), "blob.json")
	ui := ceremonytest.New(t, sdSet+"/sd.json", sdSet+"/exchange_cert.pem", exchWords(t, sdSet+"/exchange_cert.pem"), out, "y", "1")
	if err := engine(ui).SDRestore(); !errors.Is(err, ceremony.ErrNotAvailable) {
		t.Fatal(err)
	}
	ui.Contains("smartcard and token keys are not available in this build")
	if _, err := os.Stat(out); err == nil {
		t.Fatal("output written")
	}
}

func TestSDRestoreExchangeKeyNotConfirmed(t *testing.T) {
	other := "aardvark aardvark aardvark aardvark"
	ui := ceremonytest.New(t, sdSet+"/sd.json", sdSet+"/exchange_cert.pem", other, other, other, other, other)
	if err := engine(ui).SDRestore(); !errors.Is(err, ceremony.ErrTooManyAttempts) {
		t.Fatal(err)
	}
	ui.Contains("word 1 is")
}

// exchWords is the first four words of an exchange key certificate's
// fingerprint (of its DER), as the online side reads them out.
func exchWords(t *testing.T, path string) string {
	t.Helper()
	b, _ := pem.Decode(mustRead(t, path))
	if b == nil {
		t.Fatal("no PEM in ", path)
	}
	return strings.Join(strings.Fields(words.Sum(b.Bytes).Words())[:4], " ")
}

// TestSDRestoreTokenBackend uses the OpenCustodian seam with PEM keys
// standing in for cards, to check the one-card-at-a-time protocol: one PIN
// per card, asked after the URI, and each card closed before the next.
func TestSDRestoreTokenBackend(t *testing.T) {
	out := filepath.Join(t.TempDir(), "blob.json")
	open := 0
	var pins []string
	e := engine(nil)
	e.Backends.OpenCustodian = func(uri string, pin func(string) ([]byte, error), _ hsm.LoginOptions) (securitydomain.Custodian, func() error, error) {
		if open != 0 {
			t.Error("a card is still open")
		}
		p, err := pin("PIN for " + uri)
		if err != nil {
			return securitydomain.Custodian{}, nil, err
		}
		pins = append(pins, string(p))
		key, err := securitydomain.ParsePrivateKeyPEM(mustRead(t, sdSet+"/"+uri+".pem"), nil)
		if err != nil {
			return securitydomain.Custodian{}, nil, err
		}
		cert, err := securitydomain.ParseCertificate(mustRead(t, sdSet+"/"+uri+".cer"))
		if err != nil {
			return securitydomain.Custodian{}, nil, err
		}
		open++
		return securitydomain.Custodian{Name: uri, Cert: cert, Key: securitydomain.SoftwareKey(key)}, func() error { open--; return nil }, nil
	}
	ui := ceremonytest.New(t, sdSet+"/sd.json", sdSet+"/exchange_cert.pem", exchWords(t, sdSet+"/exchange_cert.pem"), out, "y",
		"1", "wrap_1", "1111", "1", "wrap_2", "2222")
	e.UI = ui
	if err := e.SDRestore(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	if open != 0 || strings.Join(pins, ",") != "1111,2222" {
		t.Fatalf("open %d pins %v", open, pins)
	}
	checkBlob(t, out, sdSet)
}

func TestDrill(t *testing.T) {
	ui := ceremonytest.New(t, sdSet+"/sd.json", "y",
		"2", sdSet+"/wrap_0.pem", "y",
		"2", sdSet+"/wrap_1.pem", "y",
		"2", sdSet+"/wrap_2.pem")
	if err := engine(ui).Drill(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains("Drill passed", "3 opened, 2 required", "entry hsm_backup:")
}

func TestDrillBelowQuorum(t *testing.T) {
	ui := ceremonytest.New(t, sdSet+"/sd.json", "y", "2", sdSet+"/wrap_0.pem", "n")
	err := engine(ui).Drill()
	if err == nil || !strings.Contains(err.Error(), "quorum drill failed") {
		t.Fatalf("got %v\n%s", err, ui.Log())
	}
	ui.Contains("Drill FAILED")
}

func TestRunQuit(t *testing.T) {
	ui := ceremonytest.New(t, "", "8")
	if err := engine(ui).Run(); err != nil {
		t.Fatal(err)
	}
	ui.Contains("keyrite guided ceremony", "1) BYOK: export")
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBYOKExportFailureKeepsAnswers: a failed export (a wrong PIN) is shown
// whole with its hint, and "try again" asks only for the PIN again: the
// KEK, key and output answers are kept (before, the flow ended and the
// operator started over).
func TestBYOKExportFailureKeepsAnswers(t *testing.T) {
	dir := t.TempDir()
	module := filepath.Join(dir, "module.so")
	os.WriteFile(module, nil, 0o644)
	uri := "pkcs11:token=vendor;object=app-key;type=secret-key?module-path=" + module
	out := filepath.Join(dir, "app.byok")
	ui := ceremonytest.New(t, kekJSON, kekWords(t, kekJSON), "1", uri, out, "", "1",
		"0000", // wrong PIN
		"1",    // try again
		"1234")
	e := engine(ui)
	calls := 0
	e.Backends.Export = func(req ceremony.ExportRequest) (*ceremony.ExportResult, error) {
		calls++
		if string(req.PIN) != "1234" {
			return nil, fmt.Errorf("export: %w", hsm.ErrPINIncorrect)
		}
		kek, _ := byok.ParseKEK(mustRead(t, kekJSON), "")
		ct, err := byok.Wrap(kek, bytes.Repeat([]byte{7}, 32), rand.Reader)
		if err != nil {
			return nil, err
		}
		data := byok.NewBlob(kek, ct, "test").Marshal()
		res := &ceremony.ExportResult{Keys: []ceremony.ExportedKey{{Out: req.Out, Blob: data, Target: "AES-256"}}}
		return res, os.WriteFile(req.Out, data, 0o644)
	}
	if err := e.BYOKExport(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	if calls != 2 {
		t.Fatalf("%d export calls", calls)
	}
	ui.Contains("error: The export failed; nothing was written", "PIN incorrect", "? What now?", "ok: Exported AES-256")
	if n := strings.Count(ui.Log(), "? KEK file"); n != 1 {
		t.Errorf("the KEK was asked %d times", n)
	}
}

// TestBYOKExportChangeAnswers: "change the answers" at the summary goes
// back to the keys with the earlier answers kept in the fields.
func TestBYOKExportChangeAnswers(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k.bin")
	os.WriteFile(keyFile, bytes.Repeat([]byte{0xa5}, 32), 0o600)
	out := filepath.Join(dir, "k.byok")
	ui := ceremonytest.New(t, kekPEM, mhsmKid, kekWords(t, kekPEM), "2", keyFile, filepath.Join(dir, "first.byok"), "", "2",
		"2", keyFile, out, "k2", "1")
	if err := engine(ui).BYOKExport(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	if _, err := os.Stat(filepath.Join(dir, "first.byok")); err == nil {
		t.Error("the first answer's output was written")
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
	if n := strings.Count(ui.Log(), "? KEK file"); n != 1 {
		t.Errorf("the KEK was asked %d times", n)
	}
}

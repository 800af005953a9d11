package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/kwp/subtle"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/ceremonytest"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
)

const tuiVectors = "../../testvectors"

// TestGuidedExportFromSoftHSM runs the guided BYOK export with the binary's
// backends against a real SoftHSM2 token, and opens the .byok with the KEK's
// private key independently (crypto/rsa and tink's KWP) to compare with the
// key that went in.
func TestGuidedExportFromSoftHSM(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	// AES-256 to a Managed HSM KEK: SoftHSM 2.6.1 wraps it without padding
	// (docs/specs/byok.md), so the pre-flight check passes.
	key := make([]byte, 32)
	rand.Read(key)
	tok.WriteSecretKey(t, key, softhsmtest.Options{Label: "app-key", ID: "01", Extractable: true, Sensitive: true})
	kekPEM := filepath.Join(t.TempDir(), "kek.pem")
	os.WriteFile(kekPEM, tuiRead(t, tuiVectors+"/byok/kek-rsa2048.pem"), 0o644)
	const mhsmKid = "https://keyrite-test.managedhsm.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tok.WritePrivateKey(t, rsaKey, softhsmtest.Options{Label: "rsa-key", ID: "02", Extractable: true, Sensitive: true})

	// RSA: SoftHSM pads the PKCS#8, the pre-flight check fails, and the
	// guided flow refuses as `keyrite byok export` does, writing nothing.
	refused := filepath.Join(t.TempDir(), "rsa-key.byok")
	ui := ceremonytest.New(t, tuiVectors+"/byok/kek-rsa2048.json", tuiKEKWords(t, tuiVectors+"/byok/kek-rsa2048.json"),
		"2", tok.URI("rsa-key"), refused, "", "1", tok.PIN, "3") // 2: type the URI
	e := &ceremony.Engine{UI: ui, Backends: guidedBackends()}
	if err := e.BYOKExport(); !errors.Is(err, export.ErrPreflight) || !errors.Is(err, ceremony.ErrStopped) {
		t.Fatalf("got %v\n%s", err, ui.Log())
	}
	ui.Contains("pre-flight check failed", "hint:")
	if _, err := os.Stat(refused); err == nil {
		t.Fatal("output written after a failed pre-flight check")
	}

	out := filepath.Join(t.TempDir(), "app-key.byok")
	ui = ceremonytest.New(t, kekPEM, mhsmKid, tuiKEKWords(t, kekPEM), "2", tok.URI("app-key"), out, "", "1", tok.PIN)
	e = &ceremony.Engine{UI: ui, Backends: guidedBackends()}
	if err := e.BYOKExport(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains("ok: Exported AES-256", "mechanism:", "token:      vendor")
	if strings.Contains(ui.Log(), tok.PIN+"\n") {
		t.Error("the PIN is in the log")
	}
	if got := tuiUnwrap(t, out); !bytes.Equal(got, key) {
		t.Fatal("the unwrapped key differs from the key on the token")
	}
}

// tuiKEKWords and tuiExchWords are the first four words of a KEK's or an
// exchange key's fingerprint, as the online side reads them out.
func tuiKEKWords(t *testing.T, path string) string {
	t.Helper()
	k, err := byok.ParseKEK(tuiRead(t, path), "")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(k.Fingerprint().Words())[:4], " ")
}

func tuiExchWords(t *testing.T, path string) string {
	t.Helper()
	b, _ := pem.Decode(tuiRead(t, path))
	if b == nil {
		t.Fatal("no PEM in ", path)
	}
	return strings.Join(strings.Fields(words.Sum(b.Bytes).Words())[:4], " ")
}

func tuiUnwrap(t *testing.T, blobFile string) []byte {
	t.Helper()
	var blob struct{ Ciphertext string }
	data, err := os.ReadFile(blobFile)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(data, &blob)
	ct, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(blob.Ciphertext, "="))
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := os.ReadFile(tuiVectors + "/byok/kek-rsa2048.key.pem")
	p, _ := pem.Decode(kb)
	var priv *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(p.Bytes); err == nil {
		priv = k.(*rsa.PrivateKey)
	} else if priv, err = x509.ParsePKCS1PrivateKey(p.Bytes); err != nil {
		t.Fatal(err)
	}
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

// TestGuidedRestoreWithCards restores the n3_q2 security domain with two
// custodians whose wrapping keys sit on two SoftHSM2 tokens, one card at a
// time with one PIN each, through the binary's token path.
func TestGuidedRestoreWithCards(t *testing.T) {
	set := tuiVectors + "/sd/n3_q2_rsa2048"
	conf, dir := softhsmtest.Env(t)
	var uris []string
	for i, w := range []string{"wrap_1", "wrap_2"} {
		tok := softhsmtest.AddToken(t, conf, dir, "custodian-"+string(rune('1'+i)))
		key, err := securitydomain.ParsePrivateKeyPEM(tuiRead(t, set+"/"+w+".pem"), nil)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := securitydomain.ParseCertificate(tuiRead(t, set+"/"+w+".cer"))
		if err != nil {
			t.Fatal(err)
		}
		tok.WritePrivateKey(t, key, softhsmtest.Options{Label: "wrap", ID: "01", Sensitive: true})
		tok.WriteCertificate(t, cert.Raw, softhsmtest.Options{Label: "wrap", ID: "01"})
		uris = append(uris, tok.URI("wrap"))
	}
	out := filepath.Join(t.TempDir(), "blob.json")
	ui := ceremonytest.New(t, set+"/sd.json", set+"/exchange_cert.pem", tuiExchWords(t, set+"/exchange_cert.pem"), out, "y",
		"2", uris[1], softhsmtest.PIN, // 2: type the key's URI
		"2", uris[0], "0000", // wrong PIN: refused, asked again
		"2", uris[0], softhsmtest.PIN)
	e := &ceremony.Engine{UI: ui, Backends: guidedBackends()}
	if err := e.SDRestore(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains(`PIN for token "custodian-2" (not shown)`, "custodian 1: share opened (x=3",
		`custodian: hsm: C_Login (token "custodian-1"): CKR_PIN_INCORRECT`,
		"custodian 2: share opened (x=2", "ok: Restore blob written")
	// Check the blob with the exchange private key.
	kb := tuiRead(t, set+"/exchange_key.pem")
	p, _ := pem.Decode(kb)
	var priv *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(p.Bytes); err == nil {
		priv = k.(*rsa.PrivateKey)
	} else if priv, err = x509.ParsePKCS1PrivateKey(p.Bytes); err != nil {
		t.Fatal(err)
	}
	cert, _ := securitydomain.ParseExchangeKey(tuiRead(t, set+"/exchange_cert.pem"))
	payloads, err := securitydomain.OpenRestoreBlob(tuiRead(t, out), priv, cert)
	if err != nil {
		t.Fatal(err)
	}
	if len(payloads) != 3 {
		t.Fatalf("%d payloads", len(payloads))
	}
}

func tuiRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGuidedOpenCustodian pins the guided backend's edges: the PIN comes
// from the ceremony UI even when the certificate can only be found through
// the key's CKA_ID (a login before the certificate is read), a cancelled
// PIN prompt comes back as the UI's own error, and a URI error reads as the
// subcommand's.
func TestGuidedOpenCustodian(t *testing.T) {
	set := tuiVectors + "/sd/n3_q2_rsa2048"
	tok := softhsmtest.New(t, "custodian-9")
	key, err := securitydomain.ParsePrivateKeyPEM(tuiRead(t, set+"/wrap_0.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := securitydomain.ParseCertificate(tuiRead(t, set+"/wrap_0.cer"))
	if err != nil {
		t.Fatal(err)
	}
	tok.WritePrivateKey(t, key, softhsmtest.Options{Label: "wrap", ID: "07", Sensitive: true})
	tok.WriteCertificate(t, cert.Raw, softhsmtest.Options{Label: "cert-of-wrap", ID: "07"})

	// A wrong PIN entered earlier: the warning comes before the prompt.
	tok.WrongPIN(t)
	var prompts []string
	c, closeKey, err := guidedOpenCustodian(tok.URI("wrap"), func(p string) ([]byte, error) {
		prompts = append(prompts, p)
		return []byte(tok.PIN), nil
	}, hsm.LoginOptions{Warn: func(m string) { prompts = append(prompts, "warning: "+m) }})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Cert.Equal(cert) || len(prompts) != 2 || !strings.HasPrefix(prompts[0], `warning: token "custodian-9": a wrong PIN was entered since the last successful login`) ||
		prompts[1] != `PIN for token "custodian-9" (not shown)` {
		t.Fatalf("certificate %v, prompts %q", c.Cert.Subject, prompts)
	}
	if err := closeKey(); err != nil {
		t.Fatal(err)
	}

	_, _, err = guidedOpenCustodian(tok.URI("wrap"), func(string) ([]byte, error) { return nil, ceremony.ErrCancelled }, hsm.LoginOptions{})
	if err != ceremony.ErrCancelled {
		t.Fatalf("cancelled PIN prompt: %v", err)
	}
	_, _, err = guidedOpenCustodian("pkcs11:token=custodian-9?module-path="+tok.Module, nil, hsm.LoginOptions{})
	if err == nil || err.Error() != "--wrapping-key: custodian: key source pkcs11:token=custodian-9?module-path="+tok.Module+" names no key: add object=LABEL or id=ID" {
		t.Fatalf("URI naming no key: %v", err)
	}
}

// TestGuidedExportChosenFromList: the guided export lists the token's keys
// (after one PIN) and exports three chosen from the list in one batch, on a
// real SoftHSM2 token; a wrong PIN at the listing is asked again; each
// .byok is opened independently and compared with the key that went in. A
// key that is not extractable is listed but refused when chosen.
func TestGuidedExportChosenFromList(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	keys := map[string][]byte{}
	for i, size := range []int{16, 24, 32} {
		k := make([]byte, size)
		rand.Read(k)
		label := fmt.Sprintf("aes-%d", size*8)
		keys[label] = k
		tok.WriteSecretKey(t, k, softhsmtest.Options{Label: label, ID: fmt.Sprintf("1%d", i), Extractable: true, Sensitive: true})
	}
	tok.WriteSecretKey(t, bytes.Repeat([]byte{1}, 32), softhsmtest.Options{Label: "locked-in", ID: "20", Sensitive: true})
	kekPEM := filepath.Join(t.TempDir(), "kek.pem")
	os.WriteFile(kekPEM, tuiRead(t, tuiVectors+"/byok/kek-rsa2048.pem"), 0o644)
	const mhsmKid = "https://keyrite-test.managedhsm.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"
	outDir := filepath.Join(t.TempDir(), "out")

	b := guidedBackends()
	b.Discovery.Modules = func() []ceremony.ModuleChoice {
		return []ceremony.ModuleChoice{{Path: tok.Module, Source: "test"}}
	}
	// Options are listed by label: aes-128, aes-192, aes-256, locked-in.
	ui := ceremonytest.New(t, kekPEM, mhsmKid, tuiKEKWords(t, kekPEM),
		"1", "1", "1", // list; the module; the token
		"0000", tok.PIN, // a wrong PIN, then the right one
		"4",    // locked-in: refused (not extractable)
		"1-3",  // the three AES keys
		outDir, // a new directory for the batch
		"1")
	e := &ceremony.Engine{UI: ui, Backends: b}
	if err := e.BYOKExport(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains("error: Wrong PIN", "locked-in is not extractable", "ok: Exported AES-128", "ok: Exported AES-192", "ok: Exported AES-256", "KCV:")
	for label, k := range keys {
		if got := tuiUnwrap(t, filepath.Join(outDir, label+".byok")); !bytes.Equal(got, k) {
			t.Errorf("%s: the unwrapped key differs from the key on the token", label)
		}
	}
	if regexp.MustCompile(`(^|[^0-9A-Za-z])` + softhsmtest.PIN + `($|[^0-9A-Za-z])`).MatchString(ui.Log()) {
		t.Error("the PIN is in the log")
	}
}

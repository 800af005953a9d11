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
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/kwp/subtle"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/ceremonytest"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
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
	ui := ceremonytest.New(t, tuiVectors+"/byok/kek-rsa2048.json", "y", "1", tok.URI("rsa-key"), refused, "", "y", tok.PIN)
	e := &ceremony.Engine{UI: ui, Backends: guidedBackends()}
	if err := e.BYOKExport(); err == nil || !strings.Contains(err.Error(), "pre-flight check failed") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(refused); err == nil {
		t.Fatal("output written after a failed pre-flight check")
	}

	out := filepath.Join(t.TempDir(), "app-key.byok")
	ui = ceremonytest.New(t, kekPEM, mhsmKid, "y", "1", tok.URI("app-key"), out, "", "y", tok.PIN)
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
	ui := ceremonytest.New(t, set+"/sd.json", set+"/exchange_cert.pem", "y", out, "y",
		"1", uris[1], softhsmtest.PIN,
		"1", uris[0], "0000", // wrong PIN: refused, asked again
		"1", uris[0], softhsmtest.PIN)
	e := &ceremony.Engine{UI: ui, Backends: guidedBackends()}
	if err := e.SDRestore(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains(`PIN for token "custodian-2" (not shown)`, "custodian 1: share opened (x=3",
		`token "custodian-1": C_Login (token "custodian-1"): CKR_PIN_INCORRECT`,
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
	if err == nil || err.Error() != "--wrapping-key pkcs11:token=custodian-9?module-path="+tok.Module+" names no key: add object=LABEL or id=ID" {
		t.Fatalf("URI naming no key: %v", err)
	}
}

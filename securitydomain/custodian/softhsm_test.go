package custodian_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
)

// cards makes two SoftHSM2 tokens holding the vector's custodian keys:
// "alice" has wrap_0 and wrap_1, each with its certificate under the key's
// label; "bob" has wrap_2, its certificate under another label with the
// key's CKA_ID.
func cards(t *testing.T) (alice, bob *softhsmtest.Token) {
	t.Helper()
	conf, dir := softhsmtest.Env(t)
	alice = softhsmtest.AddToken(t, conf, dir, "alice")
	bob = softhsmtest.AddToken(t, conf, dir, "bob")
	put := func(tok *softhsmtest.Token, i int, keyLabel, certLabel, id string) {
		n := string(rune('0' + i))
		key, err := securitydomain.ParsePrivateKeyPEM(read(t, vectors+"/wrap_"+n+".pem"), nil)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := securitydomain.ParseCertificate(read(t, vectors+"/wrap_"+n+".cer"))
		if err != nil {
			t.Fatal(err)
		}
		tok.WritePrivateKey(t, key, softhsmtest.Options{Label: keyLabel, ID: id, Sensitive: true})
		tok.WriteCertificate(t, cert.Raw, softhsmtest.Options{Label: certLabel, ID: id})
	}
	put(alice, 0, "wrap0", "wrap0", "00")
	put(alice, 1, "wrap1", "wrap1", "01")
	put(bob, 2, "wrap", "bob-cert", "02")
	return alice, bob
}

// pins answers PIN prompts with pin and records them.
type pins struct {
	pin     string
	err     error
	prompts []string
}

func (p *pins) ask(prompt string) ([]byte, error) {
	p.prompts = append(p.prompts, prompt)
	if p.err != nil {
		return nil, p.err
	}
	return []byte(p.pin), nil
}

// TestTokenKeys loads three keys on two tokens: no PIN at load when the
// certificate has the key's label, one PIN per token at first use (the
// token's OAEP refused, so raw RSA with OAEP decoded on the host), the
// certificate found by CKA_ID, the transcript's token list, and Close.
func TestTokenKeys(t *testing.T) {
	alice, bob := cards(t)
	p := &pins{pin: softhsmtest.PIN}
	l := custodian.NewLoader(custodian.Options{PIN: p.ask})
	defer l.Close()
	c0, err := l.Load(alice.URI("wrap0"))
	if err != nil {
		t.Fatal(err)
	}
	c1, err := l.Load(alice.URI("wrap1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.prompts) != 0 {
		t.Fatalf("PIN asked at load: %q", p.prompts)
	}
	if c0.Name != alice.URI("wrap0") || securitydomain.MechanismOf(c0.Key) != "" {
		t.Errorf("name %q, mechanism %q before use", c0.Name, securitydomain.MechanismOf(c0.Key))
	}
	checkKey(t, c0)
	checkKey(t, c1)
	checkKey(t, c0)
	if len(p.prompts) != 1 || p.prompts[0] != `PIN for token "alice"` {
		t.Fatalf("prompts %q, want one for alice", p.prompts)
	}
	if m := securitydomain.MechanismOf(c1.Key); m != securitydomain.MechRawOAEP {
		t.Errorf("mechanism %q, want %q (SoftHSM 2.6.1 has no OAEP-SHA-256)", m, securitydomain.MechRawOAEP)
	}

	// bob's certificate is not under the key's label: the loader logs in
	// to find the key's CKA_ID, at load.
	c2, err := l.Load(bob.URI("wrap"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.prompts) != 2 || p.prompts[1] != `PIN for token "bob"` {
		t.Fatalf("prompts %q, want bob's at load", p.prompts)
	}
	if want, _ := securitydomain.ParseCertificate(read(t, vectors+"/wrap_2.cer")); want == nil || !want.Equal(c2.Cert) {
		t.Fatal("bob's certificate is not wrap_2.cer")
	}
	checkKey(t, c2)
	if len(p.prompts) != 2 {
		t.Fatalf("prompts %q", p.prompts)
	}

	info, all := l.HSMInfo()
	if info == nil || info.TokenLabel != "alice" || info.ModulePath != alice.Module || info.ModuleSHA256 == "" || info.Manufacturer != "SoftHSM project" {
		t.Errorf("HSMInfo %+v", info)
	}
	if len(all) != 2 || !strings.HasPrefix(all[0], "alice (SoftHSM project SoftHSM v2, serial ") || !strings.HasPrefix(all[1], "bob (") {
		t.Errorf("tokens %q", all)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c0.Key.DecryptOAEPSHA256(make([]byte, 256)); err == nil {
		t.Error("a key still decrypts after Close")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestTokenOpen is the guided ceremony's use: Open asks the PIN and finds
// the key at once; the same token reached twice shares one session.
func TestTokenOpen(t *testing.T) {
	alice, _ := cards(t)
	p := &pins{pin: softhsmtest.PIN}
	l := custodian.NewLoader(custodian.Options{PIN: p.ask})
	defer l.Close()
	c, err := l.Open(alice.URI("wrap1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.prompts) != 1 {
		t.Fatalf("prompts %q", p.prompts)
	}
	checkKey(t, c)
	u, err := hsm.ParseURI("pkcs11:token=alice?module-path=" + alice.Module)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := l.Token(u)
	if err != nil {
		t.Fatal(err)
	}
	tok2, _ := l.Token(u)
	if tok != tok2 || tok.Label() != "alice" || tok.Session() == nil {
		t.Errorf("Token: %p %p %q", tok, tok2, tok.Label())
	}
	if err := tok.Login(); err != nil || len(p.prompts) != 1 {
		t.Errorf("Login on a logged-in token: %v, %d prompts", err, len(p.prompts))
	}
	if _, all := l.HSMInfo(); len(all) != 1 {
		t.Errorf("tokens %q", all)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTokenPINSource reads the PIN from the URI's pin-source file instead of
// asking.
func TestTokenPINSource(t *testing.T) {
	alice, _ := cards(t)
	f := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(f, []byte(softhsmtest.PIN+"\n"), 0o600)
	p := &pins{err: errors.New("must not be asked")}
	l := custodian.NewLoader(custodian.Options{PIN: p.ask})
	defer l.Close()
	c, err := l.Open(alice.URI("wrap0") + "&pin-source=" + f)
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, c)
	if len(p.prompts) != 0 {
		t.Errorf("prompts %q", p.prompts)
	}
}

func TestTokenErrors(t *testing.T) {
	alice, bob := cards(t)
	mod := alice.Module
	// A key with no certificate at all, and a certificate whose key is not
	// the one stored with its CKA_ID.
	key0, _ := securitydomain.ParsePrivateKeyPEM(read(t, vectors+"/wrap_0.pem"), nil)
	cert1, _ := securitydomain.ParseCertificate(read(t, vectors+"/wrap_1.cer"))
	bob.WritePrivateKey(t, key0, softhsmtest.Options{Label: "lonely", ID: "0a", Sensitive: true})
	bob.WritePrivateKey(t, key0, softhsmtest.Options{Label: "odd", ID: "0b", Sensitive: true})
	bob.WriteCertificate(t, cert1.Raw, softhsmtest.Options{Label: "odd", ID: "0b"})
	// A certificate whose key is missing.
	bob.WriteCertificate(t, cert1.Raw, softhsmtest.Options{Label: "orphan", ID: "0c"})

	cancelled := errors.New("cancelled by the custodian")
	for _, tc := range []struct {
		name, src string
		pin       *pins
		open      bool
		text      string
		targets   []error
	}{
		{"invalid URI", "pkcs11:token=alice;object=wrap0;pin-value=1234", nil, false, "key source: hsm: invalid PKCS#11 URI", []error{custodian.ErrSource, hsm.ErrURI}},
		{"type=public", "pkcs11:token=alice;object=wrap0;type=public?module-path=" + mod, nil, false, "type=public, want the private key", []error{custodian.ErrSource}},
		{"no key named", "pkcs11:token=alice?module-path=" + mod, nil, false, "names no key: add object=LABEL or id=ID", []error{custodian.ErrSource}},
		{"no module-path", "pkcs11:token=alice;object=wrap0", nil, false, "PKCS#11 URI pkcs11:token=alice;object=wrap0 has no module-path", []error{custodian.ErrModule}},
		{"module missing", "pkcs11:token=alice;object=wrap0?module-path=/nonexistent.so", nil, false, "hsm: cannot load PKCS#11 module /nonexistent.so", []error{custodian.ErrModule, hsm.ErrModuleLoad}},
		{"no such token", "pkcs11:token=carol;object=wrap0?module-path=" + mod, nil, false, `no token with label "carol"`, []error{custodian.ErrToken, hsm.ErrTokenNotFound}},
		{"no PIN source", alice.URI("wrap0"), nil, true, `token "alice": no PIN source was given`, []error{custodian.ErrNoSecret}},
		{"PIN callback fails", alice.URI("wrap0"), &pins{err: cancelled}, true, `token "alice": cancelled by the custodian`, []error{custodian.ErrNoSecret, cancelled}},
		{"wrong PIN", alice.URI("wrap0"), &pins{pin: "999999"}, true, "CKR_PIN_INCORRECT", []error{custodian.ErrLogin, hsm.ErrPINIncorrect}},
		{"no certificate", bob.URI("lonely"), &pins{pin: softhsmtest.PIN}, false, `no certificate with the key's id 0a on token "bob"`, []error{custodian.ErrCertificate, hsm.ErrObjectNotFound}},
		{"no key for the certificate", bob.URI("orphan"), &pins{pin: softhsmtest.PIN}, true, `no private key object "orphan" with id 0c on token "bob"`, []error{custodian.ErrKeyNotFound, hsm.ErrObjectNotFound}},
		{"key and certificate differ", bob.URI("odd"), &pins{pin: softhsmtest.PIN}, true, `the private key on token "bob" does not match the certificate stored beside it`, []error{custodian.ErrMismatch}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts custodian.Options
			if tc.pin != nil {
				opts.PIN = tc.pin.ask
			}
			l := custodian.NewLoader(opts)
			defer l.Close()
			var err error
			if tc.open {
				_, err = l.Open(tc.src)
			} else {
				_, err = l.Load(tc.src)
			}
			wantErr(t, err, tc.text, tc.targets...)
			if strings.Contains(err.Error(), `"`+softhsmtest.PIN+`"`) || strings.Contains(err.Error(), "999999") {
				t.Errorf("a PIN is in the error: %v", err)
			}
			if tc.open && tc.pin != nil {
				// Load alone does not ask (the certificate has the key's label).
				l2 := custodian.NewLoader(opts)
				defer l2.Close()
				if _, err := l2.Load(tc.src); err != nil {
					t.Errorf("Load: %v", err)
				}
				if len(tc.pin.prompts) != 1 {
					t.Errorf("prompts %q, want one (by Open)", tc.pin.prompts)
				}
			}
		})
	}
}

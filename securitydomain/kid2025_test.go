package securitydomain

import (
	"crypto/rand"
	"crypto/x509"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The current form of the security domain: since 2025 the service gives
// each share JWE its own kid, a UUID, where older SDs say "not used". The
// vector in testvectors/sd/kid2025 was made by NewSecurityDomain (the
// service side, as the emulator uses it) over the n3_q2_rsa2048 set's
// certificates and payloads; see its SOURCE.md. Regenerate it with
//
//	KEYRITE_WRITE_VECTORS=1 go test -run TestWriteKid2025Vector ./securitydomain

const kid2025Dir = vectorDir + "/kid2025"

// uuidForm is the text form of the service's share kids (random 128 bits,
// no fixed version bits in the recorded ones).
var uuidForm = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestWriteKid2025Vector(t *testing.T) {
	if os.Getenv("KEYRITE_WRITE_VECTORS") == "" {
		t.Skip("set KEYRITE_WRITE_VECTORS=1 to regenerate testvectors/sd/kid2025")
	}
	set := filepath.Join(vectorDir, "n3_q2_rsa2048")
	old, err := ParseSD(readFile(t, filepath.Join(set, "sd.json")))
	if err != nil {
		t.Fatal(err)
	}
	payloads, err := OpenSecurityDomain(old.Marshal(), custodiansFrom(t, set, []string{"wrap_0.pem", "wrap_1.pem"}))
	if err != nil {
		t.Fatal(err)
	}
	var certs = custodiansFrom(t, set, []string{"wrap_0.pem", "wrap_1.pem", "wrap_2.pem"})
	sd, err := NewSecurityDomain([]*x509.Certificate{certs[0].Cert, certs[1].Cert, certs[2].Cert}, 2, payloads, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kid2025Dir, "sd.json"), sd, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestKid2025Vector(t *testing.T) {
	set := filepath.Join(vectorDir, "n3_q2_rsa2048")
	data := readFile(t, filepath.Join(kid2025Dir, "sd.json"))
	sd, err := ParseSD(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := sd.ShareKidForm(); got != KidFormPerShare {
		t.Errorf("ShareKidForm = %q, want %q", got, KidFormPerShare)
	}
	seen := map[string]bool{}
	for i, s := range sd.Shares {
		if !uuidForm.MatchString(s.Kid) || seen[s.Kid] {
			t.Errorf("share %d kid %q: want a distinct UUID", i, s.Kid)
		}
		seen[s.Kid] = true
	}
	if string(sd.Marshal()) != strings.TrimSpace(string(data)) {
		t.Error("the SD does not re-encode to the same bytes")
	}
	want := expectedPlaintexts(t, filepath.Join(set, "expected_plaintexts.json"))

	t.Run("restore", func(t *testing.T) {
		exKey := readKey(t, filepath.Join(set, "exchange_key.pem"))
		exCert := readCert(t, filepath.Join(set, "exchange_cert.pem"))
		res, err := Restore(sd, exCert, custodiansFrom(t, set, []string{"wrap_2.pem", "wrap_0.pem"}), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range res.Shares {
			if st.ShareKid != sd.Shares[st.Index].Kid {
				t.Errorf("%s: ShareKid %q, want %q", st.Custodian, st.ShareKid, sd.Shares[st.Index].Kid)
			}
		}
		// Independent path: the service side opens the blob with the
		// exchange private key.
		got, err := OpenRestoreBlob(res.Blob.Marshal(), exKey, exCert)
		if err != nil {
			t.Fatal(err)
		}
		checkPayloads(t, got, want)
	})
	t.Run("drill", func(t *testing.T) {
		r, err := Verify(sd, custodiansFrom(t, set, []string{"wrap_0.pem", "wrap_1.pem", "wrap_2.pem"}))
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK || r.KidForm != KidFormPerShare {
			t.Fatalf("drill: ok %v, kid form %q; problems %v", r.OK, r.KidForm, r.Problems)
		}
	})
}

func TestLegacyVectorsKidForm(t *testing.T) {
	for _, set := range []string{"n3_q2_rsa2048", "n3_q3_rsa3072_4096"} {
		sd, err := ParseSD(readFile(t, filepath.Join(vectorDir, set, "sd.json")))
		if err != nil {
			t.Fatal(err)
		}
		if got := sd.ShareKidForm(); got != KidFormLegacy {
			t.Errorf("%s: ShareKidForm = %q, want %q", set, got, KidFormLegacy)
		}
	}
}

// TestShareKidAnyString: a share's kid may be any string; alg and enc are
// still checked, and so is the header's form (no extra or critical fields).
func TestShareKidAnyString(t *testing.T) {
	set := filepath.Join(vectorDir, "n3_q2_rsa2048")
	sd, err := ParseSD(readFile(t, filepath.Join(set, "sd.json")))
	if err != nil {
		t.Fatal(err)
	}
	rekid := func(header string) []byte {
		c := *sd
		c.Shares = append([]EncShare(nil), sd.Shares...)
		s := c.Shares[1].EncKey
		c.Shares[1].EncKey = b64u.EncodeToString([]byte(header)) + s[strings.Index(s, "."):]
		return c.Marshal()
	}
	for _, kid := range []string{"acecd9a3-5b0e-4f54-9d3c-1e6a2b7c8d90", "", "anything at all", "ü"} {
		got, err := ParseSD(rekid(jweHeader(AlgRSAOAEP256, kid)))
		if err != nil {
			t.Errorf("kid %q: %v", kid, err)
			continue
		}
		if got.Shares[1].Kid != kid || got.ShareKidForm() != KidFormMixed {
			t.Errorf("kid %q: parsed kid %q, form %q", kid, got.Shares[1].Kid, got.ShareKidForm())
		}
	}
	for name, header := range map[string]string{
		"wrong alg":   jweHeader("RSA-OAEP", "x"),
		"dir alg":     jweHeader(AlgDir, "x"),
		"wrong enc":   `{"alg":"RSA-OAEP-256","enc":"A128CBC-HS256","kid":"x"}`,
		"crit":        `{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512","kid":"x","crit":["exp"],"exp":1}`,
		"extra field": `{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512","kid":"x","zip":"DEF"}`,
		"no kid":      `{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512"}`,
		"kid number":  `{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512","kid":1}`,
	} {
		if _, err := ParseSD(rekid(header)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

package securitydomain

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/miekg/pkcs11"
)

// tokenCustodian opens the custodian key labelled "wrap" on tok.
func tokenCustodian(t *testing.T, tok *softhsmtest.Token, cert *x509.Certificate) Custodian {
	t.Helper()
	s := tok.Session(t)
	obj, err := s.FindOne("wrap", []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "wrap"),
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
	})
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.RSAPrivateKey(obj)
	if err != nil {
		t.Fatal(err)
	}
	if !SameRSAKey(k.Public(), cert.PublicKey) {
		t.Fatal("token key does not match the certificate")
	}
	return Custodian{Name: tok.Label, Cert: cert, Key: NewTokenDecrypter(k)}
}

// TestRestoreWithTokens: three custodians, each key on its own SoftHSM token
// (one configuration, three tokens), non-extractable. The service side makes
// a 2-of-3 SD; every pair restores through the tokens (raw RSA, OAEP decoded
// on the host) and the blob opens to the payloads; a share that was altered
// is reported against its key.
func TestRestoreWithTokens(t *testing.T) {
	conf, dir := softhsmtest.Env(t)
	ks := testKeys(t)["2048"]
	var toks []*softhsmtest.Token
	var certs []*x509.Certificate
	for i := range 3 {
		tok := softhsmtest.AddToken(t, conf, dir, fmt.Sprintf("custodian%d", i))
		tok.WritePrivateKey(t, ks[i].key, softhsmtest.Options{Label: "wrap", ID: "01", Sensitive: true})
		toks = append(toks, tok)
		certs = append(certs, ks[i].cert)
	}
	payloads := testPayloads()
	sdJSON, err := NewSecurityDomain(certs, 2, payloads, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := ParseSD(sdJSON)
	if err != nil {
		t.Fatal(err)
	}
	var cs []Custodian
	for i, tok := range toks {
		cs = append(cs, tokenCustodian(t, tok, certs[i]))
	}
	ex := ks[9]
	forSubsets(3, 2, func(idx []int) {
		sub := []Custodian{cs[idx[1]], cs[idx[0]]}
		res, err := Restore(sd, ex.cert, sub, rand.Reader)
		if err != nil {
			t.Fatalf("keys %v: %v", idx, err)
		}
		for _, s := range res.Shares {
			if s.Mechanism != MechRawOAEP && s.Mechanism != MechOAEP {
				t.Errorf("mechanism %q", s.Mechanism)
			}
		}
		got, err := OpenRestoreBlob(res.Blob.Marshal(), ex.key, ex.cert)
		if err != nil {
			t.Fatal(err)
		}
		samePayloads(t, got, payloads)
	})
	r, err := Verify(sd, cs)
	if err != nil || !r.OK || r.Subsets != 3 {
		t.Fatalf("drill: %+v, %v", r, err)
	}

	// Alter custodian 1's share ciphertext: the restore names the key, the
	// drill reports it and still passes with the other two.
	bad := *sd
	bad.Shares = append([]EncShare(nil), sd.Shares...)
	bad.shares = append([]*jwe(nil), sd.shares...)
	j := *sd.shares[1]
	j.ct = append([]byte(nil), j.ct...)
	j.ct[0] ^= 1
	bad.shares[1] = &j
	_, err = Restore(&bad, ex.cert, []Custodian{cs[1], cs[2]}, rand.Reader)
	if !errors.Is(err, ErrAuthentication) || !strings.Contains(err.Error(), "wrapping key custodian1: opening its share SharedKeys.enc_shares[1]") {
		t.Fatalf("tampered share: %v", err)
	}
	r, err = Verify(&bad, cs)
	if err != nil || !r.OK || r.Opened != 2 || r.Keys[1].Opened {
		t.Fatalf("drill with a tampered share: %+v, %v", r, err)
	}
}

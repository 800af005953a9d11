package hsm_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
)

// PublicKeyOf gives the public half of a token's private key without
// touching private material: RSA from the private object, EC from the
// matching public object.
func TestPublicKeyOf(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tok.WritePrivateKey(t, rk, softhsmtest.Options{Label: "rsa", ID: "01", Extractable: true, Sensitive: true})
	var ecs []*ecdsa.PrivateKey
	for i, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, _ := ecdsa.GenerateKey(c, rand.Reader)
		ecs = append(ecs, k)
		id := []string{"02", "03", "04"}[i]
		tok.WritePrivateKey(t, k, softhsmtest.Options{Label: "ec-" + id, ID: id, Extractable: true, Sensitive: true})
		tok.WritePublicKey(t, &k.PublicKey, softhsmtest.Options{Label: "ec-" + id, ID: id})
	}
	lonely, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok.WritePrivateKey(t, lonely, softhsmtest.Options{Label: "lonely", ID: "05", Sensitive: true})
	s := open(t, tok)

	find := func(label string) *hsm.Object {
		u, err := hsm.ParseURI(tok.URI(label))
		if err != nil {
			t.Fatal(err)
		}
		u.Type = "private"
		o, err := s.FindURI(u)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	pub, err := s.PublicKeyOf(find("rsa"))
	if err != nil || !rk.PublicKey.Equal(pub) {
		t.Fatalf("RSA: %v, %v", pub, err)
	}
	for i, k := range ecs {
		pub, err := s.PublicKeyOf(find("ec-" + []string{"02", "03", "04"}[i]))
		if err != nil || !k.PublicKey.Equal(pub) {
			t.Fatalf("%s: %v", k.Curve.Params().Name, err)
		}
	}
	// No public object: an error naming what was looked for, not a guess.
	if _, err := s.PublicKeyOf(find("lonely")); !errors.Is(err, hsm.ErrObjectNotFound) {
		t.Fatalf("lonely EC key: %v", err)
	}
}

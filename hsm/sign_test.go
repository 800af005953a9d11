package hsm_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
)

func TestECDSASignerSoftHSM(t *testing.T) {
	tok := softhsmtest.New(t, "signer")
	tok.Tool(t, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "transcript-signer", "--id", "0a")
	u, err := hsm.ParseURI(tok.URI("transcript-signer"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := hsm.OpenSigner(u, []byte(tok.PIN))
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	pub, ok := ts.Public().(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("public key %T", ts.Public())
	}
	d := sha256.Sum256([]byte("checkpoint"))
	sig, err := ts.Sign(nil, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	// Independent check with crypto/ecdsa.
	if !ecdsa.VerifyASN1(pub, d[:], sig) {
		t.Fatal("signature does not verify with crypto/ecdsa")
	}
	if _, err := ts.Sign(nil, d[:], crypto.SHA384); err == nil {
		t.Fatal("SHA-384 accepted")
	}
}

func TestOpenSignerWrongPIN(t *testing.T) {
	tok := softhsmtest.New(t, "signer")
	tok.Tool(t, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "k", "--id", "01")
	u, err := hsm.ParseURI(tok.URI("k"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hsm.OpenSigner(u, []byte("0000")); !errors.Is(err, hsm.ErrPINIncorrect) {
		t.Fatalf("got %v, want ErrPINIncorrect", err)
	}
}

func TestOpenSignerRSARefused(t *testing.T) {
	tok := softhsmtest.New(t, "signer")
	tok.Tool(t, "--keypairgen", "--key-type", "rsa:2048", "--label", "k", "--id", "01")
	u, err := hsm.ParseURI(tok.URI("k"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hsm.OpenSigner(u, []byte(tok.PIN)); err == nil {
		t.Fatal("RSA key accepted for transcript signing")
	}
}

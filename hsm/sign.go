package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/miekg/pkcs11"
)

// MechECDSA names the signing mechanism for transcripts.
const MechECDSA = "CKM_ECDSA"

// ECDSASigner is an ECDSA P-256 private key on a token, used as a
// crypto.Signer (CKM_ECDSA over a SHA-256 digest computed by the caller):
// what smartcards and HSMs commonly offer for signing ceremony transcripts.
// The public key comes from the matching public-key object (same CKA_ID, or
// the same label when the key has no id).
type ECDSASigner struct {
	s   *Session
	obj *Object
	pub *ecdsa.PublicKey
}

// ECDSASigner wraps priv, which must be an EC private key on P-256 with a
// matching public-key object on the token.
func (s *Session) ECDSASigner(priv *Object) (*ECDSASigner, error) {
	if priv.Class != pkcs11.CKO_PRIVATE_KEY || priv.KeyType != pkcs11.CKK_EC {
		return nil, fmt.Errorf("hsm: %s is not an EC private key", priv.Summary())
	}
	if priv.Curve != "P-256" {
		return nil, fmt.Errorf("hsm: %s: curve %q; transcript signing on a token needs ECDSA P-256", priv.Summary(), priv.Curve)
	}
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
	}
	what := fmt.Sprintf("public key matching %s", priv.Summary())
	if len(priv.ID) > 0 {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, priv.ID))
	} else {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, priv.Label))
	}
	pubObj, err := s.FindOne(what, tmpl)
	if err != nil {
		return nil, err
	}
	got, err := s.attrs(pubObj.Handle, pkcs11.CKA_EC_POINT)
	if err != nil {
		return nil, err
	}
	pub, err := parseECPoint(elliptic.P256(), got[pkcs11.CKA_EC_POINT])
	if err != nil {
		return nil, fmt.Errorf("hsm: %s: %w", pubObj.Summary(), err)
	}
	return &ECDSASigner{s: s, obj: priv, pub: pub}, nil
}

// Public returns the *ecdsa.PublicKey.
func (k *ECDSASigner) Public() crypto.PublicKey { return k.pub }

// Object returns the private key's description.
func (k *ECDSASigner) Object() *Object { return k.obj }

// Sign signs a SHA-256 digest with CKM_ECDSA and returns the ASN.1 DER
// signature crypto/ecdsa uses. The signature is verified with the public key
// before it is returned.
func (k *ECDSASigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, errors.New("hsm: token ECDSA signing takes a SHA-256 digest")
	}
	ctx := "signing with " + k.obj.Summary()
	if err := k.s.p.SignInit(k.s.h, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, k.obj.Handle); err != nil {
		return nil, wrapErr("C_SignInit", ctx, err)
	}
	raw, err := k.s.p.Sign(k.s.h, digest)
	if err != nil {
		return nil, wrapErr("C_Sign", ctx, err)
	}
	if len(raw) != 64 {
		return nil, fmt.Errorf("hsm: C_Sign (%s): %d-byte ECDSA signature, want 64 (r||s)", ctx, len(raw))
	}
	sig, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
	if err != nil {
		return nil, fmt.Errorf("hsm: encoding the signature: %w", err)
	}
	if !ecdsa.VerifyASN1(k.pub, digest, sig) {
		return nil, fmt.Errorf("hsm: the token's signature does not verify (%s)", k.obj.Summary())
	}
	return sig, nil
}

// TokenSigner is an ECDSASigner together with the module and session it
// needs, for commands that sign once and exit.
type TokenSigner struct {
	*ECDSASigner
	Module  *Module
	Session *Session
}

// OpenSigner loads the module named by the URI (module-path), finds the
// token, logs in with pin (wiped), and finds the one private key the URI
// names (type=private is implied). Close releases everything. The login
// refuses a locked PIN and the final try (see [LoginOptions]); use
// OpenSignerWith to allow the final try or to see warnings.
func OpenSigner(u *URI, pin []byte) (*TokenSigner, error) {
	return OpenSignerWith(u, pin, LoginOptions{})
}

// OpenSignerWith is OpenSigner with the login's treatment of the token's
// PIN counter given by o.
func OpenSignerWith(u *URI, pin []byte, o LoginOptions) (*TokenSigner, error) {
	defer clear(pin)
	if u.ModulePath == "" {
		return nil, fmt.Errorf("%w: %s has no module-path", ErrURI, u.Redacted())
	}
	m, err := Load(u.ModulePath)
	if err != nil {
		return nil, err
	}
	ts := &TokenSigner{Module: m}
	slot, err := m.FindToken(u.TokenFilter())
	if err != nil {
		ts.Close()
		return nil, err
	}
	if ts.Session, err = m.OpenSession(slot); err != nil {
		ts.Close()
		return nil, err
	}
	if err := ts.Session.LoginWith(pin, o); err != nil {
		ts.Close()
		return nil, err
	}
	tmpl := u.ObjectTemplate()
	if len(tmpl) == 0 {
		ts.Close()
		return nil, fmt.Errorf("%w: %s names no object (give object=LABEL or id=...)", ErrURI, u.Redacted())
	}
	if u.Type == "" {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY))
	}
	obj, err := ts.Session.FindOne(u.ObjectDescription(), tmpl)
	if err != nil {
		ts.Close()
		return nil, err
	}
	if ts.ECDSASigner, err = ts.Session.ECDSASigner(obj); err != nil {
		ts.Close()
		return nil, err
	}
	return ts, nil
}

// Close logs out and releases the session and module.
func (ts *TokenSigner) Close() error {
	var err error
	if ts.Session != nil {
		ts.Session.Logout()
		err = ts.Session.Close()
		ts.Session = nil
	}
	if ts.Module != nil {
		if cerr := ts.Module.Close(); err == nil {
			err = cerr
		}
		ts.Module = nil
	}
	return err
}

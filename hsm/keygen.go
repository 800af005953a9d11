package hsm

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"

	"github.com/miekg/pkcs11"
)

// RSAKeyPairOptions describe a token RSA key pair for GenerateRSAKeyPair.
type RSAKeyPairOptions struct {
	Bits  int
	Label string // CKA_LABEL of both keys; must not exist on the token yet
	ID    []byte // CKA_ID of both keys (and later the certificate); must not exist yet
	// Sign sets CKA_SIGN on the private key so that it can sign its own
	// certificate; call DisableSign right after, leaving a decrypt-only key.
	Sign bool
}

// GenerateRSAKeyPair generates an RSA key pair on the token as token objects:
// the private key private, sensitive, never extractable (CKA_EXTRACTABLE
// false), usable for decryption (CKA_DECRYPT) and not for unwrapping; the
// public key for encryption and verification. Public exponent 65537. It
// refuses a label or id that already names an object, and reads the new
// private key back to check those attributes and that both halves share the
// modulus.
func (s *Session) GenerateRSAKeyPair(o RSAKeyPairOptions) (*RSAPrivateKey, error) {
	if o.Bits < 2048 || o.Bits > 8192 || o.Bits%8 != 0 {
		return nil, fmt.Errorf("hsm: RSA key size %d out of range", o.Bits)
	}
	if o.Label == "" || len(o.ID) == 0 {
		return nil, errors.New("hsm: a generated key needs a label and an id")
	}
	for _, t := range [][]*pkcs11.Attribute{
		{pkcs11.NewAttribute(pkcs11.CKA_LABEL, o.Label)},
		{pkcs11.NewAttribute(pkcs11.CKA_ID, bytes.Clone(o.ID))},
	} {
		hs, err := s.Find(t)
		if err != nil {
			return nil, err
		}
		if len(hs) > 0 {
			obj, _ := s.Object(hs[0])
			desc := "an object"
			if obj != nil {
				desc = obj.Summary()
			}
			return nil, fmt.Errorf("hsm: token %q already holds %s with this label or id; choose another label or token (keyrite never reuses or overwrites a key)", s.Slot.Token.Label, desc)
		}
	}
	pubT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, o.Bits),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, o.Label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, bytes.Clone(o.ID)),
	}
	privT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, o.Sign),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, o.Label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, bytes.Clone(o.ID)),
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)}
	pubH, privH, err := s.p.GenerateKeyPair(s.h, mech, pubT, privT)
	if err != nil {
		return nil, wrapErr("C_GenerateKeyPair", fmt.Sprintf("RSA-%d %q", o.Bits, o.Label), err)
	}
	priv, err := s.Object(privH)
	if err != nil {
		return nil, err
	}
	pub, err := s.Object(pubH)
	if err != nil {
		return nil, err
	}
	switch {
	case priv.Extractable || !priv.Sensitive:
		return nil, fmt.Errorf("hsm: token %q made key %q extractable or not sensitive despite the template", s.Slot.Token.Label, o.Label)
	case priv.Bits != o.Bits:
		return nil, fmt.Errorf("hsm: token %q made an RSA-%d key, asked for RSA-%d", s.Slot.Token.Label, priv.Bits, o.Bits)
	case !bytes.Equal(priv.Modulus, pub.Modulus) || !bytes.Equal(priv.PublicExponent, pub.PublicExponent):
		return nil, fmt.Errorf("hsm: token %q: the new public and private keys %q differ", s.Slot.Token.Label, o.Label)
	}
	return s.RSAPrivateKey(priv)
}

// sha256DigestInfo is the DER DigestInfo prefix for SHA-256 (RFC 8017 §9.2).
var sha256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// Sign implements crypto.Signer for RSASSA-PKCS1-v1_5 with SHA-256 only
// (CKM_RSA_PKCS over the DigestInfo), which is what a self-signed custodian
// certificate needs. The signature is verified with the public key before
// it is returned.
func (k *RSAPrivateKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss || opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, errors.New("hsm: token RSA signing supports only PKCS #1 v1.5 with SHA-256")
	}
	msg := append(bytes.Clone(sha256DigestInfo), digest...)
	ctx := "signing with " + k.obj.Summary()
	if err := k.s.p.SignInit(k.s.h, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}, k.obj.Handle); err != nil {
		return nil, wrapErr("C_SignInit", ctx, err)
	}
	sig, err := k.s.p.Sign(k.s.h, msg)
	if err != nil {
		return nil, wrapErr("C_Sign", ctx, err)
	}
	if err := rsa.VerifyPKCS1v15(k.pub, crypto.SHA256, digest, sig); err != nil {
		return nil, fmt.Errorf("hsm: the token's signature does not verify (%s): %w", k.obj.Summary(), err)
	}
	return sig, nil
}

// DisableSign clears CKA_SIGN on the key, leaving it decrypt-only, and reads
// the attribute back to check.
func (k *RSAPrivateKey) DisableSign() error {
	err := k.s.p.SetAttributeValue(k.s.h, k.obj.Handle, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_SIGN, false)})
	if err != nil {
		return wrapErr("C_SetAttributeValue", "clearing CKA_SIGN on "+k.obj.Summary(), err)
	}
	got, err := k.s.attrs(k.obj.Handle, pkcs11.CKA_SIGN)
	if err != nil {
		return err
	}
	if boolean(got[pkcs11.CKA_SIGN]) {
		return fmt.Errorf("hsm: CKA_SIGN is still set on %s", k.obj.Summary())
	}
	return nil
}

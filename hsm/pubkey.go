package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

// PublicKeyOf returns the public key that belongs to the private key priv,
// without touching private material: for RSA from the private object's
// CKA_MODULUS and CKA_PUBLIC_EXPONENT (readable even when CKA_SENSITIVE); for
// EC from the CKA_EC_POINT of the token's public-key object with the same
// CKA_ID (or, without an id, the same label), which must be exactly one.
// Records use it so that the online side can compare what the service holds
// with what was exported.
func (s *Session) PublicKeyOf(priv *Object) (crypto.PublicKey, error) {
	if priv.Class != pkcs11.CKO_PRIVATE_KEY {
		return nil, fmt.Errorf("hsm: %s is not a private key", priv.Summary())
	}
	switch priv.KeyType {
	case pkcs11.CKK_RSA:
		if len(priv.Modulus) == 0 || len(priv.PublicExponent) == 0 {
			return nil, fmt.Errorf("hsm: %s: the token did not give its modulus and public exponent", priv.Summary())
		}
		e := new(big.Int).SetBytes(priv.PublicExponent)
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, fmt.Errorf("hsm: %s: unusable public exponent", priv.Summary())
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(priv.Modulus), E: int(e.Int64())}, nil
	case pkcs11.CKK_EC:
		curve := namedCurve(priv.Curve)
		if curve == nil {
			return nil, fmt.Errorf("hsm: %s: curve %q has no public-key support here", priv.Summary(), priv.Curve)
		}
		tmpl := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		}
		if len(priv.ID) > 0 {
			tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, priv.ID))
		} else {
			tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, priv.Label))
		}
		pubObj, err := s.FindOne(fmt.Sprintf("public key matching %s", priv.Summary()), tmpl)
		if err != nil {
			return nil, err
		}
		got, err := s.attrs(pubObj.Handle, pkcs11.CKA_EC_POINT)
		if err != nil {
			return nil, err
		}
		pub, err := parseECPoint(curve, got[pkcs11.CKA_EC_POINT])
		if err != nil {
			return nil, fmt.Errorf("hsm: %s: %w", pubObj.Summary(), err)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("hsm: %s: not an RSA or EC key", priv.Summary())
}

func namedCurve(name string) elliptic.Curve {
	switch name {
	case "P-256":
		return elliptic.P256()
	case "P-384":
		return elliptic.P384()
	case "P-521":
		return elliptic.P521()
	}
	return nil
}

// parseECPoint reads CKA_EC_POINT: a DER OCTET STRING holding the
// uncompressed point (PKCS#11 v2.40), or the bare point some modules return.
func parseECPoint(curve elliptic.Curve, v []byte) (*ecdsa.PublicKey, error) {
	point := v
	var inner []byte
	if rest, err := asn1.Unmarshal(v, &inner); err == nil && len(rest) == 0 {
		point = inner
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("CKA_EC_POINT is not an uncompressed %s point: %w", curve.Params().Name, err)
	}
	return pub, nil
}

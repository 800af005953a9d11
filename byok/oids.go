package byok

import (
	//lint:ignore SA1019 only to name a key type that is refused
	"crypto/dsa"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

var (
	oidRSA       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAPSS    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidEC        = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidDSA       = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidEd25519   = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448     = asn1.ObjectIdentifier{1, 3, 101, 113}
	oidX25519    = asn1.ObjectIdentifier{1, 3, 101, 110}
	oidX448      = asn1.ObjectIdentifier{1, 3, 101, 111}
	oidP256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384      = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521      = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidP224      = asn1.ObjectIdentifier{1, 3, 132, 0, 33}
	oidSecp256k1 = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
)

// curveName names a curve OID for people.
func curveName(oid asn1.ObjectIdentifier) string {
	switch {
	case oid.Equal(oidP256):
		return "P-256"
	case oid.Equal(oidP384):
		return "P-384"
	case oid.Equal(oidP521):
		return "P-521"
	case oid.Equal(oidP224):
		return "P-224"
	case oid.Equal(oidSecp256k1):
		return "secp256k1 (P-256K)"
	}
	return "curve " + oid.String()
}

// algName names a key algorithm OID (with its parameters for EC).
func algName(alg pkix.AlgorithmIdentifier) string {
	switch {
	case alg.Algorithm.Equal(oidRSA):
		return "RSA"
	case alg.Algorithm.Equal(oidRSAPSS):
		return "RSASSA-PSS"
	case alg.Algorithm.Equal(oidEC):
		var c asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &c); err == nil {
			return "EC " + curveName(c)
		}
		return "EC with explicit or missing curve parameters"
	case alg.Algorithm.Equal(oidDSA):
		return "DSA"
	case alg.Algorithm.Equal(oidEd25519):
		return "Ed25519"
	case alg.Algorithm.Equal(oidEd448):
		return "Ed448"
	case alg.Algorithm.Equal(oidX25519):
		return "X25519"
	case alg.Algorithm.Equal(oidX448):
		return "X448"
	}
	return "algorithm " + alg.Algorithm.String()
}

// spkiAlgorithm returns the key algorithm of a DER SubjectPublicKeyInfo
// that crypto/x509 could not parse, or "" if it is not even that.
func spkiAlgorithm(der []byte) string {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &spki); err != nil || len(rest) != 0 {
		return ""
	}
	if spki.Algorithm.Algorithm.Equal(oidRSA) {
		return "" // an RSA key crypto/x509 refused: malformed
	}
	return algName(spki.Algorithm)
}

// keyKind names a parsed key's type for people.
func keyKind(k any) string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *rsa.PrivateKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "EC " + k.Curve.Params().Name
	case *ecdsa.PrivateKey:
		return "EC " + k.Curve.Params().Name
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "Ed25519"
	case *ecdh.PublicKey:
		return fmt.Sprintf("ECDH %v", k.Curve())
	case *ecdh.PrivateKey:
		return fmt.Sprintf("ECDH %v", k.Curve())
	case *dsa.PublicKey:
		return "DSA"
	}
	return fmt.Sprintf("%T", k)
}

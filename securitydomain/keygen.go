package securitydomain

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// Custodian key sizes keyrite generates.
var KeySizes = []int{2048, 3072, 4096}

// ValidKeySize reports whether bits is one of KeySizes.
func ValidKeySize(bits int) bool {
	for _, b := range KeySizes {
		if b == bits {
			return true
		}
	}
	return false
}

// CertValidity is how long custodian certificates are valid. The service
// does not check validity dates; a long span keeps a restore years later
// from tripping over other tools that do.
const CertValidity = 20 * 365 * 24 * time.Hour

// SelfSignedCertificate makes a custodian's self-signed certificate for the
// RSA key behind signer (a software key or a key on a token, which then
// signs it), with subject CN=commonName, a random 128-bit serial number,
// SHA256-RSA (PKCS #1 v1.5), key usage keyEncipherment, validity from now-1h
// for CertValidity. The certificate is parsed back and its signature and
// public key checked before it is returned.
func SelfSignedCertificate(signer crypto.Signer, commonName string, now time.Time, rnd io.Reader) (*x509.Certificate, error) {
	pub, ok := signer.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("securitydomain: custodian key is %T, want RSA", signer.Public())
	}
	if pub.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("securitydomain: custodian key is RSA-%d, want at least RSA-%d", pub.N.BitLen(), MinRSABits)
	}
	serial, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("securitydomain: serial number: %w", err)
	}
	serial.SetBit(serial, 127, 1) // full length, positive
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour).UTC().Truncate(time.Second),
		NotAfter:              now.Add(CertValidity).UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("securitydomain: signing the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("securitydomain: reading back the certificate: %w", err)
	}
	if !SameRSAKey(cert.PublicKey, pub) {
		return nil, errors.New("securitydomain: the certificate does not hold the custodian's key")
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return nil, fmt.Errorf("securitydomain: the certificate's self-signature does not verify: %w", err)
	}
	return cert, nil
}

// GenerateSoftwareKey generates an RSA custodian key in memory, for
// rehearsals (production keys are generated on the custodians' tokens).
func GenerateSoftwareKey(bits int, rnd io.Reader) (*rsa.PrivateKey, error) {
	if !ValidKeySize(bits) {
		return nil, fmt.Errorf("securitydomain: RSA key size %d, want one of 2048, 3072, 4096", bits)
	}
	k, err := rsa.GenerateKey(rnd, bits)
	if err != nil {
		return nil, fmt.Errorf("securitydomain: generating an RSA-%d key: %w", bits, err)
	}
	return k, nil
}

package securitydomain

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// MinRSABits is the smallest RSA modulus the service and the az CLI accept
// for wrapping (custodian) keys.
const MinRSABits = 2048

// X5T256 returns b64u(SHA-256(DER(cert))), the thumbprint that names a
// certificate in SharedKeys.enc_shares and WrappedKey.
func X5T256(cert *x509.Certificate) string {
	d := sha256.Sum256(cert.Raw)
	return b64u.EncodeToString(d[:])
}

// x5t returns b64u(SHA-1(DER(cert))).
func x5t(cert *x509.Certificate) string {
	d := sha1.Sum(cert.Raw)
	return b64u.EncodeToString(d[:])
}

// A CertError is a certificate that cannot serve: Problem says why, without
// the package prefix its Error adds, so that a caller quoting it in a
// message of its own (an exchange key's) does not repeat the prefix.
type CertError struct {
	Problem string
	Err     error // the parser's error, if any
}

func (e *CertError) Error() string { return "securitydomain: " + e.Problem }
func (e *CertError) Unwrap() error { return e.Err }

func certErr(err error, format string, args ...any) error {
	return &CertError{Problem: fmt.Sprintf(format, args...), Err: err}
}

// ParseCertificate parses one X.509 certificate, PEM ("CERTIFICATE" block,
// nothing else in the file) or DER, as az CLI users keep them in .cer files.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	der := data
	if t := bytes.TrimSpace(data); bytes.HasPrefix(t, []byte("-----BEGIN")) {
		block, rest := pem.Decode(t)
		if block == nil {
			return nil, certErr(nil, "malformed PEM")
		}
		if block.Type != "CERTIFICATE" {
			return nil, certErr(nil, "PEM block is %q, want CERTIFICATE", block.Type)
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, certErr(nil, "more than one PEM block (want a single certificate)")
		}
		der = block.Bytes
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, certErr(err, "not an X.509 certificate (PEM or DER): %v", err)
	}
	return cert, nil
}

// rsaPublic returns cert's RSA public key if it is RSA of at least MinRSABits.
func rsaPublic(cert *x509.Certificate) (*rsa.PublicKey, error) {
	if cert == nil {
		return nil, certErr(nil, "no certificate")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, certErr(nil, "certificate key is %T, want RSA", cert.PublicKey)
	}
	if pub.N.BitLen() < MinRSABits {
		return nil, certErr(nil, "certificate key is RSA-%d, want at least RSA-%d", pub.N.BitLen(), MinRSABits)
	}
	return pub, nil
}

// SameRSAKey reports whether a and b are the same RSA public key.
func SameRSAKey(a, b any) bool {
	ra, ok1 := a.(*rsa.PublicKey)
	rb, ok2 := b.(*rsa.PublicKey)
	return ok1 && ok2 && ra.Equal(rb)
}

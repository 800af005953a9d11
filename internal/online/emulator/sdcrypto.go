package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"

	"github.com/keyrite/keyrite/securitydomain"
)

// newSecurityDomain produces the SD the service returns on download, with
// the securitydomain package's service side.
func newSecurityDomain(certs []*x509.Certificate, required int, payloads []sdPayload) ([]byte, error) {
	ps := make([]securitydomain.Payload, len(payloads))
	for i, p := range payloads {
		ps[i] = securitydomain.Payload{Tag: p.Tag, Data: p.Data}
	}
	return securitydomain.NewSecurityDomain(certs, required, ps, rand.Reader)
}

// openRestoreBlob is what the service does with an uploaded restore blob:
// check it is wrapped to the exchange key, unwrap the master key, and
// authenticate and decrypt every EncData entry.
func openRestoreBlob(blob []byte, priv *rsa.PrivateKey, cert *x509.Certificate) ([]sdPayload, error) {
	ps, err := securitydomain.OpenRestoreBlob(blob, priv, cert)
	if err != nil {
		return nil, err
	}
	out := make([]sdPayload, len(ps))
	for i, p := range ps {
		out[i] = sdPayload{Tag: p.Tag, Data: p.Data}
	}
	return out, nil
}

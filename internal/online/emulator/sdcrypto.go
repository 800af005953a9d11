package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

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

// otherExchangeKey is a restore blob wrapped to a certificate other than
// this HSM's exchange certificate (both x5t#S256).
type otherExchangeKey struct{ blob, hsm string }

func (e *otherExchangeKey) Error() string {
	return fmt.Sprintf("emulator: the restore blob is wrapped to certificate %s, not the exchange certificate %s", e.blob, e.hsm)
}

// openRestoreBlob is what the service does with an uploaded restore blob:
// check it is wrapped to the exchange key, unwrap the master key, and
// authenticate and decrypt every EncData entry.
func openRestoreBlob(blob []byte, priv *rsa.PrivateKey, cert *x509.Certificate) ([]sdPayload, error) {
	b, err := securitydomain.ParseRestoreBlob(blob)
	if err != nil {
		return nil, err
	}
	if hsm := securitydomain.X5T256(cert); b.X5T256 != hsm {
		return nil, &otherExchangeKey{blob: b.X5T256, hsm: hsm}
	}
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

// restoreBlobMessage is the service's message for a restore blob that
// openRestoreBlob refused.
func restoreBlobMessage(err error) string {
	var other *otherExchangeKey
	switch {
	case errors.As(err, &other):
		// ParseRestoreBlob checked that the blob's x5t_256 is a
		// thumbprint (43 base64url characters), so it is shown whole.
		return fmt.Sprintf("The restore blob is wrapped to certificate %s, not to this HSM's exchange certificate %s", other.blob, other.hsm)
	case errors.Is(err, securitydomain.ErrInvalidBlob):
		return because("The restore blob is not valid", err)
	}
	return because("The restore blob could not be opened with this HSM's exchange key", err)
}

package sdop

import (
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"

	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// RestoreEvent is the sd.restore transcript event, the same whether the
// restore ran as `keyrite sd restore --ceremony` or guided, so that replay
// and `keyrite-uploader sd upload --ceremony` read one shape
// (steps.SDRestore); the restore operation records it. certs[i] is the certificate of the custodian whose
// share status is res.Shares[i].
func RestoreEvent(sdPath string, sdData []byte, sd *securitydomain.SecurityDomain, exch *x509.Certificate,
	certs []*x509.Certificate, res *securitydomain.RestoreResult, blob []byte) transcripts.Event {
	x := steps.SDRestore{
		Common:            steps.Common{Result: "ok"},
		Source:            sdPath,
		SecurityDomain:    steps.File{Name: steps.SecurityDomainFile, Data: sdData},
		ExchangeKey:       steps.File{Name: steps.ExchangeKeyFile, Data: securitydomain.ExchangeCertPEM(exch)},
		Blob:              steps.File{Name: steps.RestoreBlobFile, Data: blob},
		ExchangeKeyX5T256: securitydomain.X5T256(exch),
		// "M of N": transcript replay checks it against the recorded SD.
		Quorum: steps.QuorumOf(sd.Required, len(sd.Shares)),
	}
	var mechs []string
	for i, s := range res.Shares {
		if !s.Opened {
			continue
		}
		x.Opened++
		if i >= len(certs) || certs[i] == nil {
			continue
		}
		// Named and encoded as sd keygen wrote it: an auditor matches name
		// and digest to the activation's outputs.
		x.Shares = append(x.Shares, steps.RestoreShare{
			X: s.X, Custodian: s.Custodian, X5T256: s.X5T256, Mechanism: s.Mechanism,
			Certificate: steps.File{Name: steps.CertificateFileName(s.Index), Data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[i].Raw})},
		})
		if !slices.Contains(mechs, s.Mechanism) {
			mechs = append(mechs, s.Mechanism)
		}
	}
	x.Mechanism = strings.Join(mechs, "; ")
	return x.Event()
}

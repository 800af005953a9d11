package ceremony

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
)

// RestoreEvent is the sd.restore transcript event, the same whether the
// restore ran as `keyrite sd restore --ceremony` or guided, so that replay
// and `keyrite-uploader sd upload --ceremony` read one shape. certs[i] is the
// certificate of the custodian whose share status is res.Shares[i].
func RestoreEvent(sdPath string, sdData []byte, sd *securitydomain.SecurityDomain, exch *x509.Certificate,
	certs []*x509.Certificate, res *securitydomain.RestoreResult, blob []byte) transcripts.Event {
	opened := 0
	for _, s := range res.Shares {
		if s.Opened {
			opened++
		}
	}
	ev := transcripts.Event{
		Step:   "sd.restore",
		Action: fmt.Sprintf("built a restore blob from security domain %s with %d custodian keys", sdPath, opened),
		Inputs: []transcripts.Artifact{
			transcripts.NewArtifact("security_domain.json", transcripts.KindSecurityDomain, sdData),
			transcripts.NewArtifact("exchange_cert.pem", transcripts.KindExchangeKey, securitydomain.ExchangeCertPEM(exch)),
		},
		Outputs: []transcripts.Artifact{transcripts.NewArtifact("restore_blob.json", transcripts.KindRestoreBlob, blob)},
		Params:  []transcripts.Param{{Name: "exchange_key_x5t_256", Value: securitydomain.X5T256(exch)}},
		Result:  "ok",
	}
	var mechs []string
	for i, s := range res.Shares {
		if !s.Opened || i >= len(certs) || certs[i] == nil {
			continue
		}
		// Named and encoded as sd keygen wrote it (wrap_N.cer, N the
		// share's place in the SD, which is the certificate's place in the
		// download request): an auditor matches name and digest to the
		// activation's outputs.
		ev.Inputs = append(ev.Inputs, transcripts.NewArtifact(fmt.Sprintf("wrap_%d.cer", s.Index), transcripts.KindCertificate,
			pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[i].Raw})))
		ev.Params = append(ev.Params, transcripts.Param{Name: fmt.Sprintf("share_x%d", s.X), Value: fmt.Sprintf("%s x5t#S256 %s via %s", s.Custodian, s.X5T256, s.Mechanism)})
		if !slices.Contains(mechs, s.Mechanism) {
			mechs = append(mechs, s.Mechanism)
		}
	}
	// "M of N": transcript replay checks it against the recorded SD.
	ev.Params = append(ev.Params, transcripts.Param{Name: "quorum", Value: fmt.Sprintf("%d of %d", sd.Required, len(sd.Shares))})
	ev.Mechanism = strings.Join(mechs, "; ")
	return ev
}

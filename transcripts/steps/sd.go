package steps

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyrite/keyrite/transcripts"
)

// Standard names of the security-domain steps' artifacts.
const (
	DownloadRequestFile = "download_request.json"
	SecurityDomainFile  = "security_domain.json"
	ExchangeKeyFile     = "exchange_cert.pem"
	RestoreBlobFile     = "restore_blob.json"
)

// CertificateFileName names custodian N's certificate as sd keygen records
// it and sd restore records it again: N is the certificate's place in the
// download request, which is its share's place in the security domain, so
// an auditor matches a restore's inputs to the activation's outputs by name
// and digest.
func CertificateFileName(n int) string { return fmt.Sprintf("wrap_%d.cer", n) }

// DrillReportName names a quorum drill's report by the time it ran.
func DrillReportName(t time.Time) string {
	return "drill_report_" + t.UTC().Format("20060102T150405.000Z") + ".json"
}

// Mechanisms and deviations sd keygen records.
const (
	KeygenMechanismToken    = "CKM_RSA_PKCS_KEY_PAIR_GEN; certificate signed with CKM_RSA_PKCS (SHA-256); CKA_SIGN cleared after"
	KeygenMechanismSoftware = "software crypto/rsa"
	KeygenDeviationSoftware = "rehearsal: custodian private keys generated in software and written as PEM files"
)

// SDKeygen is "sd.keygen": the custodians' key pairs made (on their tokens,
// or in software for a rehearsal), their certificates, and the download
// request that activates a Managed HSM with them.
type SDKeygen struct {
	Common
	Request    File // output, kind download-request: DownloadRequestFile
	Custodians []KeygenCustodian
	Quorum     int      // quorum
	RSABits    int      // rsa_bits
	Tokens     []string // token_0, token_1, ...: the tokens used, as the loader describes them
}

// KeygenCustodian is one custodian's key, recorded as the param
// custodian_N ("X5T256 KEY") and the certificate output.
type KeygenCustodian struct {
	Index       int    // N: the certificate's place in the download request
	Certificate File   // output, kind certificate: CertificateFileName(N)
	X5T256      string // the certificate's x5t#S256 thumbprint
	Key         string // where the private key is: a PKCS#11 URI, or a PEM file
}

// Step returns "sd.keygen".
func (x *SDKeygen) Step() string { return StepSDKeygen }

// Event encodes x.
func (x *SDKeygen) Event() transcripts.Event {
	ev := x.event(StepSDKeygen, fmt.Sprintf("generated %d security-domain custodian keys (RSA-%d, quorum %d) and the download request", len(x.Custodians), x.RSABits, x.Quorum))
	ev.Outputs = []transcripts.Artifact{x.Request.artifact(transcripts.KindDownloadRequest)}
	var p params
	p.addInt("custodians", int64(len(x.Custodians)))
	p.addInt("quorum", int64(x.Quorum))
	p.addInt("rsa_bits", int64(x.RSABits))
	for _, c := range x.Custodians {
		ev.Outputs = append(ev.Outputs, c.Certificate.artifact(transcripts.KindCertificate))
		p.add(fmt.Sprintf("custodian_%d", c.Index), c.X5T256+" "+c.Key)
	}
	for i, t := range x.Tokens {
		p.add(fmt.Sprintf("token_%d", i), t)
	}
	ev.Params = p
	return ev
}

// ParseSDKeygen reads an sd.keygen event. The custodian_N parameters and
// the certificate outputs are paired in recorded order.
func ParseSDKeygen(e *transcripts.Entry) (*SDKeygen, error) {
	if err := checkStep(e, StepSDKeygen); err != nil {
		return nil, err
	}
	r := recorded{e}
	x := &SDKeygen{Common: commonOf(e), Quorum: int(r.num("quorum")), RSABits: int(r.num("rsa_bits")), Tokens: tokens(r)}
	x.Request, _ = firstFile(e.Outputs, transcripts.KindDownloadRequest)
	certs := filesOf(e.Outputs, transcripts.KindCertificate)
	for i, p := range r.indexed("custodian_") {
		c := KeygenCustodian{Index: p.n}
		c.X5T256, c.Key, _ = strings.Cut(p.value, " ")
		if i < len(certs) {
			c.Certificate = certs[i]
		}
		x.Custodians = append(x.Custodians, c)
	}
	return x, nil
}

func tokens(r recorded) []string {
	var out []string
	for _, p := range r.indexed("token_") {
		out = append(out, p.value)
	}
	return out
}

// SDRestore is "sd.restore": a restore blob built from a security domain
// with a quorum of custodians' keys, re-encrypted to the exchange key of
// the HSM that will be restored.
type SDRestore struct {
	Common
	Source string // the security domain file as given (recorded in the action only)
	Opened int    // how many custodian keys opened their share (recorded in the action only)
	Guided bool   // run by the guided ceremony: the action ends "(guided)"

	SecurityDomain    File // input, kind security-domain: SecurityDomainFile
	ExchangeKey       File // input, kind exchange-key: ExchangeKeyFile
	Blob              File // output, kind restore-blob: RestoreBlobFile
	ExchangeKeyX5T256 string
	Shares            []RestoreShare
	// Quorum is "M of N" as the security domain says: M shares of its N
	// are needed. Replay checks it against the recorded security domain.
	Quorum string
	Tokens []string // token_0, token_1, ...: the tokens used
}

// RestoreShare is one opened share, recorded as the param share_xX
// ("CUSTODIAN x5t#S256 X5T256 via MECHANISM") and the custodian's
// certificate as an input.
type RestoreShare struct {
	X           int // the share's x coordinate
	Custodian   string
	X5T256      string
	Mechanism   string
	Certificate File // input, kind certificate: CertificateFileName(the share's place in the security domain)
}

// QuorumOf is SDRestore.Quorum for a security domain needing m of n shares.
func QuorumOf(m, n int) string { return fmt.Sprintf("%d of %d", m, n) }

// Step returns "sd.restore".
func (x *SDRestore) Step() string { return StepSDRestore }

// Event encodes x.
func (x *SDRestore) Event() transcripts.Event {
	ev := x.event(StepSDRestore, guided(fmt.Sprintf("built a restore blob from security domain %s with %d custodian keys", x.Source, x.Opened), x.Guided))
	ev.Inputs = []transcripts.Artifact{
		x.SecurityDomain.artifact(transcripts.KindSecurityDomain),
		x.ExchangeKey.artifact(transcripts.KindExchangeKey),
	}
	ev.Outputs = []transcripts.Artifact{x.Blob.artifact(transcripts.KindRestoreBlob)}
	var p params
	p.add("exchange_key_x5t_256", x.ExchangeKeyX5T256)
	for _, s := range x.Shares {
		ev.Inputs = append(ev.Inputs, s.Certificate.artifact(transcripts.KindCertificate))
		p.add(fmt.Sprintf("share_x%d", s.X), fmt.Sprintf("%s x5t#S256 %s via %s", s.Custodian, s.X5T256, s.Mechanism))
	}
	p.add("quorum", x.Quorum)
	for i, t := range x.Tokens {
		p.add(fmt.Sprintf("token_%d", i), t)
	}
	ev.Params = p
	return ev
}

// ParseSDRestore reads an sd.restore event. The share_xX parameters and the
// certificate inputs are paired in recorded order.
func ParseSDRestore(e *transcripts.Entry) (*SDRestore, error) {
	if err := checkStep(e, StepSDRestore); err != nil {
		return nil, err
	}
	r := recorded{e}
	x := &SDRestore{Common: commonOf(e), ExchangeKeyX5T256: r.str("exchange_key_x5t_256"), Quorum: r.str("quorum"), Tokens: tokens(r)}
	action := unguided(e.Action, &x.Guided)
	if rest, ok := strings.CutPrefix(action, "built a restore blob from security domain "); ok {
		if i := strings.LastIndex(rest, " with "); i >= 0 {
			if n, ok := strings.CutSuffix(rest[i+len(" with "):], " custodian keys"); ok {
				x.Source = rest[:i]
				x.Opened, _ = strconv.Atoi(n)
			}
		}
	}
	x.SecurityDomain, _ = firstFile(e.Inputs, transcripts.KindSecurityDomain)
	x.ExchangeKey, _ = firstFile(e.Inputs, transcripts.KindExchangeKey)
	x.Blob, _ = firstFile(e.Outputs, transcripts.KindRestoreBlob)
	certs := filesOf(e.Inputs, transcripts.KindCertificate)
	for i, p := range r.indexed("share_x") {
		s := RestoreShare{X: p.n}
		var rest string
		s.Custodian, rest, _ = strings.Cut(p.value, " x5t#S256 ")
		s.X5T256, s.Mechanism, _ = strings.Cut(rest, " via ")
		if i < len(certs) {
			s.Certificate = certs[i]
		}
		x.Shares = append(x.Shares, s)
	}
	return x, nil
}

// SDVerify is "sd.verify": a quorum drill, which opens the custodians'
// shares and checks that the security domain can be restored, without
// restoring it. Its result is "ok", or "failed: " and the problems.
type SDVerify struct {
	Common
	SecurityDomain File     // input, kind security-domain: named as the file given
	Report         File     // output, kind report: DrillReportName(when)
	Opened         int      // shares opened (recorded in the action only)
	Shares         int      // shares in the security domain (action only)
	Required       int      // shares a restore needs (action only)
	Guided         bool     // run by the guided ceremony: the action ends "(guided)"
	Tokens         []string // token_0, token_1, ...: the tokens used
}

// Step returns "sd.verify".
func (x *SDVerify) Step() string { return StepSDVerify }

// Event encodes x.
func (x *SDVerify) Event() transcripts.Event {
	ev := x.event(StepSDVerify, guided(fmt.Sprintf("quorum drill: %d of %d shares opened, %d required", x.Opened, x.Shares, x.Required), x.Guided))
	ev.Inputs = []transcripts.Artifact{x.SecurityDomain.artifact(transcripts.KindSecurityDomain)}
	ev.Outputs = []transcripts.Artifact{x.Report.artifact(transcripts.KindReport)}
	var p params
	for i, t := range x.Tokens {
		p.add(fmt.Sprintf("token_%d", i), t)
	}
	ev.Params = p
	return ev
}

// ParseSDVerify reads an sd.verify event.
func ParseSDVerify(e *transcripts.Entry) (*SDVerify, error) {
	if err := checkStep(e, StepSDVerify); err != nil {
		return nil, err
	}
	x := &SDVerify{Common: commonOf(e), Tokens: tokens(recorded{e})}
	fmt.Sscanf(unguided(e.Action, &x.Guided), "quorum drill: %d of %d shares opened, %d required", &x.Opened, &x.Shares, &x.Required)
	x.SecurityDomain, _ = firstFile(e.Inputs, transcripts.KindSecurityDomain)
	x.Report, _ = firstFile(e.Outputs, transcripts.KindReport)
	return x, nil
}

const guidedSuffix = " (guided)"

// guided marks the action of a step the guided ceremony ran.
func guided(action string, g bool) string {
	if g {
		return action + guidedSuffix
	}
	return action
}

// unguided returns action without the guided mark, and sets *g if it had
// one.
func unguided(action string, g *bool) string {
	a, ok := strings.CutSuffix(action, guidedSuffix)
	*g = ok
	return a
}

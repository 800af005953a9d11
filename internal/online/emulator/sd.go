package emulator

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keyrite/keyrite/securitydomain"
)

// Security-domain limits (REST spec and az CLI; security-domain.md §2, §11).
const (
	minCerts    = 3
	maxCerts    = 10
	minQuorum   = 2
	maxQuorum   = 10
	minCertBits = 2048
)

// hsmState is a Managed HSM's security-domain state.
type hsmState struct {
	// Payloads are the HSM's backups the security domain protects (opaque
	// bytes, like the service's hsm_backup, base_enclave_backup and
	// partition_enclave_backup).
	Payloads []sdPayload `json:"payloads"`
	// Activated is set by the first download or a successful upload.
	Activated bool     `json:"activated"`
	Download  opStatus `json:"download"`
	Upload    opStatus `json:"upload"`
	// The exchange (transfer) key: created by the first GET
	// /securitydomain/upload.
	ExchangeKeyPKCS8 []byte `json:"exchange_key_pkcs8,omitempty"`
	ExchangeCertDER  []byte `json:"exchange_cert_der,omitempty"`
}

type sdPayload struct {
	Tag  string `json:"tag"`
	Data []byte `json:"data"`
}

// opStatus records a security-domain operation. Status is its outcome,
// "Success" or "Failed" ("" means no operation was ever requested); GET
// .../pending reports a successful one as InProgress until Config.SDDelay
// has passed since Started (by Config.Now). Started is persisted so that an
// operation stays in progress across an emulator restart; state written
// before it existed has none, and reports its outcome at once.
type opStatus struct {
	Status  string    `json:"status,omitempty"`
	Details string    `json:"status_details,omitempty"`
	Started time.Time `json:"started,omitzero"`
}

// Operation status values and details, as the service writes them
// (recorded 2025; a Failed status was not recorded, so its details are the
// emulator's own).
const (
	statusInProgress = "InProgress"
	statusSuccess    = "Success"
	statusFailed     = "Failed"

	detailsDownloadInProgress = "The Security Domain is being confirmed."
	detailsUploadInProgress   = "The Security Domain is being restored."
	detailsSuccess            = "The resource is active."
)

// asyncOperation is the Azure-AsyncOperation URL of op's status, as the
// service gives it on the POST's 202 and on every status answer: the
// pending endpoint with the request's api-version.
func asyncOperation(r *http.Request, svc service, op string) string {
	return svc.base + "/securitydomain/" + op + "/pending?api-version=" + url.QueryEscape(r.URL.Query().Get("api-version"))
}

// inProgress reports whether a successful operation is still reported as
// InProgress at now.
func (e *Emulator) inProgress(s opStatus, now time.Time) bool {
	return s.Status == statusSuccess && now.Before(s.Started.Add(e.cfg.SDDelay))
}

func (s *store) hsmPath(svc service) string {
	return filepath.Join(s.serviceDir(svc), "securitydomain.json")
}

// loadHSM reads svc's security-domain state, creating the HSM's payloads on
// first use. The caller holds e.mu.
func (e *Emulator) loadHSM(svc service) (*hsmState, error) {
	var st hsmState
	ok, err := e.state.readJSON(e.state.hsmPath(svc), &st)
	if err != nil {
		return nil, err
	}
	if ok {
		return &st, nil
	}
	for _, p := range []struct {
		tag  string
		size int
	}{{"hsm_backup", 8520}, {"base_enclave_backup", 969}, {"partition_enclave_backup", 3110}} { // about the sizes of a recorded SD (2025)
		b := make([]byte, p.size)
		rand.Read(b)
		st.Payloads = append(st.Payloads, sdPayload{Tag: p.tag, Data: b})
	}
	if err := e.state.replaceJSON(e.state.hsmPath(svc), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (e *Emulator) saveHSM(svc service, st *hsmState) error {
	return e.state.replaceJSON(e.state.hsmPath(svc), st)
}

// downloadRequest is a validated POST /securitydomain/download body.
type downloadRequest struct {
	Certs    []*x509.Certificate
	Required int
}

type certJWK struct {
	X5C     []string `json:"x5c"`
	X5T     *string  `json:"x5t"`
	X5TS256 *string  `json:"x5t#S256"`
	KeyOps  []string `json:"key_ops"`
	Kty     *string  `json:"kty"`
	Alg     *string  `json:"alg"`
	N       *string  `json:"n"`
	E       *string  `json:"e"`
	Kid     *string  `json:"kid"`
}

// decodeDownload parses and validates a download request (security-domain.md
// §2): 3 to 10 certificate JWKs, each x5c[0] an X.509 certificate with an
// RSA key of at least 2048 bits, its n, e, x5t and x5t#S256 (when present)
// agreeing with the certificate, no certificate twice; required 2 to 10 and
// at most the number of certificates.
func decodeDownload(body []byte) (*downloadRequest, *badParam) {
	var req struct {
		Certificates []certJWK `json:"certificates"`
		Required     *int      `json:"required"`
	}
	if err := strictUnmarshal(body, &req); err != nil {
		return nil, badf("The request body is not valid: %s", err)
	}
	n := len(req.Certificates)
	if n < minCerts || n > maxCerts {
		return nil, badf("certificates has %d entries; expected %d to %d", n, minCerts, maxCerts)
	}
	m := 2
	if req.Required != nil {
		m = *req.Required
	}
	if m < minQuorum || m > maxQuorum {
		return nil, badf("required is %d; expected %d to %d", m, minQuorum, maxQuorum)
	}
	if m > n {
		return nil, badf("required is %d but only %d certificates were given; the quorum cannot exceed the number of certificates", m, n)
	}
	out := &downloadRequest{Required: m}
	seen := map[[32]byte]int{}
	for i, j := range req.Certificates {
		where := fmt.Sprintf("certificates[%d]", i)
		if len(j.X5C) == 0 {
			return nil, badf("%s.x5c is missing or empty; expected the certificate as standard base64 DER", where)
		}
		der, err := base64.StdEncoding.DecodeString(j.X5C[0])
		if err != nil {
			return nil, badf("%s.x5c[0] is not standard base64", where)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, badf("%s", because(where+".x5c[0] is not an X.509 certificate", err))
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, badf("%s: only RSA keys are supported; the certificate holds a %s key", where, cert.PublicKeyAlgorithm)
		}
		if pub.N.BitLen() < minCertBits {
			return nil, badf("%s: the certificate's RSA key is %d bits; only RSA >= %d is supported", where, pub.N.BitLen(), minCertBits)
		}
		if j.Kty != nil && *j.Kty != "RSA" {
			return nil, badf("%s.kty is %q; expected RSA", where, *j.Kty)
		}
		if j.N != nil && *j.N != b64u(pub.N.Bytes()) {
			return nil, badf("%s.n does not match the certificate's modulus", where)
		}
		if j.E != nil && *j.E != b64u(big.NewInt(int64(pub.E)).Bytes()) {
			return nil, badf("%s.e does not match the certificate's public exponent", where)
		}
		s256 := sha256.Sum256(der)
		if j.X5TS256 != nil && *j.X5TS256 != b64u(s256[:]) {
			return nil, badf("%s.x5t#S256 is not the SHA-256 thumbprint of x5c[0]", where)
		}
		s1 := sha1.Sum(der)
		if j.X5T != nil && *j.X5T != b64u(s1[:]) {
			return nil, badf("%s.x5t is not the SHA-1 thumbprint of x5c[0]", where)
		}
		if k, dup := seen[s256]; dup {
			return nil, badf("%s is the same certificate as certificates[%d]; each custodian needs its own", where, k)
		}
		seen[s256] = i
		for k, prev := range out.Certs {
			if pub.Equal(prev.PublicKey) {
				return nil, badf("%s holds the same RSA key as certificates[%d]; each custodian needs their own key", where, k)
			}
		}
		out.Certs = append(out.Certs, cert)
	}
	return out, nil
}

func (e *Emulator) sdDownload(w http.ResponseWriter, r *http.Request, svc service) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	req, perr := decodeDownload(body)
	if perr != nil {
		writeBad(w, perr)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.loadHSM(svc)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "reading the emulator's state failed", "")
		return
	}
	if st.Activated {
		// Also while the first download is still InProgress: activation
		// happens once, and a client that retries its POST must not start
		// a second one.
		msg := "The security domain of this HSM has already been downloaded or restored; it is activated"
		if now := e.now(); e.inProgress(st.Download, now) || e.inProgress(st.Upload, now) {
			msg = "A security domain operation is already in progress on this HSM; poll its status (GET /securitydomain/download/pending or upload/pending)"
		}
		writeError(w, http.StatusConflict, "Conflict", msg, "")
		return
	}
	sdText, err := newSecurityDomain(req.Certs, req.Required, st.Payloads)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", because("producing the security domain failed", err), "")
		return
	}
	st.Activated = true
	st.Download = opStatus{Status: statusSuccess, Details: detailsSuccess, Started: e.now()}
	if err := e.saveHSM(svc, st); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "writing the emulator's state failed", "")
		return
	}
	// No Retry-After: the service sends none on these answers.
	w.Header().Set("Azure-AsyncOperation", asyncOperation(r, svc, "download"))
	value := string(sdText)
	if e.cfg.SDValueBase64 {
		value = base64.StdEncoding.EncodeToString(sdText)
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"value": value})
}

func (e *Emulator) sdPending(w http.ResponseWriter, r *http.Request, svc service, op string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	if wait := e.throttlePoll(svc, op, now); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		writeError(w, http.StatusTooManyRequests, "Throttled",
			fmt.Sprintf("Request was not processed because too many requests were received. Reason: the %s status may be polled once per %s. Retry after %d seconds.", op, e.cfg.PendingInterval, wait), "")
		return
	}
	st, err := e.loadHSM(svc)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "reading the emulator's state failed", "")
		return
	}
	s := st.Download
	if op == "upload" {
		s = st.Upload
	}
	if s.Status == "" {
		writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("No security domain %s has been requested on this HSM", op), "")
		return
	}
	status, details := s.Status, s.Details
	if e.inProgress(s, now) {
		status, details = statusInProgress, detailsDownloadInProgress
		if op == "upload" {
			details = detailsUploadInProgress
		}
	}
	w.Header().Set("Azure-AsyncOperation", asyncOperation(r, svc, op))
	writeJSON(w, http.StatusOK, map[string]string{"status": status, "status_details": details})
}

// throttlePoll records a poll of svc's op status at now and returns 0 or,
// when Config.PendingInterval has not passed since the previous answered
// poll, the whole seconds to wait. The caller holds e.mu.
func (e *Emulator) throttlePoll(svc service, op string, now time.Time) int {
	if e.cfg.PendingInterval <= 0 {
		return 0
	}
	if e.polls == nil {
		e.polls = map[string]time.Time{}
	}
	key := svc.id() + " " + op
	if last, ok := e.polls[key]; ok {
		if left := e.cfg.PendingInterval - now.Sub(last); left > 0 {
			return max(int((left+time.Second-1)/time.Second), 1)
		}
	}
	e.polls[key] = now
	return 0
}

func (e *Emulator) sdTransferKey(w http.ResponseWriter, svc service) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.loadHSM(svc)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "reading the emulator's state failed", "")
		return
	}
	_, cert, err := e.exchangeKey(svc, st)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "creating the exchange key failed", "")
		return
	}
	body, err := securitydomain.TransferKeyResponse(cert)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", because("encoding the transfer key failed", err), "")
		return
	}
	if e.cfg.TransferKeyAsObject {
		var v struct {
			KeyFormat   string `json:"key_format"`
			TransferKey string `json:"transfer_key"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			writeError(w, http.StatusInternalServerError, "InternalError", "encoding the transfer key failed", "")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"key_format": v.KeyFormat, "transfer_key": json.RawMessage(v.TransferKey)})
		return
	}
	writeRaw(w, http.StatusOK, body)
}

// decodeUpload parses a POST /securitydomain/upload body: {"value": "<restore
// blob JSON text>"}.
func decodeUpload(body []byte) ([]byte, *badParam) {
	var req struct {
		Value *string `json:"value"`
	}
	if err := strictUnmarshal(body, &req); err != nil {
		return nil, badf("The request body is not valid: %s", err)
	}
	if req.Value == nil {
		return nil, badf("The property value is required: the restore blob JSON text")
	}
	if len(bytes.TrimSpace([]byte(*req.Value))) == 0 {
		return nil, badf("The property value is empty; expected the restore blob JSON text")
	}
	return []byte(*req.Value), nil
}

func (e *Emulator) sdUpload(w http.ResponseWriter, r *http.Request, svc service) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	blob, perr := decodeUpload(body)
	if perr != nil {
		writeBad(w, perr)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.loadHSM(svc)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "reading the emulator's state failed", "")
		return
	}
	if st.ExchangeKeyPKCS8 == nil {
		writeError(w, http.StatusBadRequest, "BadParameter", "No exchange key has been issued by this HSM; GET /securitydomain/upload (init-recovery) first", "")
		return
	}
	if now := e.now(); e.inProgress(st.Upload, now) || e.inProgress(st.Download, now) {
		writeError(w, http.StatusConflict, "Conflict", "A security domain operation is already in progress on this HSM; poll its status (GET /securitydomain/upload/pending or download/pending)", "")
		return
	}
	priv, cert, err := e.exchangeKey(svc, st)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "reading the exchange key failed", "")
		return
	}
	fail := func(msg, inner string) {
		st.Upload = opStatus{Status: statusFailed, Details: msg, Started: e.now()}
		if err := e.saveHSM(svc, st); err != nil {
			writeError(w, http.StatusInternalServerError, "InternalError", "writing the emulator's state failed", "")
			return
		}
		writeError(w, http.StatusBadRequest, "BadParameter", msg, inner)
	}
	payloads, err := openRestoreBlob(blob, priv, cert)
	if err != nil {
		fail(restoreBlobMessage(err), "InvalidRestoreBlob")
		return
	}
	defer func() {
		for _, p := range payloads {
			wipe(p.Data)
		}
	}()
	if st.Activated {
		if msg := comparePayloads(st.Payloads, payloads); msg != "" {
			fail("The restore blob does not hold this HSM's security domain: "+msg, "SecurityDomainMismatch")
			return
		}
	} else {
		// A new HSM takes on the restored security domain.
		st.Payloads = nil
		for _, p := range payloads {
			st.Payloads = append(st.Payloads, sdPayload{Tag: p.Tag, Data: bytes.Clone(p.Data)})
		}
		st.Activated = true
	}
	st.Upload = opStatus{Status: statusSuccess, Details: detailsSuccess, Started: e.now()}
	if err := e.saveHSM(svc, st); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "writing the emulator's state failed", "")
		return
	}
	// No Retry-After: the service sends none on these answers.
	w.Header().Set("Azure-AsyncOperation", asyncOperation(r, svc, "upload"))
	writeJSON(w, http.StatusAccepted, map[string]string{"status": statusInProgress, "status_details": detailsUploadInProgress})
}

// comparePayloads says how got differs from want, or "" if equal.
func comparePayloads(want, got []sdPayload) string {
	if len(want) != len(got) {
		return fmt.Sprintf("it has %d EncData entries; the HSM has %d", len(got), len(want))
	}
	for i := range want {
		if want[i].Tag != got[i].Tag {
			return fmt.Sprintf("EncData entry %d is tagged %q; the HSM's is %q", i, got[i].Tag, want[i].Tag)
		}
		if !bytes.Equal(want[i].Data, got[i].Data) {
			return fmt.Sprintf("EncData entry %d (%s) differs from the HSM's", i, want[i].Tag)
		}
	}
	return ""
}

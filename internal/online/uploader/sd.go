package uploader

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"

	"github.com/keyrite/keyrite/internal/base/buildinfo"
	"github.com/keyrite/keyrite/securitydomain"
)

// SDAPIVersion is the security-domain api-version the az CLI uses.
const SDAPIVersion = "7.5"

// maxResponse bounds what is read of a security-domain response.
const maxResponse = 4 << 20

// ErrOperationFailed is returned (wrapped) when a security-domain operation
// ends in status "Failed" (one still in progress when the polling budget
// runs out is ErrStillInProgress, never this).
var ErrOperationFailed = errors.New("uploader: security-domain operation did not succeed")

// sdPipeline returns the azcore pipeline for raw security-domain REST: the
// bearer-token policy with the Key Vault challenge handling (first request
// without token or body, then a token for the challenge's resource, by
// default https://managedhsm.azure.net/.default).
//
// The pipeline does not retry on its own: a POST that reached the service
// must never be sent twice (a second download would be a second
// activation), and the status requests are tried again by poll, on the
// client's clock and within its budget.
func (c *Client) sdPipeline() runtime.Pipeline {
	opts := c.clientOptions()
	opts.Retry.MaxRetries = -1
	return runtime.NewPipeline("keyrite-uploader", buildinfo.Version, runtime.PipelineOptions{
		PerRetry: []policy.Policy{newChallengePolicy(c.cred, !c.local)},
	}, &opts) // opts carries requireChallenge, which runs after the challenge policy
}

// challengeAuthorizer implements the Key Vault / Managed HSM challenge flow
// the Azure SDK clients use (azkeys' internal policy, which other modules
// cannot import).
type challengeAuthorizer struct {
	mu     sync.RWMutex
	tro    policy.TokenRequestOptions
	verify bool
}

type savedBody struct {
	body        io.ReadSeekCloser
	contentType string
}

func newChallengePolicy(cred azcore.TokenCredential, verify bool) policy.Policy {
	a := &challengeAuthorizer{verify: verify}
	return runtime.NewBearerTokenPolicy(cred, nil, &policy.BearerTokenOptions{
		AuthorizationHandler: policy.AuthorizationHandler{OnRequest: a.onRequest, OnChallenge: a.onChallenge},
	})
}

func (a *challengeAuthorizer) get() policy.TokenRequestOptions {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.tro
}

func (a *challengeAuthorizer) onRequest(req *policy.Request, authNZ func(policy.TokenRequestOptions) error) error {
	tro := a.get()
	if len(tro.Scopes) > 0 {
		return authNZ(tro)
	}
	// No challenge seen yet: send without token and without body to elicit
	// one; onChallenge puts the body back.
	if body := req.Body(); body != nil {
		req.SetOperationValue(savedBody{body, req.Raw().Header.Get("Content-Type")})
		if err := req.SetBody(nil, ""); err != nil {
			return err
		}
	}
	return nil
}

func (a *challengeAuthorizer) onChallenge(req *policy.Request, res *http.Response, authNZ func(policy.TokenRequestOptions) error) error {
	tro, err := parseChallenge(res.Header.Get("WWW-Authenticate"), req.Raw().URL.Hostname(), a.verify)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.tro = tro
	a.mu.Unlock()
	var sb savedBody
	if req.OperationValue(&sb) {
		if err := req.SetBody(sb.body, sb.contentType); err != nil {
			return err
		}
	}
	return authNZ(tro)
}

// parseChallenge reads `Bearer authorization="https://login.../<tenant>",
// resource="https://managedhsm.azure.net"` (or scope=...). With verify, the
// resource's host must be a parent domain of the request's host.
func parseChallenge(h, reqHost string, verify bool) (policy.TokenRequestOptions, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return policy.TokenRequestOptions{}, fmt.Errorf("uploader: the service's authentication challenge is not a Bearer challenge: %q", echo(h))
	}
	params := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	scope := params["scope"]
	if scope == "" {
		scope = params["resource"]
	}
	if scope == "" {
		return policy.TokenRequestOptions{}, errors.New("uploader: the service's authentication challenge names no resource")
	}
	u, err := url.Parse(scope)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return policy.TokenRequestOptions{}, fmt.Errorf("uploader: the challenge's resource %q is not an https URL", echo(scope))
	}
	if verify && !strings.HasSuffix(strings.ToLower(reqHost), "."+strings.ToLower(u.Hostname())) {
		return policy.TokenRequestOptions{}, fmt.Errorf("uploader: the challenge's resource %q does not belong to %s; refusing to send it a token", echo(scope), reqHost)
	}
	if !strings.HasSuffix(scope, "/.default") {
		scope = strings.TrimSuffix(scope, "/") + "/.default"
	}
	var tenant string
	if au, err := url.Parse(params["authorization"]); err == nil {
		tenant = strings.Trim(au.Path, "/")
		tenant, _, _ = strings.Cut(tenant, "/")
	}
	return policy.TokenRequestOptions{Scopes: []string{scope}, TenantID: tenant}, nil
}

// sdCall sends one security-domain request and returns the response body
// and status. Statuses other than want are returned as *ServiceError.
func (c *Client) sdCall(ctx context.Context, pl runtime.Pipeline, method, u string, body []byte, want ...int) ([]byte, *http.Response, error) {
	req, err := runtime.NewRequest(ctx, method, u)
	if err != nil {
		return nil, nil, err
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", SDAPIVersion)
	req.Raw().URL.RawQuery = q.Encode()
	req.Raw().Header.Set("Accept", "application/json")
	if body != nil {
		if err := req.SetBody(streaming.NopCloser(bytes.NewReader(body)), "application/json"); err != nil {
			return nil, nil, err
		}
	}
	resp, err := pl.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	// The guarded transport bounds the body (ErrResponseTooLarge).
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp, fmt.Errorf("uploader: reading the response to %s %s: %w", method, req.Raw().URL.Path, err)
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return data, resp, nil
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return nil, resp, fromResponse(resp)
}

// Download is the outcome of a security-domain download.
type Download struct {
	Request []byte  // the request body sent (public: certificates and quorum)
	SD      []byte  // the security domain exactly as the service returned it
	Status  *Status // the final download (activation) status
}

// DownloadSecurityDomain activates the HSM: it sends the custodians'
// certificates and the quorum (body built as the az CLI builds it), and
// returns the SD exactly as it arrives. sink, if not nil, is called with the
// SD before polling starts, so that it is saved even if polling does not
// finish. It then checks that the SD is well formed and wrapped to exactly
// the given certificates with the given quorum, and polls the activation's
// status (see poll: ErrStillInProgress when the budget runs out).
//
// Activation happens once: before sending anything it reads the HSM's
// download status, and refuses (ErrAlreadyRequested) when a download is in
// progress or has succeeded. Look at it with SDStatus instead.
func (c *Client) DownloadSecurityDomain(ctx context.Context, hsmURL string, certs []*x509.Certificate, quorum int, sink func([]byte) error) (*Download, error) {
	hsm, err := c.serviceURL(hsmURL, true)
	if err != nil {
		return nil, err
	}
	body, err := securitydomain.DownloadRequest(certs, quorum)
	if err != nil {
		return nil, fmt.Errorf("uploader: %w", err)
	}
	pl := c.sdPipeline()
	if err := c.guard(ctx, pl, hsm, "download"); err != nil {
		return nil, err
	}
	data, resp, err := c.sdCall(ctx, pl, http.MethodPost, hsm+"/securitydomain/download", body, http.StatusAccepted, http.StatusOK)
	if err != nil {
		return nil, postError("download", err)
	}
	var v struct {
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Value == nil || *v.Value == "" {
		return nil, errors.New(`uploader: the download answer has no "value" (the security domain)`)
	}
	d := &Download{Request: body, SD: []byte(*v.Value)}
	if sink != nil {
		if err := sink(d.SD); err != nil {
			return d, err
		}
	}
	if err := CheckSD(d.SD, certs, quorum); err != nil {
		return d, err
	}
	d.Status, err = c.poll(ctx, pl, statusURL(hsm, "download", resp.Header), "download", false)
	return d, err
}

// postError describes a failed POST: a refusal by the service is its
// answer; a POST that got no answer may or may not have reached the HSM, so
// its outcome is unknown (ErrStatusUnknown), not failed.
func postError(op string, err error) error {
	var se *ServiceError
	var nc *noChallengeError
	if errors.As(err, &se) || errors.As(err, &nc) {
		return fmt.Errorf("uploader: security-domain %s: %w", op, err)
	}
	return fmt.Errorf("%w: security-domain %s: no answer, so the HSM may or may not have received it: %w", ErrStatusUnknown, op, err)
}

// guard refuses to start op when the HSM already reports one that must not
// be started again: a download in progress or done (activation happens
// once), an upload in progress. A status endpoint that answers 404, or
// refuses the look with another 4xx that is not about credentials, reports
// no operation.
func (c *Client) guard(ctx context.Context, pl runtime.Pipeline, hsm, op string) error {
	st, err := c.lookOnce(ctx, pl, statusURL(hsm, op, nil), op)
	var se *ServiceError
	switch {
	case err != nil && errors.As(err, &se) && se.Status >= 400 && se.Status < 500 &&
		se.Status != http.StatusUnauthorized && se.Status != http.StatusForbidden && se.Status != http.StatusTooManyRequests:
		return nil
	case err != nil:
		return err
	case st == nil || st.Status == StatusFailed:
		return nil
	case op == "upload" && st.succeeded():
		return nil // restoring again is allowed
	}
	return &AlreadyRequestedError{Operation: op, Status: *st}
}

// AlreadyRequestedError is ErrAlreadyRequested with the status the HSM
// reported.
type AlreadyRequestedError struct {
	Operation string
	Status    Status
}

func (e *AlreadyRequestedError) Error() string {
	what := "a security-domain download (activation)"
	if e.Operation == "upload" {
		what = "a security-domain upload (restore)"
	}
	s := fmt.Sprintf("%s: the HSM reports %s with status %q", ErrAlreadyRequested, what, e.Status.Status)
	if e.Status.Details != "" {
		s += " (" + e.Status.Details + ")"
	}
	return s + "; nothing was sent"
}

func (e *AlreadyRequestedError) Unwrap() error { return ErrAlreadyRequested }

// CheckSD checks that a downloaded SD parses and that its shares go to
// exactly the given certificates, in order, with the given quorum.
func CheckSD(sdText []byte, certs []*x509.Certificate, quorum int) error {
	sd, err := securitydomain.ParseSD(sdText)
	if err != nil {
		return fmt.Errorf("uploader: the downloaded security domain is malformed: %w", err)
	}
	if sd.Required != quorum {
		return fmt.Errorf("uploader: the downloaded security domain has quorum %d; asked for %d", sd.Required, quorum)
	}
	if len(sd.Shares) != len(certs) {
		return fmt.Errorf("uploader: the downloaded security domain has %d shares; asked for %d certificates", len(sd.Shares), len(certs))
	}
	for i, c := range certs {
		if sd.Shares[i].X5T256 != securitydomain.X5T256(c) {
			return fmt.Errorf("uploader: share %d of the downloaded security domain is wrapped to %s, not to certificate %d (%s)", i, sd.Shares[i].X5T256, i, securitydomain.X5T256(c))
		}
	}
	return nil
}

// ExchangeKey fetches the HSM's exchange (transfer) key (GET
// /securitydomain/upload, the az CLI's init-recovery) and returns its
// certificate, the certificate PEM as init-recovery writes it (65-character
// lines, no final newline), and the raw response.
func (c *Client) ExchangeKey(ctx context.Context, hsmURL string) (*x509.Certificate, []byte, []byte, error) {
	hsm, err := c.serviceURL(hsmURL, true)
	if err != nil {
		return nil, nil, nil, err
	}
	data, _, err := c.sdCall(ctx, c.sdPipeline(), http.MethodGet, hsm+"/securitydomain/upload", nil, http.StatusOK)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("uploader: fetching the exchange key: %w", err)
	}
	cert, err := securitydomain.ParseExchangeKey(data)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("uploader: the service's transfer key: %w", err)
	}
	return cert, securitydomain.ExchangeCertPEM(cert), data, nil
}

// UploadSecurityDomain uploads a restore blob (POST /securitydomain/upload
// with {"value": blob text}) and polls until the restore finished, or the
// budget runs out (ErrStillInProgress: the restore goes on). The blob is
// checked to parse first; it is sent unchanged, and not at all when the HSM
// reports an upload in progress (ErrAlreadyRequested).
func (c *Client) UploadSecurityDomain(ctx context.Context, hsmURL string, blob []byte) (*Status, error) {
	hsm, err := c.serviceURL(hsmURL, true)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(blob)) == 0 {
		return nil, errors.New("uploader: the restore blob is empty")
	}
	if _, err := securitydomain.ParseRestoreBlob(blob); err != nil {
		return nil, fmt.Errorf("uploader: %w", err)
	}
	pl := c.sdPipeline()
	if err := c.guard(ctx, pl, hsm, "upload"); err != nil {
		return nil, err
	}
	data, resp, err := c.sdCall(ctx, pl, http.MethodPost, hsm+"/securitydomain/upload", UploadRequest(blob), http.StatusAccepted, http.StatusNoContent, http.StatusOK)
	if err != nil {
		return nil, postError("upload", err)
	}
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		var st Status
		if json.Unmarshal(data, &st) == nil && st.Status == StatusFailed {
			st.Details = echo(st.Details)
			return &st, fmt.Errorf("%w: upload failed: %s", ErrOperationFailed, st.Details)
		}
	}
	return c.poll(ctx, pl, statusURL(hsm, "upload", resp.Header), "upload", false)
}

// UploadRequest returns the body of POST /securitydomain/upload as the az
// CLI sends it; see securitydomain.UploadRequest.
func UploadRequest(blob []byte) []byte { return securitydomain.UploadRequest(blob) }

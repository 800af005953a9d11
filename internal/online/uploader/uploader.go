// Package uploader is the online half of keyrite: it talks to Azure Key
// Vault and Managed HSM for the steps an air-gapped workstation cannot do.
//
//   - [Client.CreateKEK] creates the key exchange key (RSA-HSM, key_ops
//     exactly ["import"]) with the Azure SDK for Go (azkeys) and returns its
//     public key as a PEM SubjectPublicKeyInfo, the form `keyrite kek
//     inspect` reads.
//   - [Client.ImportBYOK] imports a .byok blob (azkeys ImportKey with
//     JSONWebKey.T = the raw file, HSM true), reads the key back (GetKey) and
//     compares the service's public key with the one recorded offline; for
//     an AES key, which has none, it has the service encrypt one zero block
//     (AES-CBC, zero IV) and compares the first 3 bytes, the key check
//     value, with the one recorded offline.
//   - [Client.DownloadSecurityDomain], [Client.ExchangeKey] and
//     [Client.UploadSecurityDomain] do the Managed HSM security-domain
//     operations over raw REST on azcore (no official Go client exists), with
//     the request bodies the az CLI sends and polling of the */pending status
//     (specs/security-domain.md §1, §2, §7, §9).
//   - [ImportCeremony] verifies a ceremony transcript, then does exactly what
//     its byok.export events recorded, and records what the service returned.
//
// # Authentication and trust
//
// Requests carry a bearer token from azidentity's DefaultAzureCredential, or a
// static token ([Config.Token], from --token-env). As the service requires,
// the first request goes without a token; the 401 challenge names the tenant
// and resource, and the request is re-sent with a token for that resource.
// The challenge's resource must belong to the host the request went to (the
// SDK's check), except against a local stand-in: see [Config.CAFile].
//
// Service URLs must be https. Without CAFile they must be Azure Key Vault or
// Managed HSM hosts (e.g. https://contoso.vault.azure.net), so that a typo
// never sends a token elsewhere.
package uploader

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Config configures a Client.
type Config struct {
	// CAFile is an extra trusted CA certificate (PEM), e.g. the emulator's
	// ca.pem. Giving it marks the target as a local stand-in: service URLs
	// may then be any https URL, and the authentication challenge's
	// resource is not checked against the request's host (the emulator
	// answers for https://127.0.0.1:PORT with resource
	// https://vault.azure.net, which the check would refuse). Real vaults
	// never need it. Because those checks are off, a stand-in gets only the
	// token given in Token (or Credential), never one from the default Azure
	// credential chain: New refuses CAFile without one (ErrStandInToken).
	CAFile string
	// Token, if set, is used as the bearer token instead of
	// DefaultAzureCredential. It is kept in memory only.
	Token string
	// Credential, if set, overrides both (tests).
	Credential azcore.TokenCredential
	// Timeout is the time budget (default DefaultTimeout, 30 minutes). For
	// watching a security-domain operation: past it the operation is
	// reported still in progress (ErrStillInProgress), never failed. For
	// the key calls (create, import, read back, KCV), counted from the
	// client's first key call: a throttled or unavailable service is waited
	// for as its Retry-After asks while the wait ends within the budget;
	// a longer wait is refused at once (ErrBusy). See keyRetry.
	Timeout time.Duration
	// PollInterval is the longest wait between polls of a security-domain
	// operation's status when the service sends no Retry-After (default
	// DefaultPollInterval, 30 s, the Python SDK's); the first polls come
	// sooner.
	PollInterval time.Duration
	// TrustOnFirstUse lets ImportCeremony and UploadCeremony act on a
	// ceremony without a trust file, on whoever signed it; the decision and
	// the signers' keys are recorded in the ceremony. Without it, and
	// without a trust file, they refuse (ErrNoTrust).
	TrustOnFirstUse bool
	// Progress, if set, is called after every poll.
	Progress func(Progress)
	// OnWait, if set, is called before every wait of a key call that is
	// tried again (throttled, unavailable, a dropped connection), to say
	// what it is waiting for.
	OnWait func(Wait)
	// Now and Sleep replace the wall clock in tests (fakeclock).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client talks to one or more vaults and HSMs.
type Client struct {
	cfg  Config
	cred azcore.TokenCredential
	// transport is the credential's (azidentity's) HTTP client; vault is
	// the transport of every vault and HSM call: no redirects, bounded
	// bodies (guardedTransport).
	transport *http.Client
	vault     guardedTransport
	local     bool

	mu       sync.Mutex
	keyStart time.Time // the first key call, when the key calls' budget starts
}

// ErrStandInToken is returned by New when CAFile is given without Token or
// Credential: with the host and challenge checks off, the default credential
// chain would hand a real Azure token to whatever host the URL names (and for
// whatever resource its challenge asks).
var ErrStandInToken = errors.New("uploader: --ca marks a local stand-in, which gets only a token given with --token-env, never your Azure credentials")

// maxCAFile bounds the --ca file.
const maxCAFile = 1 << 20

// New builds a client: the credential and an HTTPS transport that trusts
// the system roots plus cfg.CAFile.
func New(cfg Config) (*Client, error) {
	if cfg.CAFile != "" && cfg.Token == "" && cfg.Credential == nil {
		return nil, ErrStandInToken
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	c := &Client{cfg: cfg, local: cfg.CAFile != ""}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if cfg.CAFile != "" {
		pemData, err := readCA(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		if !roots.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("uploader: %s holds no PEM certificate", cfg.CAFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c.transport = &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	c.vault = guardedTransport{
		client: &http.Client{Transport: tr, Timeout: 2 * time.Minute, CheckRedirect: noRedirect},
		limit:  maxResponse,
	}

	switch {
	case cfg.Credential != nil:
		c.cred = cfg.Credential
	case cfg.Token != "":
		c.cred = staticToken(cfg.Token)
	default:
		cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: azcore.ClientOptions{Transport: c.transport},
		})
		if err != nil {
			return nil, fmt.Errorf("uploader: no Azure credential: %w", err)
		}
		c.cred = cred
	}
	return c, nil
}

// readCA reads the --ca file, refusing one larger than maxCAFile.
func readCA(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("uploader: reading --ca: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCAFile+1))
	if err != nil {
		return nil, fmt.Errorf("uploader: reading --ca %s: %w", path, err)
	}
	if len(data) > maxCAFile {
		return nil, fmt.Errorf("uploader: --ca %s is larger than %d KiB; expected a PEM CA certificate", path, maxCAFile>>10)
	}
	return data, nil
}

// clientOptions are the azcore options of every vault and HSM client: the
// guarded transport (no redirects, bounded bodies) and no azcore retries
// (the key clients add keyRetry; the security-domain calls are retried by
// poll, and their POSTs never).
func (c *Client) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport:        c.vault,
		Retry:            policy.RetryOptions{MaxRetries: -1},
		Telemetry:        policy.TelemetryOptions{ApplicationID: "keyrite-uploader"},
		PerRetryPolicies: []policy.Policy{requireChallenge{}},
	}
}

// ErrNoChallenge is returned (wrapped) when a server answers a request sent
// without credentials with anything but a 401 challenge.
var ErrNoChallenge = errors.New("uploader: " + noChallengeText)

// noChallengeText is ErrNoChallenge's text without the prefix, for
// noChallengeError (see busyText).
const noChallengeText = "the server did not ask for credentials"

type noChallengeError struct {
	status       int
	method, path string
}

func (e *noChallengeError) Error() string {
	return fmt.Sprintf("%s: it answered %d to %s %s sent without a token (and without its body), where Key Vault and Managed HSM answer 401 with an authentication challenge; refusing to trust that answer", noChallengeText, e.status, e.method, e.path)
}
func (e *noChallengeError) Unwrap() error { return ErrNoChallenge }

// NonRetriable tells azcore's retry policy not to retry.
func (e *noChallengeError) NonRetriable() {}

// requireChallenge sits after the challenge-handling bearer-token policy.
// The first request of a client goes without token and without body to
// elicit the challenge; a server that answers it with anything but 401 is
// not Key Vault or Managed HSM, and its answer (to a request whose body was
// never sent) must not be taken for success.
type requireChallenge struct{}

func (requireChallenge) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if err != nil || req.Raw().Header.Get("Authorization") != "" || resp.StatusCode == http.StatusUnauthorized {
		return resp, err
	}
	resp.Body.Close()
	return nil, &noChallengeError{status: resp.StatusCode, method: req.Raw().Method, path: req.Raw().URL.Path}
}

// staticToken is a TokenCredential returning one fixed bearer token.
type staticToken string

func (t staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Azure data-plane host suffixes (public and sovereign clouds).
var (
	vaultSuffixes = []string{".vault.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net", ".vault.microsoftazure.de"}
	hsmSuffixes   = []string{".managedhsm.azure.net", ".managedhsm.azure.cn", ".managedhsm.usgovcloudapi.net"}
)

// ErrURL is returned (wrapped) for an unacceptable service URL.
var ErrURL = errors.New("uploader: invalid service URL")

// serviceURL validates a vault or HSM URL and returns it without a trailing
// slash. hsmOnly restricts it to Managed HSM hosts.
func (c *Client) serviceURL(raw string, hsmOnly bool) (string, error) {
	what := "--vault"
	want := "https://<name>.vault.azure.net or https://<name>.managedhsm.azure.net"
	if hsmOnly {
		what, want = "--hsm", "https://<name>.managedhsm.azure.net"
	}
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return "", fmt.Errorf("%w: %s %q is not a URL; expected %s", ErrURL, what, raw, want)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("%w: %s %q has scheme %q; expected https (the SDK refuses to send tokens over plain http)", ErrURL, what, raw, u.Scheme)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Host == "" {
		return "", fmt.Errorf("%w: %s %q must be a bare https URL (no user, query or fragment); expected %s", ErrURL, what, raw, want)
	}
	if c.local {
		return strings.TrimRight(raw, "/"), nil
	}
	host := strings.ToLower(u.Hostname())
	suffixes := hsmSuffixes
	if !hsmOnly {
		suffixes = append(append([]string(nil), vaultSuffixes...), hsmSuffixes...)
	}
	ok := false
	for _, s := range suffixes {
		if strings.HasSuffix(host, s) && len(host) > len(s) && !strings.Contains(strings.TrimSuffix(host, s), ".") {
			ok = true
		}
	}
	if !ok {
		return "", fmt.Errorf("%w: %s host %q is not an Azure Key Vault or Managed HSM host; expected %s (use --ca to point at a local emulator)", ErrURL, what, u.Hostname(), want)
	}
	if u.Port() != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("%w: %s %q has a port or path; expected %s", ErrURL, what, raw, want)
	}
	return "https://" + host, nil
}

// Package emulator is a local stand-in for the Azure Key Vault and Managed HSM
// data planes that keyrite-uploader talks to. It exists for tests and
// rehearsals, never for production keys.
//
// It serves HTTPS only, with a certificate authority it creates (ECDSA P-256,
// kept in the state directory; its certificate is DIR/ca.pem), and it does
// the service's work for real: it keeps the private keys of the key exchange
// keys (KEKs) it creates, unwraps imported .byok blobs with them and rejects
// bad ones the way the service does, produces real security domains for
// downloads, and decrypts uploaded restore blobs with its exchange key. The
// endpoints and their shapes follow docs/specs/azure-endpoints.md and
// security-domain.md §1, §2, §7 and §9, and, where those and the service's
// traffic recorded in 2025 disagree, the recording.
//
// # Addressing several vaults and HSMs
//
// One emulator stands in for any number of Key Vaults and Managed HSMs. A
// request names its service by a path prefix, by its Host, or by neither:
//
//	https://127.0.0.1:PORT/kv/NAME/...    Key Vault NAME
//	https://127.0.0.1:PORT/mhsm/NAME/...  Managed HSM NAME
//	https://NAME.vault.azure.net/...      Key Vault NAME (Host header, when a client resolves the name to the emulator)
//	https://NAME.managedhsm.azure.net/... Managed HSM NAME (likewise)
//	https://127.0.0.1:PORT/...            Managed HSM "default"
//
// So the vault URL given to a client is e.g. https://127.0.0.1:PORT/kv/demo.
// NAME follows the service's rules (3 to 24 letters, digits and hyphens,
// starting with a letter, not ending with a hyphen, no "--") and is
// case-insensitive. The server certificate covers 127.0.0.1, ::1 and
// localhost; for any other TLS server name (SNI) the emulator issues a
// certificate for that name from its CA on first use.
//
// Key identifiers (kid) are minted as the service mints them, whatever URL
// the request used: https://demo.vault.azure.net/keys/<name>/<version> for
// Key Vault demo, https://demo.managedhsm.azure.net/keys/<name>/<version>
// for Managed HSM demo. The offline tools accept only such identifiers, so a
// rehearsal's .byok files name the KEK exactly as a real one would; the
// emulator maps the identifier back to its own vault by kind and name.
//
// # Authentication
//
// Every request without a bearer token is answered 401 with the challenge the
// Azure SDK expects:
//
//	WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net"
//
// (resource="https://managedhsm.azure.net" for a Managed HSM). Any non-empty
// bearer token is then accepted: the emulator checks the protocol, not
// identities.
//
// # Keys
//
// POST /keys/{name}/create makes RSA (2048, 3072, 4096), EC (P-256, P-384,
// P-521) and, on a Managed HSM, oct-HSM keys. key_ops "import" marks a key
// exchange key: it must be RSA-HSM and the only operation. PUT /keys/{name}
// imports a BYOK blob (key.key_hsm, the base64url of the .byok file) and
// checks, in order: the request (kty RSA-HSM, EC-HSM with crv, or oct-HSM on
// a Managed HSM only; key_ops valid for the type; Hsm not false; no plain
// JWK members), the .byok file (byok.ParseBlob), that header.kid names a
// key exchange key of this vault (RSA-HSM, key_ops exactly ["import"],
// enabled), that the ciphertext unwraps under it (byok.Unwrap), and that the
// plaintext is exactly a key of the declared type: the DER of a PKCS#8
// PrivateKeyInfo with nothing after it (zero padding left by a source HSM's
// key wrap is refused and named as such), RSA 2048/3072/4096 or EC on the
// declared curve, or 16/24/32 raw bytes for oct-HSM. Refusals are 400
// {"error":{"code":"BadParameter","message":"...","innererror":{"code":"..."}}}
// with a message that says what was expected and what was found.
//
// POST /keys/{name}/encrypt and /keys/{name}/{version}/encrypt take the
// service's body {"alg","value","iv"} (value and iv base64url) and answer
// {"kid","value"}; the emulator implements them for oct-HSM keys only, with
// alg A128CBC, A192CBC or A256CBC (AES-CBC without padding) matching the
// key size, an iv of exactly 16 bytes and a value that is a non-empty
// multiple of 16 bytes (aad and tag refused). A key whose key_ops lack
// encrypt, or that is disabled, is refused 403 {"code":"Forbidden",
// "innererror":{"code":"KeyOperationForbidden"}} as the service does;
// other refusals are 400 BadParameter. The uploader uses it to compare an
// imported AES key's check value (the first 3 bytes of the encryption of
// one zero block with a zero iv) with the one recorded offline.
//
// # Security domain (Managed HSM only)
//
// POST /securitydomain/download checks the request (3 to 10 distinct RSA
// certificates of at least 2048 bits whose n, e, x5t and x5t#S256 agree with
// x5c[0]; required 2 to 10 and at most the number of certificates), produces
// a real SD over the HSM's backup payloads (securitydomain.NewSecurityDomain,
// a UUID kid per share as the service writes since 2025) and answers 202
// with {"value": SD} and Azure-AsyncOperation, no Retry-After. The HSM is
// then activated: a second download is refused (409 Conflict), also while
// the first is still in progress, so that a retried POST never starts a
// second activation. GET /securitydomain/upload returns the HSM's exchange
// key, made on first use, as the service lays it out (recorded 2025):
// compact {"key_format":"jwk","transfer_key":"<JWK as a JSON string>"}
// (securitydomain.TransferKeyResponse; an object with
// Config.TransferKeyAsObject), the JWK RSA-4096 with kid "not used" and no
// alg, x5c[0] a self-signed certificate for CN=<hsm>.managedhsm.azure.net
// (serial 1, one year, critical basic constraints and keyEncipherment key
// usage, key identifiers, and the service's non-critical attestation
// extension 1.2.840.113556.10.1.1 with a made-up value of the recorded
// size, about 6 KB in all). POST /securitydomain/upload opens the restore
// blob with the exchange key (securitydomain.OpenRestoreBlob): an activated
// HSM accepts only its own payloads, a never-activated one takes on the
// uploaded domain (a restore into a new HSM); it answers 202
// {"status":"InProgress",...} with Azure-AsyncOperation and no Retry-After,
// or 400 at once for a blob it cannot open (409 while an operation is in
// progress).
//
// GET /securitydomain/download/pending and /upload/pending report the last
// operation with the service's bodies, byte for byte:
// {"status":"InProgress","status_details":"The Security Domain is being
// confirmed."} (download; "...being restored." for an upload) until
// Config.SDDelay has passed since its POST, by Config.Now, then
// {"status":"Success","status_details":"The resource is active."} (Failed
// for a refused upload at once), each with Azure-AsyncOperation and without
// Retry-After. The start is kept in the state, so an operation stays in
// progress across a restart. The zero Config reports Success at the first
// poll; keyrite-emulator's default is a few seconds, and the real service
// takes many minutes.
//
// # Fault switches
//
// All on the injected clock (Config.Now) or on request counts, so that no
// test depends on wall time:
//
//   - Config.Throttle: the service's key-creation limits, 429 Throttled
//     with Retry-After (whole seconds until the window frees).
//   - Config.PendingInterval: status polls of one operation closer together
//     than the interval are 429 Throttled with Retry-After; a client that
//     waits as told is answered.
//   - Config.ServerErrorEvery N: every Nth authenticated request is 503
//     {"error":{"code":"ServiceUnavailable",...}} with no Retry-After,
//     answered before the request does anything.
//
// # State
//
// Everything persists in the state directory as JSON: keys under
// services/<kind>-<name>/keys/<key>/<version>.json (new files written with
// fsx.WriteNew) and each HSM's security-domain state in
// services/mhsm-<name>/securitydomain.json (replaced by write-to-temp and
// rename). The files hold the emulator's own private keys (KEKs, exchange
// keys) and are written 0600. Imported RSA and EC keys are stored by their
// public part only; imported oct-HSM (AES) keys are stored with their key
// bytes, in the same 0600 files, so that encrypt can use them. This is what
// makes the emulator a test stand-in and nothing more: it holds imported
// symmetric keys in the clear on disk. Never import a production key into
// it.
//
// Differences from the service worth knowing: a Managed HSM answers key
// operations before its security domain has been downloaded (the service
// refuses until activation); throttling (429 with Retry-After) is emulated
// only for key creation and status polls, and only when switched on; a
// security-domain operation's outcome is decided at its POST (an
// unopenable restore blob is refused 400 at once, not reported Failed
// later), only its report waits for SDDelay; the exchange certificate's
// attestation extension holds a made-up value that attests nothing; the
// HSM's backup payloads are random bytes of about the recorded sizes.
// Exchange keys made by older emulators (RSA-2048, with alg and a URL kid)
// stay as they are in existing state directories.
package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Config configures an Emulator.
type Config struct {
	// StateDir holds the CA, the keys and the security-domain state. It is
	// created (0700) if missing.
	StateDir string
	// TransferKeyAsObject makes GET /securitydomain/upload return
	// transfer_key as a JSON object (as the REST spec types it) instead of
	// a JSON string holding the JWK (what the service really sends).
	TransferKeyAsObject bool
	// SDValueBase64 makes the download answer's "value" the standard
	// base64 of the SD JSON, as the REST spec's example shows, instead of
	// the JSON text itself (what the service really returns).
	SDValueBase64 bool
	// Throttle enforces the service's key-creation limits (Key Vault: 10
	// HSM key creates per 10 s per vault; Managed HSM: 1 per second),
	// answering 429 with Retry-After as the service does. The windows are
	// measured on Now.
	Throttle bool
	// Now is the emulator's clock for everything that depends on time:
	// throttling windows, how long security-domain operations stay
	// InProgress, key creation times. Nil means time.Now. Tests give it a
	// fakeclock.Clock's Now so that nothing depends on wall time.
	// (Certificates the emulator issues use the real time: TLS clients
	// check them against theirs.)
	Now func() time.Time
	// SDDelay is how long a security-domain download or upload stays
	// InProgress (GET .../pending) after its POST, measured on Now. The
	// real service takes many minutes (recorded in 2025: 18 InProgress
	// answers after a download, 23 after an upload, over several
	// minutes); zero reports Success at the first poll.
	SDDelay time.Duration
	// PendingInterval, if not zero, throttles GET .../pending: a poll that
	// comes sooner than this after the previous answered poll of the same
	// operation on the same HSM is answered 429 with Retry-After (whole
	// seconds until the interval has passed, measured on Now), as the
	// service throttles clients that poll too fast.
	PendingInterval time.Duration
	// ServerErrorEvery, if N > 0, answers every Nth authenticated request
	// (counting from the emulator's start) 503 ServiceUnavailable with the
	// service's error body and no Retry-After, before it does anything
	// else: nothing is created, imported or started by that request.
	ServerErrorEvery int
	// Log, if set, receives one line per request (method, path, status).
	Log io.Writer
}

// Tenant is the tenant named in the emulator's authentication challenge.
const Tenant = "00000000-0000-0000-0000-00000000e111"

// Challenge resources, as the service names them.
const (
	ResourceVault      = "https://vault.azure.net"
	ResourceManagedHSM = "https://managedhsm.azure.net"
)

// maxBody bounds request bodies. The largest legitimate one (a restore blob
// or a download request with ten 4096-bit certificates) is far smaller.
const maxBody = 1 << 20

// Emulator is the stand-in service. Its methods are safe for concurrent use.
type Emulator struct {
	cfg   Config
	ca    *authority
	state *store

	mu       sync.Mutex // serialises every state-changing operation
	reqMu    sync.Mutex
	requests []Request
	creates  map[string][]time.Time // recent key creates per service, for Throttle
	polls    map[string]time.Time   // last answered poll per HSM and operation, for PendingInterval (under mu)

	// newExchangeKey makes an HSM's exchange key (RSA-4096, about a
	// second); tests replace it with a pre-made key.
	newExchangeKey func() (*rsa.PrivateKey, error)
	authReqs       int // authenticated requests so far, for ServerErrorEvery (under reqMu)

	srv *http.Server
	ln  net.Listener
}

// Request records one request the emulator answered, for tests and logs.
type Request struct {
	Method        string
	Path          string
	Authenticated bool // a bearer token was present
	Status        int
}

// maxRequests bounds the request record.
const maxRequests = 4096

// New opens (or creates) the state directory and the CA.
func New(cfg Config) (*Emulator, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("emulator: no state directory")
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("emulator: creating state directory: %w", err)
	}
	ca, err := loadOrCreateCA(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	e := &Emulator{cfg: cfg, ca: ca, state: &store{dir: cfg.StateDir}}
	e.newExchangeKey = func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, exchangeKeyBits) }
	return e, nil
}

// now reads the configured clock.
func (e *Emulator) now() time.Time {
	if e.cfg.Now != nil {
		return e.cfg.Now()
	}
	return time.Now()
}

// injectServerError counts an authenticated request and reports whether
// Config.ServerErrorEvery makes it a 503.
func (e *Emulator) injectServerError() bool {
	if e.cfg.ServerErrorEvery <= 0 {
		return false
	}
	e.reqMu.Lock()
	defer e.reqMu.Unlock()
	e.authReqs++
	return e.authReqs%e.cfg.ServerErrorEvery == 0
}

// CACertPEM returns the PEM certificate of the emulator's CA (also in
// StateDir/ca.pem).
func (e *Emulator) CACertPEM() []byte { return append([]byte(nil), e.ca.certPEM...) }

// CAFile returns the path of the CA certificate file.
func (e *Emulator) CAFile() string { return filepath.Join(e.cfg.StateDir, CAFile) }

// TLSConfig returns the server-side TLS configuration.
func (e *Emulator) TLSConfig() *tls.Config { return e.ca.tlsConfig() }

// Listen starts serving HTTPS on addr (e.g. "127.0.0.1:0") in the
// background and returns the base URL, "https://127.0.0.1:PORT".
func (e *Emulator) Listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("emulator: %w", err)
	}
	e.ln = ln
	e.srv = &http.Server{
		Handler:           e,
		TLSConfig:         e.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go e.srv.Serve(tls.NewListener(ln, e.srv.TLSConfig))
	return "https://" + ln.Addr().String(), nil
}

// Close stops the server started by Listen.
func (e *Emulator) Close() error {
	if e.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.srv.Shutdown(ctx)
}

// Requests returns the requests answered so far (at most the last 4096).
func (e *Emulator) Requests() []Request {
	e.reqMu.Lock()
	defer e.reqMu.Unlock()
	return append([]Request(nil), e.requests...)
}

func (e *Emulator) record(r Request) {
	e.reqMu.Lock()
	if len(e.requests) >= maxRequests {
		e.requests = append(e.requests[:0], e.requests[len(e.requests)-maxRequests/2:]...)
	}
	e.requests = append(e.requests, r)
	e.reqMu.Unlock()
	if e.cfg.Log != nil {
		fmt.Fprintf(e.cfg.Log, "%s %s auth=%t -> %d\n", r.Method, r.Path, r.Authenticated, r.Status)
	}
}

// Service kinds.
const (
	kindVault = "kv"
	kindHSM   = "mhsm"
)

// service names the vault or HSM a request addresses.
type service struct {
	kind string // kindVault or kindHSM
	name string
	base string // scheme://host[/prefix] as the request addressed it (for Azure-AsyncOperation URLs)
}

func (s service) resource() string {
	if s.kind == kindHSM {
		return ResourceManagedHSM
	}
	return ResourceVault
}

func (s service) id() string { return s.kind + "-" + s.name }

// resolve splits a request into its service and the path within it.
func resolve(r *http.Request) (service, string, error) {
	host := r.Host
	origin := "https://" + host
	path := r.URL.Path
	if !strings.HasPrefix(path, "/") {
		return service{}, "", errors.New("the request path must start with /")
	}
	// Path prefix: /kv/NAME/... or /mhsm/NAME/...
	for _, kind := range []string{kindVault, kindHSM} {
		p := "/" + kind + "/"
		if strings.HasPrefix(path, p) {
			rest := path[len(p):]
			name, sub, _ := strings.Cut(rest, "/")
			if !validServiceName(name) {
				return service{}, "", fmt.Errorf("the %s name %q must be 3 to 24 letters, digits and hyphens", kindLabel(kind), name)
			}
			return service{kind: kind, name: strings.ToLower(name), base: origin + p + name}, "/" + sub, nil
		}
	}
	// Host: NAME.vault.azure.net / NAME.managedhsm.azure.net (any suffix).
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if name, rest, ok := strings.Cut(strings.ToLower(h), "."); ok && validServiceName(name) {
		switch {
		case strings.HasPrefix(rest, "vault."):
			return service{kind: kindVault, name: name, base: origin}, path, nil
		case strings.HasPrefix(rest, "managedhsm."):
			return service{kind: kindHSM, name: name, base: origin}, path, nil
		}
	}
	return service{kind: kindHSM, name: "default", base: origin}, path, nil
}

func kindLabel(kind string) string {
	if kind == kindHSM {
		return "managed HSM"
	}
	return "vault"
}

// validServiceName applies the service's naming rules for vaults and
// Managed HSMs: 3 to 24 letters, digits and hyphens, starting with a letter,
// not ending with a hyphen, no consecutive hyphens.
func validServiceName(s string) bool {
	if len(s) < 3 || len(s) > 24 || !isLetter(s[0]) || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !(c >= '0' && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// validKeyName applies the service's rule for key names: 1 to 127 letters,
// digits and hyphens.
func validKeyName(s string) bool {
	if len(s) < 1 || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !(c >= '0' && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

// kidHost is the host the service would give this vault or HSM.
func (s service) kidHost() string {
	if s.kind == kindHSM {
		return s.name + ".managedhsm.azure.net"
	}
	return s.name + ".vault.azure.net"
}

// kid returns the key identifier of a key version.
func (s service) kid(name, version string) string {
	return "https://" + s.kidHost() + "/keys/" + name + "/" + version
}

// statusWriter remembers the status code for the request record.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP answers one request: challenge, then route.
func (e *Emulator) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &statusWriter{ResponseWriter: rw}
	token := bearerToken(r.Header.Get("Authorization"))
	defer func() {
		if p := recover(); p != nil {
			// A bug must not take the emulator down or hang the client.
			writeError(w, http.StatusInternalServerError, "InternalError", fmt.Sprintf("emulator bug: %v", p), "")
		}
		e.record(Request{Method: r.Method, Path: r.URL.Path, Authenticated: token != "", Status: w.status})
	}()

	svc, path, err := resolve(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadParameter", err.Error(), "")
		return
	}
	if token == "" {
		w.Header().Set("WWW-Authenticate",
			fmt.Sprintf(`Bearer authorization="https://login.microsoftonline.com/%s", resource="%s"`, Tenant, svc.resource()))
		writeError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", "")
		return
	}
	if e.injectServerError() {
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable",
			"The service is temporarily unavailable; please retry the request (fault injected by keyrite-emulator --fail-5xx)", "")
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, http.StatusBadRequest, "BadParameter", "The api-version query parameter is required", "")
		return
	}
	e.route(w, r, svc, path)
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header, or "".
func bearerToken(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func (e *Emulator) route(w http.ResponseWriter, r *http.Request, svc service, path string) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	// A trailing slash (GetKey with an empty version) names the same resource.
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	switch {
	case (len(parts) == 3 || len(parts) == 4) && parts[0] == "keys" && parts[len(parts)-1] == "encrypt":
		// POST /keys/{name}/encrypt, /keys/{name}/{version}/encrypt, and
		// /keys/{name}//encrypt (the SDK with an empty version): the
		// current version unless one is named.
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r)
			return
		}
		version := ""
		if len(parts) == 4 {
			version = parts[2]
		}
		e.encrypt(w, r, svc, parts[1], version)
	case len(parts) == 3 && parts[0] == "keys" && parts[2] == "create":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r)
			return
		}
		e.createKey(w, r, svc, parts[1])
	case len(parts) == 2 && parts[0] == "keys":
		switch r.Method {
		case http.MethodGet:
			e.getKey(w, svc, parts[1], "")
		case http.MethodPut:
			e.importKey(w, r, svc, parts[1])
		default:
			methodNotAllowed(w, r)
		}
	case len(parts) == 3 && parts[0] == "keys":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r)
			return
		}
		e.getKey(w, svc, parts[1], parts[2])
	case parts[0] == "securitydomain":
		if svc.kind != kindHSM {
			writeError(w, http.StatusNotFound, "NotFound", "security domain operations exist only on a Managed HSM", "")
			return
		}
		e.routeSD(w, r, svc, parts[1:])
	default:
		writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("no operation %s %s", r.Method, path), "")
	}
}

func (e *Emulator) routeSD(w http.ResponseWriter, r *http.Request, svc service, parts []string) {
	key := r.Method + " " + strings.Join(parts, "/")
	switch key {
	case "POST download":
		e.sdDownload(w, r, svc)
	case "GET download/pending":
		e.sdPending(w, r, svc, "download")
	case "GET upload":
		e.sdTransferKey(w, svc)
	case "POST upload":
		e.sdUpload(w, r, svc)
	case "GET upload/pending":
		e.sdPending(w, r, svc, "upload")
	default:
		writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("no operation %s /securitydomain/%s", r.Method, strings.Join(parts, "/")), "")
	}
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf("method %s is not allowed here", r.Method), "")
}

// serviceError is the service's error body.
type serviceError struct {
	Error serviceErrorBody `json:"error"`
}

type serviceErrorBody struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	InnerError *innerError `json:"innererror"`
}

type innerError struct {
	Code string `json:"code"`
}

// writeError writes {"error":{"code","message","innererror"}}; inner, if
// set, is a more specific code.
func writeError(w http.ResponseWriter, status int, code, msg, inner string) {
	body := serviceError{Error: serviceErrorBody{Code: code, Message: msg}}
	if inner != "" {
		body.Error.InnerError = &innerError{Code: inner}
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"InternalError","message":"encoding the response failed","innererror":null}}`)
	}
	writeRaw(w, status, b)
}

// writeRaw writes a JSON body that is already encoded.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("x-ms-keyvault-service-version", "keyrite-emulator")
	w.WriteHeader(status)
	w.Write(body)
}

// readBody reads a bounded request body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "BadParameter", fmt.Sprintf("the request body exceeds %d bytes", maxBody), "")
		} else {
			writeError(w, http.StatusBadRequest, "BadParameter", "reading the request body failed", "")
		}
		return nil, false
	}
	if len(b) == 0 {
		writeError(w, http.StatusBadRequest, "BadParameter", "The request body is missing", "")
		return nil, false
	}
	return b, true
}

package emulator

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Key types as the service names them.
const (
	ktyRSA    = "RSA"
	ktyRSAHSM = "RSA-HSM"
	ktyEC     = "EC"
	ktyECHSM  = "EC-HSM"
	ktyOctHSM = "oct-HSM"
)

// maxVersions is the service's limit of versions per key.
const maxVersions = 100

// opsFor lists the key operations a key type supports, in the order the
// service lists them by default.
func opsFor(kty string) []string {
	switch kty {
	case ktyRSA, ktyRSAHSM:
		return []string{"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"}
	case ktyEC, ktyECHSM:
		return []string{"sign", "verify"}
	case ktyOctHSM:
		return []string{"encrypt", "decrypt", "wrapKey", "unwrapKey"}
	}
	return nil
}

// createRequest is the body of POST /keys/{name}/create.
type createRequest struct {
	Kty            *string           `json:"kty"`
	KeySize        *int              `json:"key_size"`
	KeyOps         []string          `json:"key_ops"`
	Crv            *string           `json:"crv"`
	PublicExponent *int              `json:"public_exponent"`
	Attributes     *attributes       `json:"attributes"`
	Tags           map[string]string `json:"tags"`
	ReleasePolicy  json.RawMessage   `json:"release_policy"`
}

type attributes struct {
	Enabled    *bool  `json:"enabled"`
	Exportable *bool  `json:"exportable"`
	NotBefore  *int64 `json:"nbf"`
	Expires    *int64 `json:"exp"`
}

// badParam is a 400 BadParameter error with a precise message.
type badParam struct {
	msg   string
	inner string
}

func (e *badParam) Error() string { return e.msg }

func badf(format string, args ...any) *badParam {
	return &badParam{msg: fmt.Sprintf(format, args...)}
}

// invalidJWK is the service's message for a wrong kty/crv/ops combination,
// followed by what exactly is wrong.
func invalidJWK(format string, args ...any) *badParam {
	return &badParam{msg: "The property key must be a valid JsonWebKey: " + fmt.Sprintf(format, args...), inner: "InvalidJsonWebKey"}
}

// decodeCreate parses and validates a create request for svc. It does no
// key generation, so it is cheap to fuzz.
func decodeCreate(body []byte, svc service) (*createRequest, *badParam) {
	var req createRequest
	if err := strictUnmarshal(body, &req); err != nil {
		return nil, badf("The request body is not valid: %s", err)
	}
	if req.Kty == nil {
		return nil, badf("The property kty is required")
	}
	kty := *req.Kty
	switch kty {
	case ktyRSA, ktyEC:
		if svc.kind == kindHSM {
			return nil, badf("Key type %q is not supported by Managed HSM; use %s-HSM", kty, kty)
		}
	case ktyRSAHSM, ktyECHSM:
	case ktyOctHSM:
		if svc.kind != kindHSM {
			return nil, badf("Key type oct-HSM is supported only by Managed HSM")
		}
	default:
		return nil, badf("Invalid key type %q; expected RSA, RSA-HSM, EC, EC-HSM or oct-HSM", kty)
	}
	if req.ReleasePolicy != nil && string(req.ReleasePolicy) != "null" {
		return nil, badf("release_policy is not supported by the emulator")
	}
	if req.Attributes != nil && req.Attributes.Exportable != nil && *req.Attributes.Exportable {
		return nil, badf("exportable keys need a release policy, which the emulator does not support")
	}
	switch kty {
	case ktyRSA, ktyRSAHSM:
		if req.Crv != nil {
			return nil, badf("The property crv is not allowed for key type %s", kty)
		}
		if req.KeySize == nil {
			n := 2048
			req.KeySize = &n
		}
		if s := *req.KeySize; s != 2048 && s != 3072 && s != 4096 {
			return nil, badf("Invalid key size %d for key type %s; expected 2048, 3072 or 4096", s, kty)
		}
		if req.PublicExponent != nil && *req.PublicExponent != 65537 {
			return nil, badf("Invalid public exponent %d; the emulator supports only 65537", *req.PublicExponent)
		}
	case ktyEC, ktyECHSM:
		if req.KeySize != nil {
			return nil, badf("The property key_size is not allowed for key type %s; use crv", kty)
		}
		if req.PublicExponent != nil {
			return nil, badf("The property public_exponent is not allowed for key type %s", kty)
		}
		if req.Crv == nil {
			c := "P-256"
			req.Crv = &c
		}
		switch *req.Crv {
		case "P-256", "P-384", "P-521":
		case "P-256K":
			return nil, badf("Curve P-256K is not supported by the emulator")
		default:
			return nil, badf("Invalid curve %q; expected P-256, P-384 or P-521", *req.Crv)
		}
	case ktyOctHSM:
		if req.Crv != nil || req.PublicExponent != nil {
			return nil, badf("The properties crv and public_exponent are not allowed for key type oct-HSM")
		}
		if req.KeySize == nil {
			n := 256
			req.KeySize = &n
		}
		if s := *req.KeySize; s != 128 && s != 192 && s != 256 {
			return nil, badf("Invalid key size %d for key type oct-HSM; expected 128, 192 or 256", s)
		}
	}
	if req.KeyOps == nil {
		req.KeyOps = opsFor(kty)
	}
	if err := checkOps(kty, req.KeyOps, true); err != nil {
		return nil, err
	}
	return &req, nil
}

// checkOps validates key_ops for a key type. "import" marks a key exchange
// key: it is allowed only on RSA-HSM keys being created, and only alone
// (the service makes it mutually exclusive with every other operation).
func checkOps(kty string, ops []string, creating bool) *badParam {
	if len(ops) == 0 {
		return badf("The property key_ops must not be empty")
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op] {
			return badf("Key operation %q is listed twice in key_ops", op)
		}
		seen[op] = true
	}
	if seen["import"] {
		if !creating {
			return badf("Key operation \"import\" is allowed only on a key exchange key created in the vault, not on an imported key")
		}
		if kty != ktyRSAHSM {
			return badf("Key operation \"import\" requires key type RSA-HSM (a key exchange key); got %s", kty)
		}
		if len(ops) != 1 {
			return badf("Key operation \"import\" cannot be combined with other operations; a key exchange key has key_ops exactly [\"import\"], got %s", quoteList(ops))
		}
		return nil
	}
	allowed := opsFor(kty)
	for _, op := range ops {
		if op == "export" {
			return badf("Key operation \"export\" requires a release policy, which the emulator does not support")
		}
		if !slices.Contains(allowed, op) {
			if slices.Contains([]string{"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"}, op) {
				return invalidJWK("key operation %q is not valid for key type %s (allowed: %s)", op, kty, strings.Join(allowed, ", "))
			}
			return badf("Invalid key operation %q", op)
		}
	}
	return nil
}

func quoteList(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (e *Emulator) createKey(w http.ResponseWriter, r *http.Request, svc service, name string) {
	if !validKeyName(name) {
		writeError(w, http.StatusBadRequest, "BadParameter", fmt.Sprintf("Invalid key name %q: 1 to 127 letters, digits and hyphens", name), "")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	req, perr := decodeCreate(body, svc)
	if perr != nil {
		writeBad(w, perr)
		return
	}
	if wait := e.throttle(svc); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		writeError(w, http.StatusTooManyRequests, "Throttled",
			fmt.Sprintf("Request was not processed because too many requests were received. Reason: key creation is limited to %s. Retry after %d seconds.", createLimitText(svc), wait), "")
		return
	}
	rec := &keyRecord{Name: name, Kty: *req.Kty, KeyOps: req.KeyOps, Enabled: true, Tags: req.Tags}
	if req.Attributes != nil && req.Attributes.Enabled != nil {
		rec.Enabled = *req.Attributes.Enabled
	}
	// Generate outside the lock: RSA-4096 takes seconds.
	switch rec.Kty {
	case ktyRSA, ktyRSAHSM:
		k, err := rsa.GenerateKey(rand.Reader, *req.KeySize)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "InternalError", "key generation failed", "")
			return
		}
		rec.KeySize, rec.N, rec.E = *req.KeySize, k.N.Bytes(), big.NewInt(int64(k.E)).Bytes()
		rec.PrivatePKCS8, _ = x509.MarshalPKCS8PrivateKey(k)
	case ktyEC, ktyECHSM:
		curve := curveByName(*req.Crv)
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "InternalError", "key generation failed", "")
			return
		}
		rec.Crv = *req.Crv
		rec.X, rec.Y = padTo(k.X.Bytes(), (curve.Params().BitSize+7)/8), padTo(k.Y.Bytes(), (curve.Params().BitSize+7)/8)
		rec.PrivatePKCS8, _ = x509.MarshalPKCS8PrivateKey(k)
	case ktyOctHSM:
		rec.KeySize = *req.KeySize
		rec.SecretKey = make([]byte, *req.KeySize/8)
		rand.Read(rec.SecretKey)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.storeVersion(svc, rec); err != nil {
		writeBad(w, err)
		return
	}
	writeJSON(w, http.StatusOK, bundle(svc, rec))
}

// storeVersion gives rec a fresh version and sequence number and stores it.
// The caller holds e.mu.
func (e *Emulator) storeVersion(svc service, rec *keyRecord) *badParam {
	vs, err := e.state.versions(svc, rec.Name)
	if err != nil {
		return &badParam{msg: "reading the emulator's state failed: " + err.Error(), inner: "InternalError"}
	}
	if len(vs) >= maxVersions {
		return badf("Key %s already has %d versions, the service's limit", rec.Name, maxVersions)
	}
	if len(vs) == 0 && svc.kind == kindHSM {
		ents, err := os.ReadDir(filepath.Join(e.state.serviceDir(svc), "keys"))
		if err == nil && len(ents) >= maxKeysPerHSM {
			return badf("This Managed HSM already holds %d keys, the service's limit", maxKeysPerHSM)
		}
	}
	for _, v := range vs {
		if v.Seq > rec.Seq {
			rec.Seq = v.Seq
		}
	}
	rec.Seq++
	if len(vs) > 0 {
		rec.Name = vs[0].Name // the service keeps the case the key was first created with
	}
	var v [16]byte
	rand.Read(v[:])
	rec.Version = hex.EncodeToString(v[:])
	rec.Created = e.now().Unix()
	if err := e.state.putKey(svc, rec); err != nil {
		return &badParam{msg: "writing the emulator's state failed: " + err.Error(), inner: "InternalError"}
	}
	return nil
}

func (e *Emulator) getKey(w http.ResponseWriter, svc service, name, version string) {
	if !validKeyName(name) {
		writeError(w, http.StatusBadRequest, "BadParameter", fmt.Sprintf("Invalid key name %q: 1 to 127 letters, digits and hyphens", name), "")
		return
	}
	e.mu.Lock()
	rec, err := e.state.getKey(svc, name, version)
	e.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "reading the emulator's state failed", "")
		return
	}
	if rec == nil {
		what := fmt.Sprintf("A key with (name/id) %s was not found in this key vault", name)
		if version != "" {
			what = fmt.Sprintf("A key with (name/id) %s (version %s) was not found in this key vault", name, version)
		}
		writeError(w, http.StatusNotFound, "KeyNotFound", what, "")
		return
	}
	writeJSON(w, http.StatusOK, bundle(svc, rec))
}

// jsonWebKey is the public JWK the service returns.
type jsonWebKey struct {
	Kid    string   `json:"kid"`
	Kty    string   `json:"kty"`
	KeyOps []string `json:"key_ops"`
	N      b64url   `json:"n,omitempty"`
	E      b64url   `json:"e,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      b64url   `json:"x,omitempty"`
	Y      b64url   `json:"y,omitempty"`
}

type keyBundle struct {
	Key        jsonWebKey        `json:"key"`
	Attributes bundleAttributes  `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
}

type bundleAttributes struct {
	Enabled         bool   `json:"enabled"`
	Created         int64  `json:"created"`
	Updated         int64  `json:"updated"`
	RecoveryLevel   string `json:"recoveryLevel"`
	RecoverableDays int    `json:"recoverableDays"`
	Exportable      bool   `json:"exportable"`
}

func bundle(svc service, k *keyRecord) keyBundle {
	return keyBundle{
		Key: jsonWebKey{
			Kid: svc.kid(k.Name, k.Version), Kty: k.Kty, KeyOps: k.KeyOps,
			N: k.N, E: k.E, Crv: k.Crv, X: k.X, Y: k.Y,
		},
		Attributes: bundleAttributes{
			Enabled: k.Enabled, Created: k.Created, Updated: k.Created,
			RecoveryLevel: "Recoverable+Purgeable", RecoverableDays: 90,
		},
		Tags: k.Tags,
	}
}

// b64url marshals as base64url without padding, as the service writes JWK
// members.
type b64url []byte

func (b b64url) MarshalJSON() ([]byte, error) {
	return json.Marshal(b64u(b))
}

func (b *b64url) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	v, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

func writeBad(w http.ResponseWriter, e *badParam) {
	if e.inner == "InternalError" {
		writeError(w, http.StatusInternalServerError, "InternalError", e.msg, "")
		return
	}
	writeError(w, http.StatusBadRequest, "BadParameter", e.msg, e.inner)
}

func curveByName(crv string) elliptic.Curve {
	switch crv {
	case "P-256":
		return elliptic.P256()
	case "P-384":
		return elliptic.P384()
	case "P-521":
		return elliptic.P521()
	}
	return nil
}

func padTo(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(bytes.Repeat([]byte{0}, n-len(b)), b...)
}

// Key-creation limits of the service (azure-endpoints.md).
const (
	maxKeysPerHSM = 5000
)

func createLimit(svc service) (int, time.Duration) {
	if svc.kind == kindHSM {
		return 1, time.Second
	}
	return 10, 10 * time.Second
}

func createLimitText(svc service) string {
	n, d := createLimit(svc)
	return fmt.Sprintf("%d per %s for a %s", n, d, kindLabel(svc.kind))
}

// throttle records a key creation for svc and returns 0, or, if the
// service's limit is reached (with Config.Throttle), the seconds to wait.
func (e *Emulator) throttle(svc service) int {
	if !e.cfg.Throttle {
		return 0
	}
	n, window := createLimit(svc)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.creates == nil {
		e.creates = map[string][]time.Time{}
	}
	now := e.now()
	recent := e.creates[svc.id()][:0]
	for _, t := range e.creates[svc.id()] {
		if now.Sub(t) < window {
			recent = append(recent, t)
		}
	}
	if len(recent) >= n {
		e.creates[svc.id()] = recent
		wait := int((window - now.Sub(recent[0]) + time.Second - 1) / time.Second)
		return max(wait, 1)
	}
	e.creates[svc.id()] = append(recent, now)
	return 0
}

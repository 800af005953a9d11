package uploader

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// ServiceError is an error response of the service:
// {"error":{"code","message","innererror"}}. Code, Inner and Message are
// as the service sent them, cut to about 200 bytes with control characters
// escaped (echo): an answer cannot flood or forge the lines they are shown
// in.
type ServiceError struct {
	Status  int
	Code    string
	Inner   string // innererror.code, if any
	Message string
}

func (e *ServiceError) Error() string {
	s := fmt.Sprintf("the service answered %d %s", e.Status, e.Code)
	if e.Inner != "" {
		s += " (" + e.Inner + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// serviceError turns an azcore.ResponseError (or a raw response) into a
// ServiceError; other errors pass through.
func serviceError(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.RawResponse != nil {
		return fromResponse(re.RawResponse)
	}
	return err
}

func fromResponse(resp *http.Response) *ServiceError {
	se := &ServiceError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode)}
	body, _ := runtime.Payload(resp)
	var v struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error.Code != "" {
		se.Code, se.Message = echo(v.Error.Code), echo(v.Error.Message)
		if v.Error.InnerError != nil {
			se.Inner = echo(v.Error.InnerError.Code)
		}
	}
	return se
}

// keysClient is an azkeys client for vaultURL on the guarded transport,
// with keyRetry in place of azcore's retries.
func (c *Client) keysClient(vaultURL string) (*azkeys.Client, error) {
	opts := c.clientOptions()
	opts.PerCallPolicies = append(opts.PerCallPolicies, keyRetry{c}, kidPolicy{c})
	return azkeys.NewClient(vaultURL, c.cred, &azkeys.ClientOptions{
		ClientOptions: opts,
		// Against a local stand-in (CAFile given) the challenge names
		// https://vault.azure.net while the request goes to 127.0.0.1, which
		// the SDK's resource check refuses. Real vaults keep the check.
		DisableChallengeResourceVerification: c.local,
	})
}

// KEK is a key exchange key the service created.
type KEK struct {
	Kid    string         // the key identifier with its version
	Public *rsa.PublicKey // its public key
	PEM    []byte         // PEM "PUBLIC KEY" (SubjectPublicKeyInfo), what `keyrite kek inspect` reads
}

// CreateKEK creates a key exchange key: RSA-HSM of the given size (2048,
// 3072 or 4096 bits) with key_ops exactly ["import"]. It checks that the
// service's answer is such a key, with a versioned kid the offline side
// accepts (byok.ParseKEK), before returning it.
func (c *Client) CreateKEK(ctx context.Context, vaultURL, name string, bits int) (*KEK, error) {
	vaultURL, err := c.serviceURL(vaultURL, false)
	if err != nil {
		return nil, err
	}
	if !validKeyName(name) {
		return nil, fmt.Errorf("uploader: key name %q must be 1 to 127 letters, digits and hyphens", name)
	}
	if bits != 2048 && bits != 3072 && bits != 4096 {
		return nil, fmt.Errorf("uploader: KEK size %d; expected 2048, 3072 or 4096", bits)
	}
	kc, err := c.keysClient(vaultURL)
	if err != nil {
		return nil, err
	}
	resp, err := kc.CreateKey(ctx, name, azkeys.CreateKeyParameters{
		Kty:     to.Ptr(azkeys.KeyTypeRSAHSM),
		KeySize: to.Ptr(int32(bits)),
		KeyOps:  []*azkeys.KeyOperation{to.Ptr(azkeys.KeyOperationImport)},
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("uploader: creating KEK %s: %w", name, serviceError(err))
	}
	k := resp.Key
	if k == nil || k.KID == nil {
		return nil, errors.New("uploader: the service's answer has no key or no kid")
	}
	id, err := c.checkKid(vaultURL, name, string(*k.KID), "the create's answer")
	if err != nil {
		return nil, fmt.Errorf("uploader: creating KEK %s: %w", name, err)
	}
	kid := id.URL
	if k.Kty == nil || *k.Kty != azkeys.KeyTypeRSAHSM {
		return nil, fmt.Errorf("uploader: the service created %s with kty %s; expected RSA-HSM", kid, echo(string(deref(k.Kty))))
	}
	if ops := opsOf(k.KeyOps); !slices.Equal(ops, []string{"import"}) {
		return nil, fmt.Errorf("uploader: the service created %s with key_ops %s; expected exactly [import]", kid, echo(fmt.Sprintf("%q", ops)))
	}
	pub, err := rsaFromJWK(k)
	if err != nil {
		return nil, fmt.Errorf("uploader: key %s: %w", kid, err)
	}
	if pub.N.BitLen() != bits {
		return nil, fmt.Errorf("uploader: the service created %s with %d bits; asked for %d", kid, pub.N.BitLen(), bits)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	pemData := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	// The offline side must accept what we hand it: same parser, same kid rules.
	if _, err := byok.ParseKEK(pemData, kid); err != nil {
		return nil, fmt.Errorf("uploader: the created KEK would not be accepted offline: %w", err)
	}
	return &KEK{Kid: kid, Public: pub, PEM: pemData}, nil
}

// ImportSpec is one key to import.
type ImportSpec struct {
	Name   string   // the key's name in the vault
	Kty    string   // RSA-HSM, EC-HSM or oct-HSM
	Crv    string   // P-256, P-384 or P-521 for EC-HSM
	KeyOps []string // key_ops; none means the service's default
	BYOK   []byte   // the .byok file, sent as is
	// Expected is the public key recorded offline (*rsa.PublicKey or
	// *ecdsa.PublicKey), or nil if none was recorded.
	Expected crypto.PublicKey
	// NoExpectedReason says why Expected is nil.
	NoExpectedReason string
	// KCV is the AES key check value recorded offline (3 bytes: the first
	// of AES-ECB(K, 16 zero bytes)), or nil; NoKCVReason says why it is
	// nil. AESBits is the AES key size recorded offline (128, 192, 256),
	// which picks the algorithm of the check; 0 if unknown.
	KCV         []byte
	NoKCVReason string
	AESBits     int
}

// ImportResult is what the service returned for an import.
type ImportResult struct {
	Kid            string
	PublicKeyMatch bool
	// PublicKeyCheck says what the public-key comparison was: CheckMatch,
	// CheckMismatch, CheckNotCompared (nothing recorded offline) or
	// CheckNotApplicable (an AES key has no public part; see the KCV).
	PublicKeyCheck string
	// MatchReason explains PublicKeyMatch: what was compared, or why
	// nothing could be.
	MatchReason string
	// Imported and Fetched are the service's JSON answers to ImportKey and
	// GetKey (public parts only), for the transcript.
	Imported, Fetched []byte
	// ServicePublic is the public key the service holds (nil for AES).
	ServicePublic crypto.PublicKey
	// Mismatch is set when a public key was recorded offline and the
	// service's differs: the vault holds a key other than the one exported.
	Mismatch bool

	// For an oct-HSM (AES) key: KCVMatch reports that the key check value
	// the service computed (KCVService, 6 hex digits, or "" if none)
	// equals the one recorded offline; KCVReason says what was compared
	// or why nothing was; KCVMismatch is set when both were had and
	// differ: the HSM holds a key other than the one exported.
	KCVMatch    bool
	KCVReason   string
	KCVService  string
	KCVMismatch bool
}

// What a check of an imported key found (ImportResult.PublicKeyCheck,
// ImportOutcome.PublicKeyCheck and KCVCheck, and the transcript's
// public_key_check param): the words transcripts/steps records.
const (
	CheckMatch         = steps.CheckMatch
	CheckMismatch      = steps.CheckMismatch
	CheckNotCompared   = steps.CheckNotCompared   // nothing recorded offline, or the service did not compute it
	CheckNotApplicable = steps.CheckNotApplicable // an AES key has no public part
)

// ErrPublicKeyMismatch is returned (wrapped) by ImportCeremony when the key
// the service holds is not the one recorded offline.
var ErrPublicKeyMismatch = errors.New("uploader: the service's public key differs from the one recorded offline")

// ImportBYOK imports spec.BYOK into the vault as an HSM-protected key, then
// reads the key back and compares its public key with spec.Expected. For
// an AES key (oct-HSM), which has no public key, it compares the key check
// value instead: when spec.KCV is set and the key's key_ops include
// encrypt, the service encrypts one zero block with A128CBC/A192CBC/
// A256CBC (by spec.AESBits) and a zero IV, and the first 3 bytes of the
// answer are compared with spec.KCV (KCVMatch, KCVMismatch, KCVReason).
func (c *Client) ImportBYOK(ctx context.Context, vaultURL string, spec ImportSpec) (*ImportResult, error) {
	vaultURL, err := c.serviceURL(vaultURL, false)
	if err != nil {
		return nil, err
	}
	if !validKeyName(spec.Name) {
		return nil, fmt.Errorf("uploader: key name %q must be 1 to 127 letters, digits and hyphens", spec.Name)
	}
	jwk := &azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyType(spec.Kty)), T: spec.BYOK}
	if spec.Crv != "" {
		jwk.Crv = to.Ptr(azkeys.CurveName(spec.Crv))
	}
	for _, op := range spec.KeyOps {
		jwk.KeyOps = append(jwk.KeyOps, to.Ptr(azkeys.KeyOperation(op)))
	}
	kc, err := c.keysClient(vaultURL)
	if err != nil {
		return nil, err
	}
	// As the az CLI sends it: the key enabled, explicitly.
	imp, err := kc.ImportKey(ctx, spec.Name, azkeys.ImportKeyParameters{
		HSM: to.Ptr(true), Key: jwk, KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(true)},
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("uploader: importing %s: %w", spec.Name, serviceError(err))
	}
	if imp.Key == nil || imp.Key.KID == nil {
		return nil, errors.New("uploader: the service's import answer has no key or no kid")
	}
	// The answer must name a version of the key sent, in the vault called:
	// a kid elsewhere is refused, never recorded as imported.
	id, err := c.checkKid(vaultURL, spec.Name, string(*imp.Key.KID), "the import's answer")
	if err != nil {
		return nil, fmt.Errorf("uploader: importing %s: %w", spec.Name, err)
	}
	imported, err := recordable("the import", imp.KeyBundle)
	if err != nil {
		return nil, fmt.Errorf("uploader: importing %s: %w", spec.Name, err)
	}
	res := &ImportResult{Kid: id.URL, Imported: imported}
	got, err := kc.GetKey(ctx, spec.Name, id.Version, nil)
	if err != nil {
		return res, fmt.Errorf("uploader: reading back %s: %w", res.Kid, serviceError(err))
	}
	if got.Key == nil {
		return res, errors.New("uploader: the service's answer to GetKey has no key")
	}
	if got.Key.KID == nil || string(*got.Key.KID) != res.Kid {
		return res, fmt.Errorf("uploader: reading back %s: %w", res.Kid, &KidError{Answer: "GetKey's answer", Kid: echo(string(deref(got.Key.KID))),
			Want: "the kid the import answered (" + res.Kid + ")", Why: "it differs"})
	}
	if res.Fetched, err = recordable("GetKey", got.KeyBundle); err != nil {
		return res, fmt.Errorf("uploader: reading back %s: %w", res.Kid, err)
	}
	if got.Key.Kty == nil || string(*got.Key.Kty) != spec.Kty {
		return res, fmt.Errorf("uploader: the service holds %s as kty %s; imported as %s", res.Kid, echo(string(deref(got.Key.Kty))), spec.Kty)
	}
	res.ServicePublic, err = publicFromJWK(got.Key)
	if err != nil {
		return res, fmt.Errorf("uploader: key %s: %w", res.Kid, err)
	}
	switch {
	case res.ServicePublic == nil:
		checkKCV(ctx, kc, spec, got.Key, id.Version, res)
		res.PublicKeyCheck = CheckNotApplicable
		res.MatchReason = aesMatchReason(res)
	case spec.Expected == nil:
		res.PublicKeyCheck = CheckNotCompared
		res.MatchReason = "no public key was recorded offline"
		if spec.NoExpectedReason != "" {
			res.MatchReason = spec.NoExpectedReason
		}
	default:
		eq, ok := spec.Expected.(interface{ Equal(crypto.PublicKey) bool })
		if ok && eq.Equal(res.ServicePublic) {
			res.PublicKeyMatch, res.PublicKeyCheck = true, CheckMatch
			res.MatchReason = "the service's public key equals the one recorded offline"
		} else {
			res.Mismatch, res.PublicKeyCheck = true, CheckMismatch
			res.MatchReason = "the service's public key differs from the one recorded offline"
		}
	}
	return res, nil
}

func rsaFromJWK(k *azkeys.JSONWebKey) (*rsa.PublicKey, error) {
	if len(k.N) == 0 || len(k.E) == 0 {
		return nil, errors.New("the JWK has no n or e")
	}
	e := new(big.Int).SetBytes(k.E)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, errors.New("the JWK's public exponent is not an odd number between 3 and 2^31")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(k.N), E: int(e.Int64())}, nil
}

// publicFromJWK returns the public key of an RSA or EC JWK, or nil for oct.
func publicFromJWK(k *azkeys.JSONWebKey) (crypto.PublicKey, error) {
	kty := strings.TrimSuffix(string(deref(k.Kty)), "-HSM")
	switch kty {
	case "RSA":
		return rsaFromJWK(k)
	case "EC":
		var curve elliptic.Curve
		switch deref(k.Crv) {
		case azkeys.CurveNameP256:
			curve = elliptic.P256()
		case azkeys.CurveNameP384:
			curve = elliptic.P384()
		case azkeys.CurveNameP521:
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("the JWK's curve %s is not P-256, P-384 or P-521", echo(fmt.Sprintf("%q", deref(k.Crv))))
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(k.X) != size || len(k.Y) != size {
			return nil, fmt.Errorf("the JWK's x and y are %d and %d bytes; expected %d", len(k.X), len(k.Y), size)
		}
		// ParseUncompressedPublicKey checks that the point is on the curve.
		raw := append(append([]byte{4}, k.X...), k.Y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
		if err != nil {
			return nil, fmt.Errorf("the JWK's point is not on %s", deref(k.Crv))
		}
		return pub, nil
	case "oct":
		return nil, nil
	}
	return nil, fmt.Errorf("the JWK's kty %s is not RSA, EC or oct", echo(fmt.Sprintf("%q", deref(k.Kty))))
}

func opsOf(ops []*azkeys.KeyOperation) []string {
	out := make([]string, 0, len(ops))
	for _, o := range ops {
		if o != nil {
			out = append(out, string(*o))
		}
	}
	return out
}

func deref[T ~string](p *T) T {
	if p == nil {
		return ""
	}
	return *p
}

func validKeyName(s string) bool {
	if len(s) < 1 || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

package emulator

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
)

// importRequest is the body of PUT /keys/{name} (azkeys ImportKeyParameters).
type importRequest struct {
	Key        *importJWK        `json:"key"`
	HSM        *bool             `json:"Hsm"`
	Attributes *attributes       `json:"attributes"`
	Tags       map[string]string `json:"tags"`
	// ReleasePolicy is refused when present.
	ReleasePolicy json.RawMessage `json:"release_policy"`
}

type importJWK struct {
	Kty    *string  `json:"kty"`
	Crv    *string  `json:"crv"`
	KeyOps []string `json:"key_ops"`
	KeyHSM *string  `json:"key_hsm"`
	Kid    *string  `json:"kid"`
	// Members of a plain JWK import, which the emulator refuses next to key_hsm.
	N, E, D, DP, DQ, P, Q, QI, K, X, Y *string
}

// importSpec is a validated import request: what the service is told to
// expect inside the .byok blob.
type importSpec struct {
	Kty     string
	Crv     string
	KeyOps  []string
	BYOK    []byte // the raw .byok file (decoded key_hsm)
	Enabled bool
	Tags    map[string]string
}

// decodeImport parses and validates an import request for svc up to (not
// including) opening the .byok blob. It is cheap, so it is fuzzed.
func decodeImport(body []byte, svc service) (*importSpec, *badParam) {
	var req importRequest
	if err := strictUnmarshal(body, &req); err != nil {
		return nil, badf("The request body is not valid: %s", err)
	}
	if req.Key == nil {
		return nil, badf("The property key is required")
	}
	k := req.Key
	if k.KeyHSM == nil {
		return nil, badf("The property key.key_hsm is required: the emulator imports only BYOK blobs (HSM-protected keys)")
	}
	for name, v := range map[string]*string{"n": k.N, "e": k.E, "d": k.D, "dp": k.DP, "dq": k.DQ, "p": k.P, "q": k.Q, "qi": k.QI, "k": k.K, "x": k.X, "y": k.Y} {
		if v != nil {
			return nil, invalidJWK("member %q cannot be combined with key_hsm", name)
		}
	}
	if req.HSM != nil && !*req.HSM {
		return nil, badf("A BYOK blob (key_hsm) must be imported with Hsm true")
	}
	if req.ReleasePolicy != nil && string(req.ReleasePolicy) != "null" {
		return nil, badf("release_policy is not supported by the emulator")
	}
	if req.Attributes != nil && req.Attributes.Exportable != nil && *req.Attributes.Exportable {
		return nil, badf("exportable keys need a release policy, which the emulator does not support")
	}
	if k.Kty == nil {
		return nil, invalidJWK("kty is missing")
	}
	spec := &importSpec{Kty: *k.Kty, KeyOps: k.KeyOps, Enabled: true, Tags: req.Tags}
	if req.Attributes != nil && req.Attributes.Enabled != nil {
		spec.Enabled = *req.Attributes.Enabled
	}
	switch spec.Kty {
	case ktyRSAHSM:
		if k.Crv != nil {
			return nil, invalidJWK("crv is not allowed with kty RSA-HSM")
		}
	case ktyECHSM:
		if k.Crv == nil {
			return nil, invalidJWK("kty EC-HSM needs crv (P-256, P-384 or P-521)")
		}
		switch *k.Crv {
		case "P-256", "P-384", "P-521":
			spec.Crv = *k.Crv
		case "P-256K":
			return nil, invalidJWK("curve P-256K cannot be imported")
		default:
			return nil, invalidJWK("crv %q is not P-256, P-384 or P-521", *k.Crv)
		}
	case ktyOctHSM:
		if svc.kind != kindHSM {
			return nil, invalidJWK("kty oct-HSM is supported only by Managed HSM")
		}
		if k.Crv != nil {
			return nil, invalidJWK("crv is not allowed with kty oct-HSM")
		}
	case ktyRSA, ktyEC, "oct":
		return nil, invalidJWK("kty %s cannot carry key_hsm; use %s-HSM", spec.Kty, spec.Kty)
	default:
		return nil, invalidJWK("kty %q is not RSA-HSM, EC-HSM or oct-HSM", spec.Kty)
	}
	if spec.KeyOps == nil {
		spec.KeyOps = opsFor(spec.Kty)
	}
	if err := checkOps(spec.Kty, spec.KeyOps, false); err != nil {
		return nil, err
	}
	raw := strings.TrimRight(*k.KeyHSM, "=")
	blob, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(blob) == 0 {
		return nil, badf("The property key.key_hsm is not base64url: expected the whole .byok file, base64url-encoded")
	}
	spec.BYOK = blob
	return spec, nil
}

func (e *Emulator) importKey(w http.ResponseWriter, r *http.Request, svc service, name string) {
	if !validKeyName(name) {
		writeError(w, http.StatusBadRequest, "BadParameter", fmt.Sprintf("Invalid key name %q: 1 to 127 letters, digits and hyphens", name), "")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	spec, perr := decodeImport(body, svc)
	if perr != nil {
		writeBad(w, perr)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, perr := e.openImport(svc, spec)
	if perr != nil {
		writeBad(w, perr)
		return
	}
	rec.Name = name
	if perr := e.storeVersion(svc, rec); perr != nil {
		writeBad(w, perr)
		return
	}
	writeJSON(w, http.StatusOK, bundle(svc, rec))
}

// openImport opens the .byok blob of spec with the KEK it names and checks
// the key inside; it returns the record to store: the public part of an
// RSA or EC key, and the key bytes of an oct-HSM key (so that encrypt can
// use them; see the package doc). The caller holds e.mu.
func (e *Emulator) openImport(svc service, spec *importSpec) (*keyRecord, *badParam) {
	kid, ciphertext, perr := parseBYOK(spec.BYOK)
	if perr != nil {
		return nil, perr
	}
	kek, perr := e.lookupKEK(svc, kid)
	if perr != nil {
		return nil, perr
	}
	pt, perr := unwrapBYOK(kek, kid, ciphertext)
	if perr != nil {
		return nil, perr
	}
	defer wipe(pt)
	rec, perr := checkPlaintext(spec.Kty, spec.Crv, pt)
	if perr != nil {
		return nil, perr
	}
	rec.KeyOps, rec.Enabled, rec.Tags, rec.Imported = spec.KeyOps, spec.Enabled, spec.Tags, true
	if rec.Kty == ktyOctHSM {
		rec.SecretKey = append([]byte(nil), pt...) // pt is wiped on return
	}
	return rec, nil
}

// lookupKEK finds the key exchange key a .byok header names. It must be a
// key of this vault or HSM, RSA-HSM, with key_ops exactly ["import"].
func (e *Emulator) lookupKEK(svc service, kid string) (*rsa.PrivateKey, *badParam) {
	host, path, ok := strings.Cut(strings.TrimPrefix(kid, "https://"), "/")
	if !strings.HasPrefix(kid, "https://") || !ok {
		return nil, badf("The BYOK blob's header.kid %q is not a key identifier URL", kid)
	}
	if !strings.EqualFold(host, svc.kidHost()) {
		return nil, &badParam{msg: fmt.Sprintf("The BYOK blob's key exchange key %s belongs to %s, not to this %s (%s)", kid, host, kindLabel(svc.kind), svc.kidHost()), inner: "KEKNotFound"}
	}
	parts := strings.Split(path, "/")
	if len(parts) != 3 || parts[0] != "keys" || parts[2] == "" {
		return nil, badf("The BYOK blob's header.kid %q must be /keys/<name>/<version>", kid)
	}
	if !validKeyName(parts[1]) {
		return nil, badf("The BYOK blob's header.kid %q has an invalid key name", kid)
	}
	rec, err := e.state.getKey(svc, parts[1], parts[2])
	if err != nil {
		return nil, &badParam{msg: "reading the emulator's state failed: " + err.Error(), inner: "InternalError"}
	}
	if rec == nil {
		return nil, &badParam{msg: fmt.Sprintf("The key exchange key %s named by the BYOK blob was not found in this %s", kid, kindLabel(svc.kind)), inner: "KEKNotFound"}
	}
	if rec.Kty != ktyRSAHSM || !slices.Equal(rec.KeyOps, []string{"import"}) {
		return nil, &badParam{msg: fmt.Sprintf("The key %s named by the BYOK blob is not a key exchange key: it has kty %s and key_ops %s; expected RSA-HSM with key_ops [\"import\"]", kid, rec.Kty, quoteList(rec.KeyOps)), inner: "NotAKeyExchangeKey"}
	}
	if !rec.Enabled {
		return nil, badf("The key exchange key %s is disabled", kid)
	}
	k, err := x509.ParsePKCS8PrivateKey(rec.PrivatePKCS8)
	priv, ok := k.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, &badParam{msg: "the emulator's state holds no usable private key for " + kid, inner: "InternalError"}
	}
	return priv, nil
}

// checkPlaintext checks that an unwrapped plaintext is a canonical key of
// the declared type, as the service requires, and returns its public part:
//
//   - RSA-HSM: the DER of a PKCS#8 PrivateKeyInfo holding an RSA key of
//     2048, 3072 or 4096 bits, with nothing after it (SoftHSM 2.6.1's
//     CKM_AES_KEY_WRAP_PAD leaves 1-7 zero bytes there; that is refused);
//   - EC-HSM: the DER of a PKCS#8 PrivateKeyInfo holding an EC key on the
//     declared curve, likewise with nothing after it;
//   - oct-HSM: 16, 24 or 32 raw bytes.
//
// Messages never contain key material.
func checkPlaintext(kty, crv string, pt []byte) (*keyRecord, *badParam) {
	if kty == ktyOctHSM {
		switch len(pt) {
		case 16, 24, 32:
			return &keyRecord{Kty: kty, KeySize: len(pt) * 8}, nil
		}
		if looksLikePKCS8(pt) {
			return nil, importErr("kty is oct-HSM but the wrapped key is a PKCS#8 private key (%s)", describePKCS8(pt))
		}
		return nil, importErr("kty is oct-HSM but the wrapped key is %d bytes; an AES key is 16, 24 or 32 bytes", len(pt))
	}
	if !looksLikePKCS8(pt) {
		if len(pt) == 16 || len(pt) == 24 || len(pt) == 32 {
			return nil, importErr("kty is %s but the wrapped key is %d raw bytes (an AES key?); expected a PKCS#8 private key", kty, len(pt))
		}
		return nil, importErr("the wrapped key is not a DER PKCS#8 PrivateKeyInfo (%d bytes, first byte 0x%02x); expected a PKCS#8 %s private key", len(pt), firstByte(pt), strings.TrimSuffix(kty, "-HSM"))
	}
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(pt, &raw)
	if err != nil {
		return nil, importErr("the wrapped key is not DER: %s", asn1Msg(err))
	}
	if len(rest) > 0 {
		if allZero(rest) {
			return nil, importErr("non-canonical PKCS#8: the %d-byte DER PrivateKeyInfo is followed by %d zero bytes of padding (a source HSM's AES key wrap with padding that zero-pads the key first)", len(pt)-len(rest), len(rest))
		}
		return nil, importErr("non-canonical PKCS#8: the %d-byte DER PrivateKeyInfo is followed by %d more bytes", len(pt)-len(rest), len(rest))
	}
	key, err := x509.ParsePKCS8PrivateKey(pt)
	if err != nil {
		if k, err1 := x509.ParsePKCS1PrivateKey(pt); err1 == nil {
			wipeKey(k)
			return nil, importErr("the wrapped key is a PKCS#1 RSAPrivateKey; the service expects it inside a PKCS#8 PrivateKeyInfo")
		}
		if k, err1 := x509.ParseECPrivateKey(pt); err1 == nil {
			wipeKey(k)
			return nil, importErr("the wrapped key is a bare SEC1 ECPrivateKey; the service expects it inside a PKCS#8 PrivateKeyInfo")
		}
		return nil, importErr("%s", because("the wrapped key is not a PKCS#8 private key the service accepts", err))
	}
	defer wipeKey(key)
	switch kty {
	case ktyRSAHSM:
		k, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, importErr("kty is RSA-HSM but the wrapped key is %s", keyDesc(key))
		}
		bits := k.N.BitLen()
		if bits != 2048 && bits != 3072 && bits != 4096 {
			return nil, importErr("the wrapped RSA key is %d bits; the service imports RSA 2048, 3072 or 4096", bits)
		}
		return &keyRecord{Kty: kty, KeySize: bits, N: k.N.Bytes(), E: big.NewInt(int64(k.E)).Bytes()}, nil
	case ktyECHSM:
		k, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			return nil, importErr("kty is EC-HSM but the wrapped key is %s", keyDesc(key))
		}
		got := k.Curve.Params().Name
		if got != crv {
			return nil, importErr("crv is %s but the wrapped EC key is on %s", crv, got)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		return &keyRecord{Kty: kty, Crv: crv, X: padTo(k.X.Bytes(), size), Y: padTo(k.Y.Bytes(), size)}, nil
	}
	return nil, importErr("kty %s cannot be imported", kty)
}

func importErr(format string, args ...any) *badParam {
	return &badParam{msg: "The imported key is not valid: " + fmt.Sprintf(format, args...), inner: "InvalidImportedKey"}
}

// looksLikePKCS8 reports whether b starts like a DER SEQUENCE holding
// version INTEGER 0 (the start of a PrivateKeyInfo).
func looksLikePKCS8(b []byte) bool {
	if len(b) < 8 || b[0] != 0x30 {
		return false
	}
	i := 2
	switch {
	case b[1] < 0x80:
	case b[1] == 0x81:
		i = 3
	case b[1] == 0x82:
		i = 4
	default:
		return false
	}
	return len(b) > i+2 && b[i] == 0x02 && b[i+1] == 0x01 && (b[i+2] == 0x00 || b[i+2] == 0x01)
}

func describePKCS8(b []byte) string {
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(b, &raw)
	if err != nil {
		return "not DER"
	}
	k, err := x509.ParsePKCS8PrivateKey(b[:len(b)-len(rest)])
	if err != nil {
		return "unparseable"
	}
	defer wipeKey(k)
	return keyDesc(k)
}

func keyDesc(k any) string {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("an RSA %d key", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "an EC " + k.Curve.Params().Name + " key"
	case ed25519.PrivateKey:
		return "an Ed25519 key"
	case *ecdh.PrivateKey:
		return "an X25519 key"
	}
	return fmt.Sprintf("a %T", k)
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// asn1Msg says what is wrong with DER that encoding/asn1 refused: its
// syntax and structural errors' messages, else the error as it is.
func asn1Msg(err error) string {
	var syn asn1.SyntaxError
	var st asn1.StructuralError
	switch {
	case errors.As(err, &syn):
		return syn.Msg
	case errors.As(err, &st):
		return st.Msg
	}
	return err.Error()
}

// wipe clears b as a best effort.
func wipe(b []byte) {
	clear(b)
}

// wipeKey clears what it can of a parsed private key (best effort: big.Int
// internals and precomputed values may survive elsewhere).
func wipeKey(k any) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		k.D.SetInt64(0)
		for _, p := range k.Primes {
			p.SetInt64(0)
		}
	case *ecdsa.PrivateKey:
		// Not wiped: since Go 1.26 the scalar lives in the key's
		// internal form, which no API clears (changing D is deprecated
		// and would not reach it).
	case ed25519.PrivateKey:
		clear(k)
	}
}

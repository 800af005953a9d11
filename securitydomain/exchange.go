package securitydomain

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// ErrInvalidExchangeKey is returned (wrapped) when the exchange key is malformed.
var ErrInvalidExchangeKey = errors.New("securitydomain: invalid exchange key")

// exCertErr is a certificate problem as an exchange-key error: the
// CertError's problem quoted without its prefix, the CertError kept.
func exCertErr(where string, err error) error {
	var ce *CertError
	if !errors.As(err, &ce) {
		return fmt.Errorf("%w: %s%w", ErrInvalidExchangeKey, where, err)
	}
	return &exchangeErr{msg: ErrInvalidExchangeKey.Error() + ": " + where + ce.Problem, err: err}
}

type exchangeErr struct {
	msg string
	err error
}

func (e *exchangeErr) Error() string   { return e.msg }
func (e *exchangeErr) Unwrap() []error { return []error{ErrInvalidExchangeKey, e.err} }

func exErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidExchangeKey, fmt.Sprintf(format, args...))
}

// ParseExchangeKey reads the service's exchange (transfer) key certificate
// from either of the forms a custodian may be handed (spec §7):
//
//   - the PEM certificate that `az keyvault security-domain init-recovery`
//     writes (65-character lines, no trailing newline; any PEM certificate is
//     accepted), or
//   - the transfer-key JSON response {"key_format": "jwk", "transfer_key":
//     JWK}, where the JWK is an object or a JSON string holding one. The
//     certificate is x5c[0]; n, e, kty, x5t and x5t#S256, when present, must
//     agree with it.
//
// The key must be RSA of at least 2048 bits.
func ParseExchangeKey(data []byte) (*x509.Certificate, error) {
	t := bytes.TrimSpace(data)
	var cert *x509.Certificate
	switch {
	case len(t) == 0:
		return nil, exErr("the file is empty")
	case bytes.HasPrefix(t, []byte("-----BEGIN")):
		c, err := ParseCertificate(t)
		if err != nil {
			return nil, exCertErr("", err)
		}
		cert = c
	case t[0] == '{':
		c, err := parseTransferKey(t)
		if err != nil {
			return nil, err
		}
		cert = c
	default:
		return nil, exErr("want a PEM certificate or the transfer-key JSON, found %s", describeStart(t))
	}
	if _, err := rsaPublic(cert); err != nil {
		return nil, exCertErr("", err)
	}
	return cert, nil
}

func parseTransferKey(data []byte) (*x509.Certificate, error) {
	top, err := objectFields(data)
	if err != nil {
		return nil, exErr("%v", err)
	}
	if err := fieldSet(top, "transfer-key response", []string{"transfer_key"}, "key_format"); err != nil {
		return nil, exErr("%v", err)
	}
	if kf, ok := top["key_format"]; ok {
		f, err := jsonString(kf, "key_format")
		if err != nil {
			return nil, exErr("%v", err)
		}
		if f != "jwk" {
			return nil, exErr("key_format is %q, want \"jwk\"", f)
		}
	}
	raw := bytes.TrimSpace(top["transfer_key"])
	if len(raw) > 0 && raw[0] == '"' {
		s, err := jsonString(raw, "transfer_key")
		if err != nil {
			return nil, exErr("%v", err)
		}
		raw = []byte(s)
	}
	jwk, err := objectFields(raw)
	if err != nil {
		return nil, exErr("transfer_key: %v", err)
	}
	x5cRaw, ok := jwk["x5c"]
	if !ok {
		return nil, exErr("transfer_key has no x5c certificate")
	}
	x5c, err := jsonArray(x5cRaw, "transfer_key.x5c")
	if err != nil {
		return nil, exErr("%v", err)
	}
	if len(x5c) == 0 {
		return nil, exErr("transfer_key.x5c is empty")
	}
	s, err := jsonString(x5c[0], "transfer_key.x5c[0]")
	if err != nil {
		return nil, exErr("%v", err)
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, exErr("transfer_key.x5c[0] is not standard base64: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, exErr("transfer_key.x5c[0] is not an X.509 certificate: %v", err)
	}
	pub, err := rsaPublic(cert)
	if err != nil {
		return nil, exCertErr("transfer_key.x5c[0]: ", err)
	}
	want := map[string]string{
		"kty":      "RSA",
		"n":        b64u.EncodeToString(pub.N.Bytes()),
		"e":        b64u.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		"x5t":      x5t(cert),
		"x5t#S256": X5T256(cert),
	}
	for _, k := range []string{"kty", "n", "e", "x5t", "x5t#S256"} {
		v, ok := jwk[k]
		if !ok {
			continue
		}
		got, err := jsonString(v, "transfer_key."+k)
		if err != nil {
			return nil, exErr("%v", err)
		}
		if got != want[k] {
			return nil, exErr("transfer_key.%s does not match the certificate in x5c[0]", k)
		}
	}
	return cert, nil
}

// ExchangeCertPEM returns the certificate as `az keyvault security-domain
// init-recovery` writes it: base64 of the DER in 65-character lines between
// the BEGIN and END lines, joined with "\n", no trailing newline.
func ExchangeCertPEM(cert *x509.Certificate) []byte {
	s := base64.StdEncoding.EncodeToString(cert.Raw)
	lines := []string{"-----BEGIN CERTIFICATE-----"}
	for len(s) > 65 {
		lines = append(lines, s[:65])
		s = s[65:]
	}
	if s != "" {
		lines = append(lines, s)
	}
	lines = append(lines, "-----END CERTIFICATE-----")
	return []byte(strings.Join(lines, "\n"))
}

// TransferKeyJSON returns a body of GET /securitydomain/upload for the
// exchange certificate cert in the layout of the vectors'
// transfer_key_response.json (kid as given, alg "RSA-OAEP-256", Python's
// separators), with transfer_key a JSON string holding the JWK (which is
// what the az CLI expects). The service's own answer is laid out
// differently: see [TransferKeyResponse].
func TransferKeyJSON(cert *x509.Certificate, kid string) ([]byte, error) {
	pub, err := rsaPublic(cert)
	if err != nil {
		return nil, err
	}
	inner := `{"kid": ` + pyQuote(kid) +
		`, "kty": "RSA", "key_ops": ["encrypt", "wrapKey"], "n": ` + pyQuote(b64u.EncodeToString(pub.N.Bytes())) +
		`, "e": ` + pyQuote(b64u.EncodeToString(big.NewInt(int64(pub.E)).Bytes())) +
		`, "alg": "RSA-OAEP-256", "x5c": [` + pyQuote(base64.StdEncoding.EncodeToString(cert.Raw)) +
		`], "x5t": ` + pyQuote(x5t(cert)) + `, "x5t#S256": ` + pyQuote(X5T256(cert)) + `}`
	var b bytes.Buffer
	b.WriteString("{\n  \"key_format\": \"jwk\",\n  \"transfer_key\": ")
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(inner); err != nil {
		return nil, err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	b.WriteString("\n}")
	return b.Bytes(), nil
}

// TransferKeyResponse returns the body of GET /securitydomain/upload for the
// exchange certificate cert exactly as the service lays it out (service
// side, for the emulator; recorded from a real Managed HSM in 2025): compact
// JSON {"key_format":"jwk","transfer_key":"<the JWK as a JSON string>"},
// the JWK itself compact with its members in alphabetical order, e, key_ops
// ["wrapKey","verify","encrypt"], kid "not used", kty "RSA", n, x5c (the one
// certificate, standard base64 DER), x5t and x5t#S256, and no alg.
func TransferKeyResponse(cert *x509.Certificate) ([]byte, error) {
	pub, err := rsaPublic(cert)
	if err != nil {
		return nil, err
	}
	jwk := struct {
		E       string   `json:"e"`
		KeyOps  []string `json:"key_ops"`
		Kid     string   `json:"kid"`
		Kty     string   `json:"kty"`
		N       string   `json:"n"`
		X5C     []string `json:"x5c"`
		X5T     string   `json:"x5t"`
		X5TS256 string   `json:"x5t#S256"`
	}{
		E:       b64u.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		KeyOps:  []string{"wrapKey", "verify", "encrypt"},
		Kid:     "not used",
		Kty:     "RSA",
		N:       b64u.EncodeToString(pub.N.Bytes()),
		X5C:     []string{base64.StdEncoding.EncodeToString(cert.Raw)},
		X5T:     x5t(cert),
		X5TS256: X5T256(cert),
	}
	inner, err := compactJSON(jwk)
	if err != nil {
		return nil, err
	}
	return compactJSON(struct {
		KeyFormat   string `json:"key_format"`
		TransferKey string `json:"transfer_key"`
	}{"jwk", string(inner)})
}

// compactJSON is json.Marshal without HTML escaping (the service writes
// '+', '<', '>' and '&' as themselves).
func compactJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

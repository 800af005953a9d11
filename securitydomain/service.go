package securitydomain

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
)

// This file is the service side of the scheme, for the emulator and for
// tests that check the offline side through an independent path. The
// offline restore does not use it.

// NewSecurityDomain does what the service does on download: it draws a fresh
// 32-byte master key, splits it required-of-len(certs) with Split (share i,
// x = i+1, to certs[i]), encrypts each share to its certificate, encrypts
// each payload under KDF(master, tag), and returns the SD in the service's
// compact JSON layout with version 2. Each share JWE gets its own random
// random UUID-form kid, as the service does since 2025 (before, every share's kid was
// "not used").
//
// certs must number 3..10 and hold distinct RSA keys of at least 2048 bits;
// required must be in 2..len(certs); payload tags must be distinct and
// non-empty.
func NewSecurityDomain(certs []*x509.Certificate, required int, payloads []Payload, rand io.Reader) ([]byte, error) {
	if len(certs) < MinCustodians || len(certs) > MaxCustodians {
		return nil, fmt.Errorf("securitydomain: %d certificates, want %d..%d", len(certs), MinCustodians, MaxCustodians)
	}
	if required < MinQuorum || required > MaxQuorum || required > len(certs) {
		return nil, fmt.Errorf("securitydomain: quorum %d for %d certificates, want %d..%d and at most the number of certificates", required, len(certs), MinQuorum, MaxQuorum)
	}
	if len(payloads) == 0 {
		return nil, errors.New("securitydomain: no payloads")
	}
	pubs := make([]*rsa.PublicKey, len(certs))
	for i, c := range certs {
		p, err := rsaPublic(c)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		for j := range i {
			if X5T256(certs[j]) == X5T256(c) {
				return nil, fmt.Errorf("securitydomain: certificates %d and %d are the same", j, i)
			}
		}
		pubs[i] = p
	}
	seen := map[string]bool{}
	for _, p := range payloads {
		if p.Tag == "" || seen[p.Tag] {
			return nil, fmt.Errorf("securitydomain: payload tag %q is empty or repeated", p.Tag)
		}
		seen[p.Tag] = true
	}
	mk := make([]byte, MasterKeySize)
	defer clear(mk)
	if _, err := io.ReadFull(rand, mk); err != nil {
		return nil, fmt.Errorf("securitydomain: reading random master key: %w", err)
	}
	shares, err := Split(mk, len(certs), required, rand)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range shares {
			clear(s)
		}
	}()
	sd := &SecurityDomain{Required: required, KeyAlgorithm: KeyAlgorithmShamir, Version: 2}
	for _, p := range payloads {
		k := dataKey(mk, p.Tag)
		j, err := sealJWE(AlgDir, p.Tag, nil, k, p.Data, rand)
		clear(k)
		if err != nil {
			return nil, err
		}
		sd.Data = append(sd.Data, DataEntry{Tag: p.Tag, CompactJWE: j.String()})
	}
	for i, c := range certs {
		kid, err := randomUUID(rand)
		if err != nil {
			return nil, err
		}
		ek, err := sealRSA(pubs[i], shares[i], kid, rand)
		if err != nil {
			return nil, err
		}
		sd.Shares = append(sd.Shares, EncShare{EncKey: ek, X5T256: X5T256(c), Kid: kid})
	}
	return sd.Marshal(), nil
}

// OpenSecurityDomain opens sdJSON with the given custodians' keys (using the
// first quorum of them that hold shares) and returns the decrypted payloads.
func OpenSecurityDomain(sdJSON []byte, custodians []Custodian) ([]Payload, error) {
	sd, err := ParseSD(sdJSON)
	if err != nil {
		return nil, err
	}
	opened, err := sd.OpenShares(custodians, false)
	if err != nil {
		return nil, err
	}
	defer opened.Wipe()
	master, err := opened.Combine()
	if err != nil {
		return nil, err
	}
	defer clear(master)
	return sd.DecryptData(master)
}

// OpenRestoreBlob is the service-side inverse of a restore (spec §8): it
// checks that WrappedKey.x5t_256 names exchangeCert and that exchangeKey is
// its key, unwraps the 32-byte master key with RSA-OAEP-256 and
// A256CBC-HS512, and authenticates and decrypts every EncData entry.
func OpenRestoreBlob(blob []byte, exchangeKey *rsa.PrivateKey, exchangeCert *x509.Certificate) ([]Payload, error) {
	b, err := ParseRestoreBlob(blob)
	if err != nil {
		return nil, err
	}
	if exchangeKey == nil || exchangeCert == nil {
		return nil, errors.New("securitydomain: no exchange key or certificate")
	}
	if !SameRSAKey(exchangeCert.PublicKey, &exchangeKey.PublicKey) {
		return nil, errors.New("securitydomain: the exchange private key does not match the exchange certificate")
	}
	if b.X5T256 != X5T256(exchangeCert) {
		return nil, fmt.Errorf("securitydomain: restore blob is wrapped to certificate %s, not the exchange certificate %s", b.X5T256, X5T256(exchangeCert))
	}
	mk, err := b.wrapped.openRSA(SoftwareKey(exchangeKey))
	if err != nil {
		return nil, fmt.Errorf("securitydomain: WrappedKey.enc_key: %w", err)
	}
	defer clear(mk)
	if len(mk) != MasterKeySize {
		return nil, fmt.Errorf("securitydomain: wrapped master key is %d bytes, want %d", len(mk), MasterKeySize)
	}
	return decryptEntries(b.Data, b.data, mk, "EncData.data")
}

// DownloadRequest returns the body of POST /securitydomain/download exactly as
// `az keyvault security-domain download` builds it (spec §2): one JWK per
// certificate, in order, with x5c, x5t, x5t#S256, key_ops, kty, alg, n, e, no
// kid; then "required". Layout: Python json.dumps with its default
// separators (", " and ": "), no trailing newline: byte for byte the body the
// az CLI sent in recorded service traffic (testvectors/sd/recorded2025; the
// shared vectors' download_request.json files hold the same object
// indented). certs must number 3..10 with RSA keys of at least 2048 bits, and
// required must be in 2..10 and at most len(certs).
func DownloadRequest(certs []*x509.Certificate, required int) ([]byte, error) {
	if len(certs) < MinCustodians || len(certs) > MaxCustodians {
		return nil, fmt.Errorf("securitydomain: %d certificates, want %d..%d", len(certs), MinCustodians, MaxCustodians)
	}
	if required < MinQuorum || required > MaxQuorum || required > len(certs) {
		return nil, fmt.Errorf("securitydomain: quorum %d for %d certificates, want %d..%d and at most the number of certificates", required, len(certs), MinQuorum, MaxQuorum)
	}
	out := `{"certificates": [`
	for i, c := range certs {
		pub, err := rsaPublic(c)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		for j := range i {
			if X5T256(certs[j]) == X5T256(c) {
				return nil, fmt.Errorf("securitydomain: certificates %d and %d are the same", j, i)
			}
		}
		if i > 0 {
			out += ", "
		}
		out += `{"x5c": [` + pyQuote(base64.StdEncoding.EncodeToString(c.Raw)) + `], ` +
			`"x5t": ` + pyQuote(x5t(c)) + `, ` +
			`"x5t#S256": ` + pyQuote(X5T256(c)) + `, ` +
			`"key_ops": ["verify", "encrypt", "wrapKey"], "kty": "RSA", "alg": "RSA-OAEP-256", ` +
			`"n": ` + pyQuote(b64u.EncodeToString(pub.N.Bytes())) + `, ` +
			`"e": ` + pyQuote(b64u.EncodeToString(big.NewInt(int64(pub.E)).Bytes())) + `}`
	}
	out += `], "required": ` + strconv.Itoa(required) + `}`
	return []byte(out), nil
}

// ParseDownloadRequest reads a download request body (service side): the
// certificates from each JWK's x5c (exactly one, standard base64 DER) and the
// quorum. x5t, x5t#S256, n, e and kty must agree with the certificate when
// present; kid, key_ops and alg may be present. It enforces the REST spec's
// limits: 3..10 certificates, distinct, RSA of at least 2048 bits, and
// required in 2..10; required greater than the number of certificates is
// refused too, as the service does.
func ParseDownloadRequest(body []byte) ([]*x509.Certificate, int, error) {
	top, err := objectFields(body)
	if err != nil {
		return nil, 0, fmt.Errorf("securitydomain: download request: %v", err)
	}
	if err := fieldSet(top, "download request", []string{"certificates"}, "required"); err != nil {
		return nil, 0, fmt.Errorf("securitydomain: %v", err)
	}
	required := MinQuorum // the REST spec's default
	if r, ok := top["required"]; ok {
		if required, err = jsonInt(r, "required"); err != nil {
			return nil, 0, fmt.Errorf("securitydomain: download request: %v", err)
		}
	}
	list, err := jsonArray(top["certificates"], "certificates")
	if err != nil {
		return nil, 0, fmt.Errorf("securitydomain: download request: %v", err)
	}
	if len(list) < MinCustodians || len(list) > MaxCustodians {
		return nil, 0, fmt.Errorf("securitydomain: download request has %d certificates, want %d..%d", len(list), MinCustodians, MaxCustodians)
	}
	if required < MinQuorum || required > MaxQuorum || required > len(list) {
		return nil, 0, fmt.Errorf("securitydomain: download request: required is %d for %d certificates, want %d..%d and at most the number of certificates", required, len(list), MinQuorum, MaxQuorum)
	}
	var certs []*x509.Certificate
	for i, raw := range list {
		where := "certificates[" + strconv.Itoa(i) + "]"
		jwk, err := objectFields(raw)
		if err != nil {
			return nil, 0, fmt.Errorf("securitydomain: download request: %s: %v", where, err)
		}
		if err := fieldSet(jwk, where, []string{"x5c"}, "x5t", "x5t#S256", "key_ops", "kty", "alg", "n", "e", "kid"); err != nil {
			return nil, 0, fmt.Errorf("securitydomain: download request: %v", err)
		}
		x5c, err := jsonArray(jwk["x5c"], where+".x5c")
		if err != nil {
			return nil, 0, fmt.Errorf("securitydomain: download request: %v", err)
		}
		if len(x5c) != 1 {
			return nil, 0, fmt.Errorf("securitydomain: download request: %s.x5c has %d certificates, want 1", where, len(x5c))
		}
		s, err := jsonString(x5c[0], where+".x5c[0]")
		if err != nil {
			return nil, 0, fmt.Errorf("securitydomain: download request: %v", err)
		}
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, 0, fmt.Errorf("securitydomain: download request: %s.x5c[0] is not standard base64", where)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, 0, fmt.Errorf("securitydomain: download request: %s.x5c[0]: %v", where, err)
		}
		pub, err := rsaPublic(c)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", where, err)
		}
		want := map[string]string{
			"kty": "RSA", "alg": "RSA-OAEP-256", "x5t": x5t(c), "x5t#S256": X5T256(c),
			"n": b64u.EncodeToString(pub.N.Bytes()), "e": b64u.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}
		for k, w := range want {
			if v, ok := jwk[k]; ok {
				if got, err := jsonString(v, where+"."+k); err != nil || got != w {
					return nil, 0, fmt.Errorf("securitydomain: download request: %s.%s does not match its certificate", where, k)
				}
			}
		}
		for j, prev := range certs {
			if X5T256(prev) == X5T256(c) {
				return nil, 0, fmt.Errorf("securitydomain: download request: certificates %d and %d are the same", j, i)
			}
		}
		certs = append(certs, c)
	}
	return certs, required, nil
}

// randomUUID returns 16 random bytes in the 36-character UUID text form, as
// the service's share kids are: recorded ones (2025) carry no fixed version
// or variant bits ("acecd9a3-f6ae-0d83-b12e-68be7d31d315"), so none are set
// here either. It is written here rather than taken from a UUID package
// because those also link the network stack (for version 1 node IDs),
// which the offline binary must not.
func randomUUID(rand io.Reader) (string, error) {
	var u [16]byte
	if _, err := io.ReadFull(rand, u[:]); err != nil {
		return "", fmt.Errorf("securitydomain: reading random share kid: %w", err)
	}
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"
	"time"
)

// exchangeKeyBits is the size of the exchange (transfer) keys the emulator
// makes: the service's are RSA-4096.
const exchangeKeyBits = 4096

// oidAttestationEvidence is the non-critical extension that carries the
// HSM's attestation evidence in the service's exchange certificates
// (1.2.840.113556 is Microsoft's arc; the recorded value is an SGX quote
// with its Intel PCK certificate chain, about 4.7 KB).
var oidAttestationEvidence = asn1.ObjectIdentifier{1, 2, 840, 113556, 10, 1, 1}

// evidenceSize is the size of the recorded extension value; the emulator's
// made-up value has the same size so that its certificates are as large as
// the service's (about 6 KB).
const evidenceSize = 4750

// exchangeKey returns the HSM's exchange key, creating it on first use.
// A key made by an older emulator (RSA-2048, another certificate layout)
// is kept as it is. The caller holds e.mu.
func (e *Emulator) exchangeKey(svc service, st *hsmState) (*rsa.PrivateKey, *x509.Certificate, error) {
	if st.ExchangeKeyPKCS8 != nil {
		k, err := x509.ParsePKCS8PrivateKey(st.ExchangeKeyPKCS8)
		if err != nil {
			return nil, nil, err
		}
		priv, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, nil, fmt.Errorf("the stored exchange key is not RSA")
		}
		cert, err := x509.ParseCertificate(st.ExchangeCertDER)
		if err != nil {
			return nil, nil, err
		}
		return priv, cert, nil
	}
	priv, err := e.newExchangeKey()
	if err != nil {
		return nil, nil, err
	}
	// Certificates use the real time, not Config.Now: clients check them
	// against theirs.
	der, err := exchangeCertificate(svc, priv, time.Now())
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	st.ExchangeKeyPKCS8, _ = x509.MarshalPKCS8PrivateKey(priv)
	st.ExchangeCertDER = der
	if err := e.saveHSM(svc, st); err != nil {
		return nil, nil, err
	}
	return priv, cert, nil
}

// exchangeCertificate makes the exchange key's certificate in the layout of
// the service's (recorded 2025): self-signed, serial 1, subject and issuer
// CN=<hsm>.managedhsm.azure.net, valid for one year from now,
// sha256WithRSAEncryption, and these extensions in this order: basic
// constraints (critical, CA false), key usage (critical, keyEncipherment),
// subject key identifier, authority key identifier (the same), and the
// attestation-evidence extension (non-critical) whose value here is made up:
// it says so, and binds nothing.
func exchangeCertificate(svc service, priv *rsa.PrivateKey, now time.Time) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	var pk struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &pk); err != nil {
		return nil, err
	}
	skid := sha1.Sum(pk.PublicKey.Bytes) // RFC 5280 §4.2.1.2 method (1)
	ext := func(oid asn1.ObjectIdentifier, critical bool, v any) pkix.Extension {
		b, err := asn1.Marshal(v)
		if err != nil {
			panic(err) // fixed shapes: cannot fail
		}
		return pkix.Extension{Id: oid, Critical: critical, Value: b}
	}
	type basicConstraints struct {
		IsCA bool `asn1:"optional"`
	}
	type authKeyID struct {
		ID []byte `asn1:"optional,tag:0"`
	}
	// The common name as a UTF8String, as the service writes it
	// (crypto/x509 would write a PrintableString).
	name, err := asn1.Marshal(pkix.RDNSequence{{{
		Type:  asn1.ObjectIdentifier{2, 5, 4, 3},
		Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(svc.kidHost())},
	}}})
	if err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(1),
		RawSubject:         name, // and, self-signed, the issuer
		NotBefore:          now,
		NotAfter:           now.AddDate(1, 0, 0),
		SignatureAlgorithm: x509.SHA256WithRSA,
		// Every extension is given here, so that they come in the
		// service's order (crypto/x509 would put key usage first).
		ExtraExtensions: []pkix.Extension{
			ext(asn1.ObjectIdentifier{2, 5, 29, 19}, true, basicConstraints{}),
			ext(asn1.ObjectIdentifier{2, 5, 29, 15}, true, asn1.BitString{Bytes: []byte{0x20}, BitLength: 3}),
			ext(asn1.ObjectIdentifier{2, 5, 29, 14}, false, skid[:]),
			ext(asn1.ObjectIdentifier{2, 5, 29, 35}, false, authKeyID{ID: skid[:]}),
			{Id: oidAttestationEvidence, Value: madeUpEvidence(spki)},
		},
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
}

// madeUpEvidence is the emulator's stand-in for the service's attestation
// evidence, evidenceSize bytes: the recorded value's 16-byte header
// (version 1, format 2, then the size of what follows, little-endian), a
// note that it is not evidence of anything, the SHA-256 of the key's
// SubjectPublicKeyInfo, and zeros.
func madeUpEvidence(spki []byte) []byte {
	b := make([]byte, evidenceSize)
	binary.LittleEndian.PutUint32(b[0:], 1)
	binary.LittleEndian.PutUint32(b[4:], 2)
	binary.LittleEndian.PutUint64(b[8:], uint64(evidenceSize-16))
	n := 16 + copy(b[16:], "keyrite-emulator: made-up stand-in for the service's attestation evidence; it attests nothing. SHA-256 of the SubjectPublicKeyInfo follows.\n")
	sum := sha256.Sum256(spki)
	copy(b[n:], sum[:])
	return b
}

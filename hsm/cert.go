package hsm

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Certificates are public objects: reading their CKA_VALUE is fine (the
// package never reads CKA_VALUE of a key).

// Certificate reads the X.509 certificate in the certificate object obj.
func (s *Session) Certificate(obj *Object) (*x509.Certificate, error) {
	if obj.Class != pkcs11.CKO_CERTIFICATE {
		return nil, fmt.Errorf("hsm: %s is not a certificate", obj.Summary())
	}
	got, err := s.attrs(obj.Handle, pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKA_VALUE)
	if err != nil {
		return nil, err
	}
	if t, ok := ulong(got[pkcs11.CKA_CERTIFICATE_TYPE]); ok && t != pkcs11.CKC_X_509 {
		return nil, fmt.Errorf("hsm: %s is not an X.509 certificate", obj.Summary())
	}
	der := got[pkcs11.CKA_VALUE]
	if len(der) == 0 {
		return nil, fmt.Errorf("hsm: %s has no CKA_VALUE", obj.Summary())
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("hsm: %s: %w", obj.Summary(), err)
	}
	return c, nil
}

// FindCertificate finds the one certificate object matching template (with
// CKA_CLASS CKO_CERTIFICATE added) and reads it. what names it in errors.
func (s *Session) FindCertificate(what string, template []*pkcs11.Attribute) (*x509.Certificate, *Object, error) {
	var t []*pkcs11.Attribute
	for _, a := range template {
		if a.Type != pkcs11.CKA_CLASS {
			t = append(t, a)
		}
	}
	t = append(t, pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE))
	obj, err := s.FindOne(what, t)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.Certificate(obj)
	if err != nil {
		return nil, nil, err
	}
	return c, obj, nil
}

// StoreCertificate stores cert on the token as a public token object
// (CKO_CERTIFICATE, CKC_X_509) with label and id, and reads it back to check
// the stored bytes.
func (s *Session) StoreCertificate(cert *x509.Certificate, label string, id []byte) (*Object, error) {
	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return nil, fmt.Errorf("hsm: encoding the certificate serial number: %w", err)
	}
	t := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, bytes.Clone(id)),
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
		pkcs11.NewAttribute(pkcs11.CKA_ISSUER, cert.RawIssuer),
		pkcs11.NewAttribute(pkcs11.CKA_SERIAL_NUMBER, serial),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, cert.Raw),
	}
	h, err := s.p.CreateObject(s.h, t)
	if err != nil {
		return nil, wrapErr("C_CreateObject", fmt.Sprintf("storing certificate %q", label), err)
	}
	obj, err := s.Object(h)
	if err != nil {
		return nil, err
	}
	back, err := s.Certificate(obj)
	if err != nil {
		return nil, err
	}
	if !back.Equal(cert) {
		return nil, fmt.Errorf("hsm: certificate %q read back from token %q differs from what was stored", label, s.Slot.Token.Label)
	}
	return obj, nil
}

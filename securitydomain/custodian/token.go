package custodian

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/securitydomain"
)

// readPINFile reads a URI's pin-source file (one line; a final newline is
// not part of the PIN).
func readPINFile(path string) ([]byte, error) {
	return (&secret.Source{Kind: "PIN", File: path}).Read("")
}

// objectTemplate is u's object attributes without CKA_CLASS (and without
// CKA_ID when noID).
func objectTemplate(u *hsm.URI, noID bool) []*pkcs11.Attribute {
	var tmpl []*pkcs11.Attribute
	for _, a := range u.ObjectTemplate() {
		if a.Type != pkcs11.CKA_CLASS && !(noID && a.Type == pkcs11.CKA_ID) {
			tmpl = append(tmpl, a)
		}
	}
	return tmpl
}

// loadToken reads the certificate from the token now (certificates are
// public objects: no login) and defers the login to first use.
func (l *Loader) loadToken(src string) (securitydomain.Custodian, error) {
	u, err := hsm.ParseURI(src)
	if err != nil {
		return securitydomain.Custodian{}, errorf(ErrSource, err, "key source: %v", err)
	}
	if u.Type != "" && u.Type != "private" {
		return securitydomain.Custodian{}, errorf(ErrSource, nil, "key source %s: type=%s, want the private key (type=private or no type)", u.Redacted(), u.Type)
	}
	if u.Object == "" && len(u.ID) == 0 {
		return securitydomain.Custodian{}, errorf(ErrSource, nil, "key source %s names no key: add object=LABEL or id=ID", u.Redacted())
	}
	t, err := l.Token(u)
	if err != nil {
		return securitydomain.Custodian{}, err
	}
	cert, certObj, err := t.sess.FindCertificate("certificate for "+u.ObjectDescription(), objectTemplate(u, false))
	if errors.Is(err, hsm.ErrObjectNotFound) && len(u.ID) == 0 {
		// No certificate under the key's label: find the key (this needs
		// the PIN) and take the certificate with the key's CKA_ID.
		cert, certObj, err = certByKeyID(t, u)
	}
	if err != nil {
		if isOurs(err) { // the login's own error
			return securitydomain.Custodian{}, err
		}
		return securitydomain.Custodian{}, wrap(ErrCertificate, err)
	}
	name := u.Redacted()
	k := &tokenKey{tok: t, uri: u, certObj: certObj, cert: cert, name: name}
	return securitydomain.Custodian{Name: name, Cert: cert, Key: k}, nil
}

// certByKeyID logs in, finds the private key u names and reads the
// certificate that has the key's CKA_ID.
func certByKeyID(t *Token, u *hsm.URI) (*x509.Certificate, *hsm.Object, error) {
	if err := t.Login(); err != nil {
		return nil, nil, err
	}
	tmpl := append([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}, objectTemplate(u, false)...)
	key, err := t.sess.FindOne("private key "+u.ObjectDescription(), tmpl)
	if err != nil {
		return nil, nil, err
	}
	if len(key.ID) == 0 {
		return nil, nil, fmt.Errorf("%w: no certificate labelled %q on token %q, and the key has no CKA_ID to find one by", hsm.ErrObjectNotFound, u.Object, t.Label())
	}
	return t.sess.FindCertificate(fmt.Sprintf("certificate with the key's id %s", hex.EncodeToString(key.ID)),
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, bytes.Clone(key.ID))})
}

// tokenKey is a custodian key on a token, logged in and found on first use.
type tokenKey struct {
	tok     *Token
	uri     *hsm.URI
	certObj *hsm.Object
	cert    *x509.Certificate
	name    string
	dec     *securitydomain.TokenDecrypter
}

func (k *tokenKey) Public() crypto.PublicKey { return k.cert.PublicKey }

// Mechanism is the mechanism of the last decryption ("" before any).
func (k *tokenKey) Mechanism() string {
	if k.dec == nil {
		return ""
	}
	return k.dec.Mechanism()
}

// open logs in and finds the private key: the URI's object attributes, and
// the CKA_ID of id= or else of the certificate found, so that the key is the
// certificate's.
func (k *tokenKey) open() error {
	if k.dec != nil {
		return nil
	}
	if err := k.tok.Login(); err != nil {
		return err
	}
	tmpl := append([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}, objectTemplate(k.uri, true)...)
	id := k.uri.ID
	if len(id) == 0 {
		id = k.certObj.ID
	}
	if len(id) > 0 {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, bytes.Clone(id)))
	}
	s := k.tok.sess
	obj, err := s.FindOne("private key "+k.uri.ObjectDescription()+" with id "+hex.EncodeToString(id), tmpl)
	if err != nil {
		return wrap(ErrKeyNotFound, err)
	}
	rk, err := s.RSAPrivateKey(obj)
	if err != nil {
		return wrap(ErrKey, err)
	}
	if !securitydomain.SameRSAKey(k.cert.PublicKey, rk.Public().(*rsa.PublicKey)) {
		return errorf(ErrMismatch, nil, "%s: the private key on token %q does not match the certificate stored beside it", k.name, k.tok.Label())
	}
	k.dec = securitydomain.NewTokenDecrypter(rk)
	return nil
}

func (k *tokenKey) DecryptOAEPSHA256(ct []byte) ([]byte, error) {
	if err := k.tok.usable(); err != nil {
		return nil, err
	}
	if err := k.open(); err != nil {
		return nil, err
	}
	return k.dec.DecryptOAEPSHA256(ct)
}

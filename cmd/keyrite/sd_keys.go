package main

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/cli"
	"github.com/keyrite/keyrite/internal/secret"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/miekg/pkcs11"
)

// Hints for custodian keys.
const (
	hintWrappingKey  = "give each custodian's key as --wrapping-key KEY.pem (certificate KEY.cer beside it), --wrapping-key KEY.pem:CERT.cer, or a PKCS#11 URI such as 'pkcs11:token=custodian1;object=sd-wrap?module-path=/usr/lib/softhsm/libsofthsm2.so'"
	hintCertBeside   = "put the custodian's certificate beside the key under the same name with .cer (the az CLI convention: wrap_0.pem -> wrap_0.cer), or name it explicitly: --wrapping-key KEY.pem:CERT.cer"
	hintPasswordSrc  = "give the password with --password-env NAME or --password-file PATH, or run keyrite on a terminal to be asked"
	hintPINSrc       = "give the PIN with --pin-env NAME or --pin-file PATH, or run keyrite on a terminal to be asked for each token's PIN"
	hintTokenCert    = "store the custodian's certificate on the token with the key's CKA_ID (keyrite sd keygen does), e.g. pkcs11-tool --write-object CERT.der --type cert --id ID --label LABEL"
	maxKeyFileSize   = 1 << 20
	maxCertFileSize  = 1 << 20
	maxInputFileSize = 64 << 20
)

// sdReadFile reads a whole input file, refusing directories and files larger
// than limit. what names the file's role in errors.
func sdReadFile(path, what string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s %s: no such file", what, path)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s %s: %v", what, path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", what, path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s %s: is a directory; expected a file", what, path)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s %s: larger than %d KiB", what, path, limit>>10)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", what, path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s %s: larger than %d KiB", what, path, limit>>10)
	}
	return data, nil
}

// sdMsg drops the package prefixes from a library error for the command line.
func sdMsg(err error) string {
	s := err.Error()
	for _, p := range []string{
		"securitydomain: invalid security domain file: ",
		"securitydomain: invalid exchange key: ",
		"securitydomain: invalid restore blob: ",
		"securitydomain: ", "hsm: ",
	} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}

// sdError is a command-line error whose text is msg and whose chain is err.
type sdError struct {
	msg string
	err error
}

func (e *sdError) Error() string { return e.msg }
func (e *sdError) Unwrap() error { return e.err }

func sdErrorf(err error, format string, args ...any) error {
	return &sdError{msg: fmt.Sprintf(format, args...), err: err}
}

// keyLoader turns --wrapping-key arguments into custodians. Token keys log in
// lazily, when their share is first needed, so that a restore asks only the
// PINs of the custodians it uses; each token is asked once.
type keyLoader struct {
	password *secret.Source
	pin      *secret.Source
	// pinFunc, when set, asks for a token's PIN instead of pin (the guided
	// ceremony's UI sets it).
	pinFunc func(prompt string) ([]byte, error)
	tokens  map[string]*tokenConn
	order   []*tokenConn
}

type tokenConn struct {
	mod      *hsm.Module
	sess     *hsm.Session
	loggedIn bool
	pinFile  string // from the URI's pin-source
}

func newKeyLoader(password, pin *secret.Source) *keyLoader {
	return &keyLoader{password: password, pin: pin, tokens: map[string]*tokenConn{}}
}

// Close logs out of and closes every token session.
func (l *keyLoader) Close() {
	for _, t := range l.order {
		t.sess.Close()
		t.mod.Close()
	}
	l.order, l.tokens = nil, map[string]*tokenConn{}
}

// hsmInfo describes the first token used, for the transcript, and lists all.
func (l *keyLoader) hsmInfo() (*transcripts.HSMInfo, []string) {
	var first *transcripts.HSMInfo
	var all []string
	for _, t := range l.order {
		ti := t.sess.Token()
		if first == nil {
			first = &transcripts.HSMInfo{ModulePath: t.mod.Path, ModuleSHA256: t.mod.SHA256, TokenLabel: ti.Label,
				Manufacturer: ti.Manufacturer, Model: ti.Model, Serial: ti.Serial, Firmware: ti.Firmware}
		}
		all = append(all, fmt.Sprintf("%s (%s %s, serial %s, module %s)", ti.Label, ti.Manufacturer, ti.Model, ti.Serial, t.mod.Path))
	}
	return first, all
}

// load makes the custodian for one --wrapping-key argument.
func (l *keyLoader) load(src string) (securitydomain.Custodian, error) {
	if hsm.IsURI(src) {
		return l.loadToken(src)
	}
	return l.loadFile(src)
}

// splitKeyArg splits "KEY.pem:CERT.cer" at the last colon; without a colon
// the certificate is KEY minus its extension plus ".cer".
func splitKeyArg(src string) (keyPath, certPath string) {
	if i := strings.LastIndexByte(src, ':'); i >= 0 {
		return src[:i], src[i+1:]
	}
	return src, securitydomain.CertPathFor(src)
}

func (l *keyLoader) loadFile(src string) (securitydomain.Custodian, error) {
	keyPath, certPath := splitKeyArg(src)
	if keyPath == "" || certPath == "" {
		return securitydomain.Custodian{}, cli.WithHint(cli.Usagef("--wrapping-key %q: empty key or certificate path", src), hintWrappingKey)
	}
	keyPEM, err := sdReadFile(keyPath, "wrapping key", maxKeyFileSize)
	if err != nil {
		return securitydomain.Custodian{}, cli.WithHint(err, hintWrappingKey)
	}
	certData, err := sdReadFile(certPath, "certificate", maxCertFileSize)
	if err != nil {
		return securitydomain.Custodian{}, cli.WithHint(sdErrorf(err, "%v (for wrapping key %s)", err, keyPath), hintCertBeside)
	}
	cert, err := securitydomain.ParseCertificate(certData)
	if err != nil {
		return securitydomain.Custodian{}, cli.WithHint(sdErrorf(err, "certificate %s: %s", certPath, sdMsg(err)), hintCertBeside)
	}
	k := &fileKey{path: keyPath, certPath: certPath, pem: keyPEM, cert: cert, password: l.password}
	if !securitydomain.IsEncryptedPEM(keyPEM) {
		// Unencrypted: check it now, before anything is decrypted.
		if err := k.open(); err != nil {
			return securitydomain.Custodian{}, err
		}
	}
	return securitydomain.Custodian{Name: keyPath, Cert: cert, Key: k}, nil
}

// fileKey is a PEM private key, opened (and its password asked) on first use.
type fileKey struct {
	path, certPath string
	pem            []byte
	cert           *x509.Certificate
	password       *secret.Source
	key            securitydomain.Decrypter
}

func (k *fileKey) open() error {
	if k.key != nil {
		return nil
	}
	pw := func() ([]byte, error) {
		b, err := k.password.Read(fmt.Sprintf("password for %s: ", k.path))
		if err != nil {
			return nil, cli.WithHint(sdErrorf(err, "wrapping key %s is encrypted: %v", k.path, err), hintPasswordSrc)
		}
		return b, nil
	}
	rk, err := securitydomain.ParsePrivateKeyPEM(k.pem, pw)
	clear(k.pem)
	k.pem = nil
	if err != nil {
		var h interface{ Hints() []string }
		if errors.As(err, &h) {
			return err
		}
		hint := "give the custodian's RSA private key in PEM (PKCS#1 or PKCS#8), as the az CLI uses it"
		if errors.Is(err, securitydomain.ErrPassword) {
			hint = "check the password for this key (--password-env / --password-file apply to every encrypted key)"
		}
		return cli.WithHint(sdErrorf(err, "wrapping key %s: %s", k.path, sdMsg(err)), hint)
	}
	if !securitydomain.SameRSAKey(k.cert.PublicKey, &rk.PublicKey) {
		return cli.WithHint(fmt.Errorf("wrapping key %s does not match its certificate %s", k.path, k.certPath), hintCertBeside)
	}
	k.key = securitydomain.SoftwareKey(rk)
	return nil
}

func (k *fileKey) Public() crypto.PublicKey { return k.cert.PublicKey }
func (k *fileKey) Mechanism() string        { return securitydomain.MechSoftware }

func (k *fileKey) DecryptOAEPSHA256(ct []byte) ([]byte, error) {
	if err := k.open(); err != nil {
		return nil, err
	}
	return k.key.DecryptOAEPSHA256(ct)
}

// token returns the (shared) session on the token u names.
func (l *keyLoader) token(u *hsm.URI) (*tokenConn, error) {
	if u.ModulePath == "" {
		return nil, cli.WithHint(fmt.Errorf("PKCS#11 URI %s has no module-path", u.Redacted()), "add ?module-path=/path/to/the/vendor/pkcs11-module.so to the URI")
	}
	f := u.TokenFilter()
	key := u.ModulePath + "\x00" + f.String()
	if t, ok := l.tokens[key]; ok {
		return t, nil
	}
	m, err := hsm.Load(u.ModulePath)
	if err != nil {
		return nil, cli.WithHint(sdErrorf(err, "%s", sdMsg(err)), "check the module-path in the URI: it must be the token vendor's PKCS#11 library")
	}
	slot, err := m.FindToken(f)
	if err != nil {
		m.Close()
		return nil, cli.WithHint(sdErrorf(err, "%s", sdMsg(err)), "insert the custodian's card or token, and check token= in the URI")
	}
	s, err := m.OpenSession(slot)
	if err != nil {
		m.Close()
		return nil, sdErrorf(err, "%s", sdMsg(err))
	}
	t := &tokenConn{mod: m, sess: s, pinFile: u.PINFile()}
	l.tokens[key] = t
	l.order = append(l.order, t)
	return t, nil
}

// login asks for the token's PIN once and logs in; the PIN is wiped by Login.
func (l *keyLoader) login(t *tokenConn) error {
	if t.loggedIn {
		return nil
	}
	src := l.pin
	if t.pinFile != "" {
		src = &secret.Source{Kind: "PIN", File: t.pinFile}
	}
	label := t.sess.Token().Label
	read := src.Read
	if l.pinFunc != nil && t.pinFile == "" {
		read = l.pinFunc
	}
	pin, err := read(fmt.Sprintf("PIN for token %q: ", label))
	if err != nil {
		return cli.WithHint(sdErrorf(err, "token %q: %v", label, err), hintPINSrc)
	}
	if err := t.sess.Login(pin); err != nil {
		hint := "check the PIN of this custodian's token"
		if errors.Is(err, hsm.ErrPINLocked) {
			hint = "the token's PIN is locked: its security officer must unblock it"
		}
		return cli.WithHint(sdErrorf(err, "%s", sdMsg(err)), hint)
	}
	t.loggedIn = true
	return nil
}

// loadToken reads the certificate from the token now (certificates are
// public objects: no login) and defers the login to first use.
func (l *keyLoader) loadToken(src string) (securitydomain.Custodian, error) {
	u, err := hsm.ParseURI(src)
	if err != nil {
		return securitydomain.Custodian{}, cli.WithHint(cli.Usagef("--wrapping-key: %s", sdMsg(err)), hintWrappingKey)
	}
	if u.Type != "" && u.Type != "private" {
		return securitydomain.Custodian{}, cli.WithHint(cli.Usagef("--wrapping-key %s: type=%s, want the private key (type=private or no type)", u.Redacted(), u.Type), hintWrappingKey)
	}
	if u.Object == "" && len(u.ID) == 0 {
		return securitydomain.Custodian{}, cli.WithHint(cli.Usagef("--wrapping-key %s names no key: add object=LABEL or id=ID", u.Redacted()), hintWrappingKey)
	}
	t, err := l.token(u)
	if err != nil {
		return securitydomain.Custodian{}, err
	}
	var tmpl []*pkcs11.Attribute
	for _, a := range u.ObjectTemplate() {
		if a.Type != pkcs11.CKA_CLASS {
			tmpl = append(tmpl, a)
		}
	}
	cert, certObj, err := t.sess.FindCertificate("certificate for "+u.ObjectDescription(), tmpl)
	if errors.Is(err, hsm.ErrObjectNotFound) && len(u.ID) == 0 {
		// No certificate under the key's label: find the key (this needs
		// the PIN) and take the certificate with the key's CKA_ID.
		cert, certObj, err = l.certByKeyID(t, u)
	}
	if err != nil {
		var h interface{ Hints() []string }
		if errors.As(err, &h) {
			return securitydomain.Custodian{}, err
		}
		return securitydomain.Custodian{}, cli.WithHint(sdErrorf(err, "%s", sdMsg(err)), hintTokenCert)
	}
	name := u.Redacted()
	k := &tokenKey{loader: l, conn: t, uri: u, certObj: certObj, cert: cert, name: name}
	return securitydomain.Custodian{Name: name, Cert: cert, Key: k}, nil
}

// certByKeyID logs in, finds the private key u names and reads the
// certificate that has the key's CKA_ID.
func (l *keyLoader) certByKeyID(t *tokenConn, u *hsm.URI) (*x509.Certificate, *hsm.Object, error) {
	if err := l.login(t); err != nil {
		return nil, nil, err
	}
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}
	for _, a := range u.ObjectTemplate() {
		if a.Type != pkcs11.CKA_CLASS {
			tmpl = append(tmpl, a)
		}
	}
	key, err := t.sess.FindOne("private key "+u.ObjectDescription(), tmpl)
	if err != nil {
		return nil, nil, err
	}
	if len(key.ID) == 0 {
		return nil, nil, fmt.Errorf("%w: no certificate labelled %q on token %q, and the key has no CKA_ID to find one by", hsm.ErrObjectNotFound, u.Object, t.sess.Token().Label)
	}
	return t.sess.FindCertificate(fmt.Sprintf("certificate with the key's id %s", hex.EncodeToString(key.ID)),
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, bytes.Clone(key.ID))})
}

// tokenKey is a custodian key on a token, logged in on first use.
type tokenKey struct {
	loader  *keyLoader
	conn    *tokenConn
	uri     *hsm.URI
	certObj *hsm.Object
	cert    *x509.Certificate
	name    string
	dec     *securitydomain.TokenDecrypter
}

func (k *tokenKey) Public() crypto.PublicKey { return k.cert.PublicKey }

func (k *tokenKey) Mechanism() string {
	if k.dec == nil {
		return ""
	}
	return k.dec.Mechanism()
}

func (k *tokenKey) open() error {
	if k.dec != nil {
		return nil
	}
	if err := k.loader.login(k.conn); err != nil {
		return err
	}
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}
	for _, a := range k.uri.ObjectTemplate() {
		if a.Type != pkcs11.CKA_CLASS && a.Type != pkcs11.CKA_ID {
			tmpl = append(tmpl, a)
		}
	}
	id := k.uri.ID
	if len(id) == 0 {
		id = k.certObj.ID
	}
	if len(id) > 0 {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, bytes.Clone(id)))
	}
	obj, err := k.conn.sess.FindOne("private key "+k.uri.ObjectDescription()+" with id "+hex.EncodeToString(id), tmpl)
	if err != nil {
		return cli.WithHint(sdErrorf(err, "%s", sdMsg(err)), "the URI must name the custodian's private key; its certificate must carry the same CKA_ID")
	}
	rk, err := k.conn.sess.RSAPrivateKey(obj)
	if err != nil {
		return sdErrorf(err, "%s", sdMsg(err))
	}
	if !securitydomain.SameRSAKey(k.cert.PublicKey, rk.Public().(*rsa.PublicKey)) {
		return cli.WithHint(fmt.Errorf("%s: the private key on token %q does not match the certificate stored beside it", k.name, k.conn.sess.Token().Label), hintTokenCert)
	}
	k.dec = securitydomain.NewTokenDecrypter(rk)
	return nil
}

func (k *tokenKey) DecryptOAEPSHA256(ct []byte) ([]byte, error) {
	if err := k.open(); err != nil {
		return nil, err
	}
	return k.dec.DecryptOAEPSHA256(ct)
}

// loadCustodians loads every --wrapping-key, in order.
func (l *keyLoader) loadCustodians(srcs []string) ([]securitydomain.Custodian, error) {
	var cs []securitydomain.Custodian
	for _, s := range srcs {
		c, err := l.load(s)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

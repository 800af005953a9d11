package custodian

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/keyrite/keyrite/internal/base/cli"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/keyrite/keyrite/securitydomain"
)

// maxFileSize bounds a key or certificate file.
const maxFileSize = 1 << 20

// readFile reads a whole file, refusing directories and files larger than
// maxFileSize. what names the file's role in errors.
func readFile(path, what string) ([]byte, error) {
	fail := func(err error, format string, args ...any) ([]byte, error) {
		// "WHAT PATH: REASON", wrapping the fs error when there is one.
		return nil, &cli.Reworded{Msg: what + " " + path + ": " + fmt.Sprintf(format, args...), Err: err}
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fail(err, "no such file")
		}
		reason := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err
		}
		return fail(err, "%v", reason)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail(err, "%v", err)
	}
	if st.IsDir() {
		return fail(nil, "is a directory; expected a file")
	}
	if st.Size() > maxFileSize {
		return fail(nil, "larger than %d KiB", maxFileSize>>10)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return fail(err, "%v", err)
	}
	if len(data) > maxFileSize {
		return fail(nil, "larger than %d KiB", maxFileSize>>10)
	}
	return data, nil
}

// splitKeyArg splits "KEY.pem:CERT.cer" at the last colon; without a colon
// the certificate is KEY minus its extension plus ".cer".
func splitKeyArg(src string) (keyPath, certPath string) {
	if i := strings.LastIndexByte(src, ':'); i >= 0 {
		return src[:i], src[i+1:]
	}
	return src, securitydomain.CertPathFor(src)
}

func (l *Loader) loadFile(src string) (securitydomain.Custodian, error) {
	keyPath, certPath := splitKeyArg(src)
	if keyPath == "" || certPath == "" {
		return securitydomain.Custodian{}, errorf(ErrSource, nil, "key source %q: empty key or certificate path", src)
	}
	keyPEM, err := readFile(keyPath, "wrapping key")
	if err != nil {
		return securitydomain.Custodian{}, errorf(ErrKeyFile, err, "%v", err)
	}
	certData, err := readFile(certPath, "certificate")
	if err != nil {
		clear(keyPEM)
		return securitydomain.Custodian{}, errorf(ErrCertificate, err, "%v (for wrapping key %s)", err, keyPath)
	}
	cert, err := securitydomain.ParseCertificate(certData)
	if err != nil {
		clear(keyPEM)
		return securitydomain.Custodian{}, errorf(ErrCertificate, err, "certificate %s: %v", certPath, err)
	}
	k := &fileKey{path: keyPath, certPath: certPath, pem: keyPEM, cert: cert, password: l.opts.Password}
	if !securitydomain.IsEncryptedPEM(keyPEM) {
		// Unencrypted: check it now, before anything is decrypted.
		if err := k.open(); err != nil {
			return securitydomain.Custodian{}, err
		}
	}
	return securitydomain.Custodian{Name: keyPath, Cert: cert, Key: k}, nil
}

// fileKey is a PEM private key, opened (and its password asked) on first
// use. The PEM is cleared once it was parsed, whatever the outcome.
type fileKey struct {
	path, certPath string
	pem            []byte
	cert           *x509.Certificate
	password       func(prompt string) ([]byte, error)
	key            securitydomain.Decrypter
	err            error // why open failed, for later calls
}

func (k *fileKey) open() error {
	if k.key != nil || k.err != nil {
		return k.err
	}
	var pwErr error
	pw := func() ([]byte, error) {
		if k.password == nil {
			pwErr = errorf(ErrNoSecret, nil, "wrapping key %s is encrypted: no password source was given", k.path)
			return nil, pwErr
		}
		b, err := k.password(fmt.Sprintf("password for %s", k.path))
		if err != nil {
			clear(b)
			pwErr = errorf(ErrNoSecret, err, "wrapping key %s is encrypted: %v", k.path, err)
			return nil, pwErr
		}
		return b, nil // ParsePrivateKeyPEM clears it
	}
	rk, err := securitydomain.ParsePrivateKeyPEM(k.pem, pw)
	clear(k.pem)
	k.pem = nil
	switch {
	case pwErr != nil:
		k.err = pwErr
	case err != nil:
		k.err = errorf(ErrKey, err, "wrapping key %s: %v", k.path, err)
	case !securitydomain.SameRSAKey(k.cert.PublicKey, &rk.PublicKey):
		k.err = errorf(ErrMismatch, nil, "wrapping key %s does not match its certificate %s", k.path, k.certPath)
	default:
		k.key = securitydomain.SoftwareKey(rk)
	}
	return k.err
}

func (k *fileKey) Public() crypto.PublicKey { return k.cert.PublicKey }
func (k *fileKey) Mechanism() string        { return securitydomain.MechSoftware }

func (k *fileKey) DecryptOAEPSHA256(ct []byte) ([]byte, error) {
	if err := k.open(); err != nil {
		return nil, err
	}
	return k.key.DecryptOAEPSHA256(ct)
}

package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/keyrite/keyrite/internal/base/fsx"
)

// File names of the CA inside the state directory.
const (
	CAFile    = "ca.pem"     // the CA certificate clients trust (public)
	CAKeyFile = "ca-key.pem" // its private key (0600); never leaves the state directory
)

// maxIssued bounds the per-name leaf certificates cached for SNI names other
// than the default ones, so that a client cycling names cannot grow memory.
const maxIssued = 64

// authority is the emulator's certificate authority: an ECDSA P-256 key and
// self-signed certificate, persisted in the state directory, that signs the
// server's leaf certificates.
type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey

	mu      sync.Mutex
	leafKey *ecdsa.PrivateKey
	def     *tls.Certificate
	issued  map[string]*tls.Certificate
}

// loadOrCreateCA reads DIR/ca.pem and DIR/ca-key.pem, or creates both when
// neither exists. Exactly one of them existing is an error: the state
// directory is then damaged and silently replacing the CA would break every
// client that trusts the old one.
func loadOrCreateCA(dir string) (*authority, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		return parseCA(certPEM, keyPEM)
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("emulator: reading CA certificate: %w", certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("emulator: reading CA key: %w", keyErr)
	default:
		return nil, fmt.Errorf("emulator: state directory %s has only one of %s and %s", dir, CAFile, CAKeyFile)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "keyrite-emulator CA (tests and rehearsals only)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("emulator: creating CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	// Key first: a crash between the two writes leaves a key without a
	// certificate, which loadOrCreateCA reports instead of guessing.
	if err := fsx.WriteNew(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("emulator: writing CA key: %w", err)
	}
	if err := fsx.WriteNew(certPath, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("emulator: writing CA certificate: %w", err)
	}
	return parseCA(certPEM, keyPEM)
}

func parseCA(certPEM, keyPEM []byte) (*authority, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("emulator: " + CAFile + " holds no CERTIFICATE PEM block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("emulator: parsing %s: %w", CAFile, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, errors.New("emulator: " + CAKeyFile + " holds no PRIVATE KEY PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("emulator: parsing %s: %w", CAKeyFile, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("emulator: " + CAKeyFile + " is not the key of " + CAFile)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	a := &authority{cert: cert, certPEM: certPEM, key: key, leafKey: leafKey, issued: map[string]*tls.Certificate{}}
	a.def, err = a.issue([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// issue signs a short-lived leaf certificate for the given names with the
// (in-memory) leaf key.
func (a *authority) issue(dnsNames []string, ips []net.IP) (*tls.Certificate, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:   randomSerial(),
		Subject:        pkix.Name{CommonName: "keyrite-emulator"},
		NotBefore:      now.Add(-time.Hour),
		NotAfter:       now.Add(7 * 24 * time.Hour),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:       dnsNames,
		IPAddresses:    ips,
		AuthorityKeyId: a.cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &a.leafKey.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("emulator: issuing server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: a.leafKey, Leaf: leaf}, nil
}

// getCertificate serves the default certificate (127.0.0.1, ::1, localhost)
// and, for any other SNI name, a certificate issued for that name on first
// use, so one emulator can stand in for "NAME.vault.azure.net" when a
// client resolves such names to it.
func (a *authority) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name == "" || name == "localhost" || !validHostName(name) {
		return a.def, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.issued[name]; ok {
		return c, nil
	}
	if len(a.issued) >= maxIssued {
		for k := range a.issued { // drop an arbitrary entry
			delete(a.issued, k)
			break
		}
	}
	c, err := a.issue([]string{name}, nil)
	if err != nil {
		return nil, err
	}
	a.issued[name] = c
	return c, nil
}

func (a *authority) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: a.getCertificate,
	}
}

// validHostName accepts LDH labels separated by dots, at most 253 bytes.
func validHostName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func randomSerial() *big.Int {
	b := make([]byte, 16)
	rand.Read(b) // never fails (Go 1.24+)
	b[0] &= 0x7f
	return new(big.Int).SetBytes(b)
}

func skid(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(der)
	return sum[:20]
}

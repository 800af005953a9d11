// Package softhsmtest makes real SoftHSM2 tokens for tests, each in its own
// temporary directory, and loads known keys onto them with OpenSC's
// pkcs11-tool so that a test can compare what it gets back with what it put in.
//
// The configuration is per test: New writes a softhsm2.conf whose tokendir is
// a fresh temp dir and sets SOFTHSM2_CONF for the rest of the test (so tests
// using it must not call t.Parallel). SoftHSM reads SOFTHSM2_CONF in
// C_Initialize, so code under test must initialise the module after New.
//
// When SoftHSM2 or OpenSC is missing the test is skipped, except under CI
// (CI=true), where it fails: CI installs both (scripts/deps.sh).
package softhsmtest

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Fixed test credentials. Tests pass the PIN through --pin-env / --pin-file
// or the hsm API, never on argv of keyrite itself.
const (
	PIN   = "1234"
	SOPIN = "123456"
)

// Token is an initialised SoftHSM2 token.
type Token struct {
	Module string // path of libsofthsm2.so
	Conf   string // path of the softhsm2.conf in use
	Dir    string // token directory
	Label  string
	PIN    string
	SOPIN  string
}

var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// Module returns the SoftHSM2 module path, skipping (or failing under CI)
// when SoftHSM2 is not installed.
func Module(t testing.TB) string {
	t.Helper()
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	missing(t, "libsofthsm2.so")
	return ""
}

func missing(t testing.TB, what string) {
	t.Helper()
	msg := fmt.Sprintf("%s not installed (run scripts/deps.sh: apt-get install softhsm2 opensc)", what)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Env sets up a fresh SoftHSM2 configuration (empty token directory) for t and
// returns the conf path. New calls it; call it directly to add several tokens
// to one configuration with AddToken.
//
// The token directory is on /dev/shm when that is a writable tmpfs: SoftHSM's
// file backend syncs every object it writes, which costs ~100 ms per object
// on these machines' disks and ~2 ms in memory. Otherwise it is t.TempDir().
func Env(t testing.TB) (conf, tokenDir string) {
	t.Helper()
	dir := memDir(t)
	tokenDir = filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokenDir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf = filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokenDir)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	return conf, tokenDir
}

// memDir is a fresh directory on /dev/shm, removed when t ends, or
// t.TempDir() when /dev/shm is not usable.
func memDir(t testing.TB) string {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "softhsmtest-*"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// New makes a fresh configuration with one initialised token labelled label.
func New(t testing.TB, label string) *Token {
	t.Helper()
	conf, dir := Env(t)
	return AddToken(t, conf, dir, label)
}

// AddToken initialises one more token in the configuration made by Env.
func AddToken(t testing.TB, conf, tokenDir, label string) *Token {
	t.Helper()
	mod := Module(t)
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		missing(t, "softhsm2-util")
	}
	tok := &Token{Module: mod, Conf: conf, Dir: tokenDir, Label: label, PIN: PIN, SOPIN: SOPIN}
	tok.run(t, "softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SOPIN, "--pin", PIN)
	return tok
}

func (tok *Token) run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+tok.Conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Tool runs pkcs11-tool against this token, logged in, and returns its output.
func (tok *Token) Tool(t testing.TB, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("pkcs11-tool"); err != nil {
		missing(t, "pkcs11-tool (OpenSC)")
	}
	base := []string{"--module", tok.Module, "--token-label", tok.Label, "--login", "--pin", tok.PIN}
	return tok.run(t, "pkcs11-tool", append(base, args...)...)
}

// Options for objects loaded with Write*.
type Options struct {
	Label       string
	ID          string // hex CKA_ID, e.g. "01"
	Extractable bool   // CKA_EXTRACTABLE
	Sensitive   bool   // CKA_SENSITIVE
}

func (o Options) args() []string {
	a := []string{"--label", o.Label}
	if o.ID != "" {
		a = append(a, "--id", o.ID)
	}
	if o.Extractable {
		a = append(a, "--extractable")
	}
	if o.Sensitive {
		a = append(a, "--sensitive")
	}
	return a
}

func (tok *Token) writeFile(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "obj.der")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// WritePrivateKey loads a private key (any type x509.MarshalPKCS8PrivateKey
// takes) onto the token.
func (tok *Token) WritePrivateKey(t testing.TB, key any, o Options) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := tok.writeFile(t, der)
	tok.Tool(t, append([]string{"--write-object", p, "--type", "privkey"}, o.args()...)...)
}

// WritePublicKey loads a public key onto the token.
func (tok *Token) WritePublicKey(t testing.TB, pub any, o Options) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := tok.writeFile(t, der)
	tok.Tool(t, append([]string{"--write-object", p, "--type", "pubkey"}, o.args()...)...)
}

// WriteSecretKey loads a raw AES key onto the token.
func (tok *Token) WriteSecretKey(t testing.TB, key []byte, o Options) {
	t.Helper()
	p := tok.writeFile(t, key)
	tok.Tool(t, append([]string{"--write-object", p, "--type", "secrkey", "--key-type", fmt.Sprintf("AES:%d", len(key))}, o.args()...)...)
}

// WriteCertificate loads a DER certificate onto the token.
func (tok *Token) WriteCertificate(t testing.TB, der []byte, o Options) {
	t.Helper()
	p := tok.writeFile(t, der)
	tok.Tool(t, append([]string{"--write-object", p, "--type", "cert"}, o.args()...)...)
}

// URI is the RFC 7512 URI naming object label on this token, with module-path.
func (tok *Token) URI(object string) string {
	return fmt.Sprintf("pkcs11:token=%s;object=%s?module-path=%s", tok.Label, object, tok.Module)
}

// PEM is a small helper for tests writing PEM files.
func PEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

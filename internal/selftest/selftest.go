// Package selftest runs known-answer tests of the primitives a ceremony
// relies on before the ceremony acts, as the standard library's FIPS module
// runs its CASTs: SHA-256, the BYOK wrap (RSA-OAEP-SHA-1 and RFC 5649 key wrap
// with padding, both directions), the security domain's GF(257) Shamir
// combine, SP 800-108 KDF and A256CBC-HS512 decryption, Ed25519, ECDSA P-256
// and the PGP word list people compare aloud. A failure stops the command
// before it touches an HSM or writes anything.
//
// The known answers are copies of the project's test vectors (data/SOURCE.md),
// checked independently by the packages' own tests. Set KEYRITE_SELFTEST_BREAK
// to a test's name to make it fail, to see that a failure stops a ceremony.
package selftest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
)

//go:embed data
var data embed.FS

// ErrFailed is returned (wrapped) when a known-answer test fails.
var ErrFailed = errors.New("selftest: known-answer test failed")

// Report is what ran.
type Report struct {
	Passed []string
	Took   time.Duration
}

// Summary is one line for records: "passed 8 known-answer tests (sha256, ...)".
func (r *Report) Summary() string {
	return fmt.Sprintf("passed %d known-answer tests (%s)", len(r.Passed), strings.Join(r.Passed, ", "))
}

type kat struct {
	name string
	run  func() error
}

var tests = []kat{
	{"sha256", testSHA256},
	{"byok-unwrap", testBYOKUnwrap},
	{"byok-wrap", testBYOKWrap},
	{"sd-shamir257", testShamir},
	{"sd-kdf", testKDF},
	{"sd-a256cbc-hs512", testSDData},
	{"ed25519", testEd25519},
	{"ecdsa-p256", testECDSA},
	{"pgp-words", testWords},
}

var (
	once   sync.Once
	report *Report
	err    error
)

// Run runs every known-answer test once per process and returns the same
// result to every caller.
func Run() (*Report, error) {
	once.Do(func() { report, err = run(os.Getenv("KEYRITE_SELFTEST_BREAK")) })
	return report, err
}

func run(breakName string) (*Report, error) {
	start := time.Now()
	r := &Report{}
	for _, t := range tests {
		e := t.run()
		if e == nil && t.name == breakName {
			e = errors.New("forced failure (KEYRITE_SELFTEST_BREAK)")
		}
		if e != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFailed, t.name, e)
		}
		r.Passed = append(r.Passed, t.name)
	}
	r.Took = time.Since(start)
	return r, nil
}

func file(name string) []byte {
	b, e := data.ReadFile("data/" + name)
	if e != nil {
		panic("selftest: embedded file missing: " + name) // a build defect, not input
	}
	return b
}

func unhex(s string) []byte {
	b, e := hex.DecodeString(s)
	if e != nil {
		panic("selftest: bad embedded hex") // a build defect, not input
	}
	return b
}

func want(what string, got, exp []byte) error {
	if !bytes.Equal(got, exp) {
		return fmt.Errorf("%s: got %x, want %x", what, got, exp)
	}
	return nil
}

func testSHA256() error {
	got := sha256.Sum256([]byte("abc"))
	return want("SHA-256(abc)", got[:], unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
}

// kekKey parses the embedded KEK private key once (both BYOK tests use it).
var kekKey = sync.OnceValues(parseKEKKey)

func parseKEKKey() (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode(file("kek-rsa2048.key.pem"))
	if blk == nil {
		return nil, errors.New("embedded KEK key is not PEM")
	}
	k, e := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if e != nil {
		if k1, e1 := x509.ParsePKCS1PrivateKey(blk.Bytes); e1 == nil {
			return k1, nil
		}
		return nil, e
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("embedded KEK key is not RSA")
	}
	return rk, nil
}

// testBYOKUnwrap opens a fixed .byok blob: RSA-OAEP-SHA-1 decryption of the
// ephemeral key, then RFC 5649 unwrap, against the known target key.
func testBYOKUnwrap() error {
	priv, e := kekKey()
	if e != nil {
		return e
	}
	b, e := byok.ParseBlob(file("aes256.kek-rsa2048.byok"))
	if e != nil {
		return e
	}
	pt, e := byok.Unwrap(priv, b.Ciphertext)
	if e != nil {
		return e
	}
	return want("unwrapped key", pt, file("target-aes256.bin"))
}

// testBYOKWrap wraps the known key afresh and opens it again (the wrap is
// randomised, so this is a pairwise consistency test).
func testBYOKWrap() error {
	priv, e := kekKey()
	if e != nil {
		return e
	}
	spki, e := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if e != nil {
		return e
	}
	kek, e := byok.ParseKEK(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), "")
	if e != nil {
		return e
	}
	target := file("target-aes256.bin")
	ct, e := byok.Wrap(kek, target, rand.Reader)
	if e != nil {
		return e
	}
	pt, e := byok.Unwrap(priv, ct)
	if e != nil {
		return e
	}
	return want("wrap then unwrap", pt, target)
}

type sdKAT struct {
	ShareX1       string            `json:"share_x1_hex"`
	ShareX2       string            `json:"share_x2_hex"`
	Master        string            `json:"master_key_hex"`
	PayloadSHA256 map[string]string `json:"payload_sha256"`
	KDF           struct {
		Key     string `json:"key_hex"`
		Label   string `json:"label"`
		Context string `json:"context"`
		Bits    int    `json:"bits"`
		Out     string `json:"out_hex"`
	} `json:"kdf"`
}

func sdKnown() (*sdKAT, error) {
	var k sdKAT
	if e := json.Unmarshal(file("sd-kat.json"), &k); e != nil {
		return nil, e
	}
	return &k, nil
}

func testShamir() error {
	k, e := sdKnown()
	if e != nil {
		return e
	}
	got, e := securitydomain.Combine([][]byte{unhex(k.ShareX2), unhex(k.ShareX1)})
	if e != nil {
		return e
	}
	return want("GF(257) combine", got, unhex(k.Master))
}

func testKDF() error {
	k, e := sdKnown()
	if e != nil {
		return e
	}
	got, e := securitydomain.KDF(unhex(k.KDF.Key), k.KDF.Label, k.KDF.Context, k.KDF.Bits)
	if e != nil {
		return e
	}
	return want("SP 800-108 KDF", got, unhex(k.KDF.Out))
}

// testSDData authenticates and decrypts every entry of a known security
// domain with its known master key (KDF per tag, A256CBC-HS512).
func testSDData() error {
	k, e := sdKnown()
	if e != nil {
		return e
	}
	sd, e := securitydomain.ParseSD(file("sd-n3_q2_rsa2048.json"))
	if e != nil {
		return e
	}
	ps, e := sd.DecryptData(unhex(k.Master))
	if e != nil {
		return e
	}
	if len(ps) != len(k.PayloadSHA256) {
		return fmt.Errorf("%d entries, want %d", len(ps), len(k.PayloadSHA256))
	}
	for _, p := range ps {
		sum := sha256.Sum256(p.Data)
		clear(p.Data)
		if e := want("entry "+p.Tag, sum[:], unhex(k.PayloadSHA256[p.Tag])); e != nil {
			return e
		}
	}
	return nil
}

// testEd25519 is RFC 8032 §7.1, TEST 1.
func testEd25519() error {
	priv := ed25519.NewKeyFromSeed(unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
	if e := want("public key", priv.Public().(ed25519.PublicKey), unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")); e != nil {
		return e
	}
	sig := ed25519.Sign(priv, nil)
	if e := want("signature", sig, unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")); e != nil {
		return e
	}
	if !ed25519.Verify(priv.Public().(ed25519.PublicKey), nil, sig) {
		return errors.New("verify failed")
	}
	return nil
}

// testECDSA signs with a fixed key and verifies (pairwise consistency; the
// signature is randomised), then checks a tampered digest is refused.
func testECDSA() error {
	d := new(big.Int).SetBytes(unhex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"))
	priv, e := ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(make([]byte, 32)))
	if e != nil {
		return e
	}
	digest := sha256.Sum256([]byte("sample"))
	sig, e := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if e != nil {
		return e
	}
	if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig) {
		return errors.New("verify failed")
	}
	digest[0] ^= 1
	if ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig) {
		return errors.New("a wrong digest verified")
	}
	return nil
}

func testWords() error {
	if got := words.Of(unhex("e58294f2")); got != "topmost istanbul pluto vagabond" {
		return fmt.Errorf("PGP words of e58294f2: %q", got)
	}
	return nil
}

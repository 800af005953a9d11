package signop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/transcripts"
)

// fixture is a ceremony, signing keys in files and trust files.
type fixture struct {
	dir, ceremony             string
	op, witness, rsaKey, p384 string // key files
	trust                     string // op as "alice" (operator), witness as "bob" (witness); policy operator:1
	badTrust                  string
}

func writeKey(t *testing.T, path string, key any) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, ceremony: filepath.Join(dir, "c")}
	if err := transcripts.RecordStep(f.ceremony, transcripts.Event{Step: "selftest", Action: "ran the self-tests"}); err != nil {
		t.Fatal(err)
	}
	_, opKey, _ := ed25519.GenerateKey(rand.Reader)
	wKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	pKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	f.op, f.witness, f.rsaKey, f.p384 = filepath.Join(dir, "op.pem"), filepath.Join(dir, "witness.pem"), filepath.Join(dir, "rsa.pem"), filepath.Join(dir, "p384.pem")
	writeKey(t, f.op, opKey)
	writeKey(t, f.witness, wKey)
	writeKey(t, f.rsaKey, rKey)
	writeKey(t, f.p384, pKey)
	alice, _ := transcripts.NewSigner("alice", opKey)
	bob, _ := transcripts.NewSigner("bob", wKey)
	trust := map[string]any{
		"keys":   []transcripts.TrustedKey{{Name: "alice", Role: "operator", Key: alice.VerifierKey()}, {Name: "bob", Role: "witness", Key: bob.VerifierKey()}},
		"policy": map[string]int{"operator": 1},
	}
	b, _ := json.Marshal(trust)
	f.trust = filepath.Join(dir, "trust.json")
	f.badTrust = filepath.Join(dir, "bad-trust.json")
	os.WriteFile(f.trust, b, 0o644)
	os.WriteFile(f.badTrust, []byte(`{"keys":[],"policy":{"witness":1}}`), 0o644)
	return f
}

// TestValidate: one row per refusal, each matched with errors.Is/As; nothing
// is written to the ceremony by a refused request.
func TestValidate(t *testing.T) {
	f := newFixture(t)
	notDir := filepath.Join(f.dir, "not-a-ceremony")
	os.Mkdir(notDir, 0o755)
	var (
		keyErr   *KeyError
		trustErr *TrustError
	)
	for _, tc := range []struct {
		name  string
		req   Request
		is    []error
		as    any
		field string // TrustError.Field
	}{
		{name: "ok", req: Request{Dir: f.ceremony, Key: f.op}},
		{name: "ok print-key", req: Request{Key: f.op}},
		{name: "ok trust", req: Request{Dir: f.ceremony, Key: f.op, TrustFile: f.trust}},
		{name: "ok trust same name and role", req: Request{Dir: f.ceremony, Key: f.op, TrustFile: f.trust, Name: "alice", Role: "operator"}},
		{name: "no key", req: Request{Dir: f.ceremony}, is: []error{ErrRequest}},
		{name: "dir missing", req: Request{Dir: filepath.Join(f.dir, "nowhere"), Key: f.op}, is: []error{ErrNotCeremony, transcripts.ErrNotCeremony}},
		{name: "dir not a ceremony", req: Request{Dir: notDir, Key: f.op}, is: []error{ErrNotCeremony}},
		{name: "trust file missing", req: Request{Dir: f.ceremony, Key: f.op, TrustFile: filepath.Join(f.dir, "none.json")}, is: []error{transcripts.ErrTrust}},
		{name: "trust file invalid", req: Request{Dir: f.ceremony, Key: f.op, TrustFile: f.badTrust}, is: []error{transcripts.ErrTrust}},
		{name: "key file missing", req: Request{Dir: f.ceremony, Key: filepath.Join(f.dir, "none.pem")}, as: &keyErr},
		{name: "key file a directory", req: Request{Dir: f.ceremony, Key: f.dir}, as: &keyErr},
		{name: "RSA key", req: Request{Dir: f.ceremony, Key: f.rsaKey}, is: []error{transcripts.ErrKey}, as: &keyErr},
		{name: "P-384 key", req: Request{Dir: f.ceremony, Key: f.p384}, is: []error{transcripts.ErrKey}, as: &keyErr},
		{name: "bad name", req: Request{Dir: f.ceremony, Key: f.op, Name: "has space"}, is: []error{transcripts.ErrKey}},
		{name: "key not trusted", req: Request{Dir: f.ceremony, Key: f.p384, TrustFile: f.trust}, is: []error{transcripts.ErrKey}},
		{name: "key not in trust", req: Request{Dir: f.ceremony, Key: writeNew(t, f.dir), TrustFile: f.trust}, is: []error{ErrNotTrusted}, as: &trustErr, field: "key"},
		{name: "name disagrees", req: Request{Dir: f.ceremony, Key: f.op, TrustFile: f.trust, Name: "mallory"}, is: []error{ErrNotTrusted}, as: &trustErr, field: "name"},
		{name: "role disagrees", req: Request{Dir: f.ceremony, Key: f.op, TrustFile: f.trust, Role: "witness"}, is: []error{ErrNotTrusted}, as: &trustErr, field: "role"},
		{name: "URI malformed", req: Request{Dir: f.ceremony, Key: "pkcs11:token=a;;bad%zz"}, is: []error{hsm.ErrURI}},
		{name: "URI without module-path", req: Request{Dir: f.ceremony, Key: "pkcs11:token=card;object=k"}, is: []error{hsm.ErrURI}},
		{name: "module missing", req: Request{Dir: f.ceremony, Key: "pkcs11:token=card;object=k?module-path=" + filepath.Join(f.dir, "none.so")}, is: []error{hsm.ErrModuleLoad}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := tc.req.Validate()
			if op != nil {
				defer op.Close()
			}
			if tc.is == nil && tc.as == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.is {
				if !errors.Is(err, want) {
					t.Errorf("%v: does not match %v", err, want)
				}
			}
			if tc.as != nil && !errors.As(err, tc.as) {
				t.Errorf("%v: not a %T", err, tc.as)
			}
			if tc.field != "" && trustErr.Field != tc.field {
				t.Errorf("TrustError.Field %q, want %q", trustErr.Field, tc.field)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(f.ceremony, transcripts.SignaturesDir)); err == nil {
		t.Error("a refused or validated request wrote signatures")
	}
}

// writeNew writes a new Ed25519 key no trust file lists.
func writeNew(t *testing.T, dir string) string {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	p := filepath.Join(dir, "new.pem")
	writeKey(t, p, k)
	return p
}

// TestRun: signing names the signer by the one rule, and reports whether
// the trust policy is met now; the verifier-key form cannot Run.
func TestRun(t *testing.T) {
	f := newFixture(t)
	op, err := Request{Key: f.op, TrustFile: f.trust}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	id, err := op.Identity()
	if err != nil || id.Name != "alice" || id.Role != "operator" || id.NameFrom != NameFromTrust || !id.Trusted {
		t.Fatalf("identity %+v, %v", id, err)
	}
	if _, err := op.Run(); !errors.Is(err, ErrRequest) {
		t.Errorf("Run without Dir: %v", err)
	}
	op.Close()
	if _, err := op.Identity(); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Identity after Close: %v", err)
	}

	// The witness signs first: the policy (operator:1) is not met.
	op, err = Request{Dir: f.ceremony, Key: f.witness, TrustFile: f.trust}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	res, err := op.Run()
	op.Close()
	if err != nil || res.PolicyMet || res.Policy == nil || res.Signer != "bob" || res.Role != "witness" {
		t.Fatalf("witness: %+v, %v", res, err)
	}
	// The operator: met.
	op, err = Request{Dir: f.ceremony, Key: f.op, TrustFile: f.trust}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	res, err = op.Run()
	op.Close()
	if err != nil || !res.PolicyMet || res.Signer != "alice" {
		t.Fatalf("operator: %+v, %v", res, err)
	}
	// Without a trust file: the file's base name and the default role, no
	// policy; a second signature of the same state is refused.
	op, err = Request{Dir: f.ceremony, Key: f.op}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if id, _ := op.Identity(); id.Name != "op" || id.Role != DefaultRole || id.NameFrom != NameFromFile {
		t.Errorf("identity %+v", id)
	}
	res, err = op.Run()
	if err != nil || res.Policy != nil || res.PolicyMet {
		t.Fatalf("no trust: %+v, %v", res, err)
	}
	if _, err := op.Run(); !errors.Is(err, transcripts.ErrAlreadySigned) {
		t.Errorf("second Run: %v", err)
	}
}

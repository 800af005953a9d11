package sdop_test

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/securitydomain/sdop"
	"github.com/keyrite/keyrite/transcripts"
)

const (
	vectors  = "../../testvectors/sd"
	set      = vectors + "/n3_q2_rsa2048"
	negative = vectors + "/negative"
)

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixture is a work directory with the n3_q2 set (sd.json,
// exchange_cert.pem, wrap_N.pem with wrap_N.cer), an encrypted copy of
// wrap_1 (enc.pem, password "pw"), the negative set's foreign key and its
// SD with fewer shares than its quorum, and the 2025-form SD.
func fixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cp := func(from, to string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, to), mustRead(t, from), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"sd.json", "exchange_cert.pem", "exchange_key.pem", "expected_plaintexts.json",
		"wrap_0.pem", "wrap_0.cer", "wrap_1.pem", "wrap_1.cer", "wrap_2.pem", "wrap_2.cer"} {
		cp(filepath.Join(set, f), f)
	}
	cp(filepath.Join(negative, "foreign.pem"), "foreign.pem")
	cp(filepath.Join(negative, "foreign.cer"), "foreign.cer")
	cp(filepath.Join(negative, "fewer_shares_than_quorum.json"), "fewer_shares.json")
	cp(filepath.Join(vectors, "kid2025", "sd.json"), "sd2025.json")
	key, err := securitydomain.ParsePrivateKeyPEM(mustRead(t, filepath.Join(set, "wrap_1.pem")), nil)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 the legacy format is one the loader reads.
	block, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), []byte("pw"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "enc.pem"), pem.EncodeToMemory(block), 0o600)
	cp(filepath.Join(set, "wrap_1.cer"), "enc.cer")
	os.WriteFile(filepath.Join(dir, "taken.json"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "big.json"), nil, 0o644)
	os.Truncate(filepath.Join(dir, "big.json"), sdop.MaxSDFile+1)
	os.WriteFile(filepath.Join(dir, "notsd.json"), []byte(`{"value": "x"}`), 0o644)
	os.Mkdir(filepath.Join(dir, "notes"), 0o755)
	os.WriteFile(filepath.Join(dir, "notes", "todo.txt"), []byte("not a ceremony"), 0o644)
	return dir
}

// asked counts the passwords and PINs a Loader asks for.
type asked struct{ n int }

func (a *asked) loader() *custodian.Loader {
	ask := func(string) ([]byte, error) { a.n++; return []byte("pw"), nil }
	return custodian.NewLoader(custodian.Options{Password: ask, PIN: ask})
}

// TestRestoreValidate: every refusal of Validate, with its sentinel, before
// anything is done: no output, no ceremony created, no password asked.
func TestRestoreValidate(t *testing.T) {
	dir := fixture(t)
	p := func(n string) string { return filepath.Join(dir, n) }
	// A ceremony that recorded a restore, and one that recorded a drill of
	// another security domain.
	var a asked
	run(t, sdop.RestoreRequest{SD: p("sd.json"), ExchangeKey: p("exchange_cert.pem"), Out: p("first.json"),
		Keys: []string{p("wrap_0.pem"), p("wrap_1.pem")}, Loader: a.loader(), CeremonyDir: p("restored")})
	drill(t, sdop.DrillRequest{SD: p("sd2025.json"), CeremonyDir: p("other-sd")})

	base := func() sdop.RestoreRequest {
		return sdop.RestoreRequest{SD: p("sd.json"), ExchangeKey: p("exchange_cert.pem"), Out: p("out.json"),
			Keys: []string{p("enc.pem"), p("wrap_2.pem")}, CeremonyDir: p("cer")}
	}
	for _, tc := range []struct {
		name    string
		mod     func(*sdop.RestoreRequest)
		text    string
		targets []error
	}{
		{"no security domain", func(r *sdop.RestoreRequest) { r.SD = "" }, "incomplete request", []error{sdop.ErrRequest}},
		{"no output", func(r *sdop.RestoreRequest) { r.Out = "" }, "incomplete request", []error{sdop.ErrRequest}},
		{"keys without a loader", func(r *sdop.RestoreRequest) { r.Loader = nil }, "without a Loader", []error{sdop.ErrRequest}},
		{"output exists", func(r *sdop.RestoreRequest) { r.Out = p("taken.json") }, "output " + p("taken.json") + " already exists",
			[]error{sdop.ErrOutputExists, fs.ErrExist}},
		{"output directory missing", func(r *sdop.RestoreRequest) { r.Out = p("nodir/out.json") }, "the directory " + p("nodir") + " does not exist",
			[]error{sdop.ErrOutputDir}},
		{"no security domain file", func(r *sdop.RestoreRequest) { r.SD = p("nope.json") }, "security domain " + p("nope.json") + ": no such file",
			[]error{sdop.ErrSDFile}},
		{"security domain is a directory", func(r *sdop.RestoreRequest) { r.SD = dir }, "is a directory", []error{sdop.ErrSDFile}},
		{"security domain too large", func(r *sdop.RestoreRequest) { r.SD = p("big.json") }, "larger than 16384 KiB",
			[]error{sdop.ErrSDFile, fsx.ErrTooLarge}},
		{"not a security domain", func(r *sdop.RestoreRequest) { r.SD = p("notsd.json") }, "security domain " + p("notsd.json") + ": securitydomain: invalid security domain file",
			[]error{securitydomain.ErrInvalidSD}},
		{"no exchange key file", func(r *sdop.RestoreRequest) { r.ExchangeKey = p("nope.pem") }, "exchange key " + p("nope.pem") + ": no such file",
			[]error{sdop.ErrExchangeKeyFile}},
		{"exchange key is a private key", func(r *sdop.RestoreRequest) { r.ExchangeKey = p("wrap_0.pem") }, `PEM block is "PRIVATE KEY", want CERTIFICATE`,
			[]error{securitydomain.ErrInvalidExchangeKey}},
		{"fewer keys than the quorum", func(r *sdop.RestoreRequest) { r.Keys = r.Keys[:1] }, "the security domain needs 2 wrapping keys (its quorum), 1 given",
			[]error{securitydomain.ErrTooFewKeys}},
		{"fewer shares than the quorum", func(r *sdop.RestoreRequest) { r.SD = p("fewer_shares.json") }, "holds 1 share, fewer than the 2 required",
			[]error{securitydomain.ErrInsufficientShares}},
		{"no key file", func(r *sdop.RestoreRequest) { r.Keys[1] = p("nope.pem") }, "wrapping key " + p("nope.pem") + ": no such file",
			[]error{custodian.ErrKeyFile, fs.ErrNotExist}},
		{"no certificate beside the key", func(r *sdop.RestoreRequest) { r.Keys[1] = p("exchange_key.pem") }, "certificate " + p("exchange_key.cer") + ": no such file",
			[]error{custodian.ErrCertificate}},
		{"key and certificate differ", func(r *sdop.RestoreRequest) { r.Keys[1] = p("wrap_2.pem") + ":" + p("wrap_0.cer") }, "does not match its certificate",
			[]error{custodian.ErrMismatch}},
		{"malformed URI", func(r *sdop.RestoreRequest) { r.Keys[1] = "pkcs11:token=x;pin-value=1234" }, "invalid PKCS#11 URI",
			[]error{custodian.ErrSource}},
		{"the same key twice", func(r *sdop.RestoreRequest) { r.Keys = []string{p("wrap_2.pem"), p("wrap_2.pem")} }, "the same wrapping key was given twice",
			[]error{securitydomain.ErrDuplicateKey}},
		{"the same certificate twice", func(r *sdop.RestoreRequest) { r.Keys = []string{p("enc.pem"), p("wrap_1.pem")} }, "have the same certificate",
			[]error{securitydomain.ErrDuplicateKey}},
		{"not a ceremony directory", func(r *sdop.RestoreRequest) { r.CeremonyDir = p("notes") }, "not a ceremony directory",
			[]error{sdop.ErrCeremony}},
		{"a restore recorded already", func(r *sdop.RestoreRequest) { r.CeremonyDir = p("restored") },
			"ceremony " + p("restored") + " already records restore_blob.json (event 2, sd.restore): one restore per ceremony", []error{sdop.ErrCeremony}},
		{"another security domain recorded", func(r *sdop.RestoreRequest) { r.CeremonyDir = p("other-sd") },
			"ceremony " + p("other-sd") + " records a different security_domain.json (event 2, sd.verify)", []error{sdop.ErrCeremony}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a asked
			req := base()
			req.Loader = a.loader()
			defer req.Loader.Close()
			tc.mod(&req)
			op, err := req.Validate()
			if err == nil {
				op.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q, want %q", err, tc.text)
			}
			for _, target := range tc.targets {
				if !errors.Is(err, target) {
					t.Errorf("error %q does not match %v", err, target)
				}
			}
			if _, err := os.Stat(p("out.json")); err == nil {
				t.Error("output written")
			}
			if _, err := os.Stat(p("cer")); err == nil {
				t.Error("ceremony created")
			}
			if a.n != 0 {
				t.Errorf("%d secrets asked", a.n)
			}
		})
	}
	// The key source of a KeyError is the source given.
	req := base()
	req.Loader = custodian.NewLoader(custodian.Options{})
	req.Keys[1] = p("nope.pem")
	_, err := req.Validate()
	var ke *sdop.KeyError
	if !errors.As(err, &ke) || ke.Source != p("nope.pem") {
		t.Fatalf("KeyError: %v", err)
	}
}

// TestRestoreValidateAsksNothing: a valid request is validated without a
// password, which Run then asks once, for the key it uses.
func TestRestoreValidateAsksNothing(t *testing.T) {
	dir := fixture(t)
	p := func(n string) string { return filepath.Join(dir, n) }
	var a asked
	l := a.loader()
	defer l.Close()
	op, err := sdop.RestoreRequest{SD: p("sd.json"), ExchangeKey: p("exchange_cert.pem"), Out: p("out.json"),
		Keys: []string{p("enc.pem"), p("wrap_2.pem")}, Loader: l}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if a.n != 0 {
		t.Fatalf("%d secrets asked by Validate", a.n)
	}
	if _, err := op.Run(); err != nil || a.n != 1 {
		t.Fatalf("run: %v, %d secrets asked", err, a.n)
	}
}

// run validates and runs a restore, failing the test on an error.
func run(t *testing.T, req sdop.RestoreRequest) *sdop.RestoreResult {
	t.Helper()
	op, err := req.Validate()
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	res, err := op.Run()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// drill validates and runs a drill, failing the test on an error.
func drill(t *testing.T, req sdop.DrillRequest) *sdop.DrillResult {
	t.Helper()
	d, err := req.Validate()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res, err := d.Run()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// checkBlob opens the restore blob at path with the exchange private key
// (the service side's inverse, not the code that made it) and compares the
// entries with the vector's plaintexts.
func checkBlob(t *testing.T, dir, path string) {
	t.Helper()
	key, err := securitydomain.ParsePrivateKeyPEM(mustRead(t, filepath.Join(dir, "exchange_key.pem")), nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := securitydomain.ParseExchangeKey(mustRead(t, filepath.Join(dir, "exchange_cert.pem")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := securitydomain.OpenRestoreBlob(mustRead(t, path), key, cert)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	json.Unmarshal(mustRead(t, filepath.Join(dir, "expected_plaintexts.json")), &want)
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for _, p := range got {
		if hex.EncodeToString(p.Data) != want[p.Tag] {
			t.Errorf("entry %s differs", p.Tag)
		}
	}
}

// recorded returns the ceremony's events of step.
func recorded(t *testing.T, dir, step string) []transcripts.Entry {
	t.Helper()
	rep, err := transcripts.Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []transcripts.Entry
	for _, e := range rep.Events {
		if e.Step == step {
			out = append(out, e)
		}
	}
	return out
}

// TestRestoreRun: keys in order until the quorum (the third not touched),
// the blob written, recorded with the same bytes, and opening to the
// security domain's entries.
func TestRestoreRun(t *testing.T) {
	dir := fixture(t)
	p := func(n string) string { return filepath.Join(dir, n) }
	l := custodian.NewLoader(custodian.Options{})
	defer l.Close()
	res := run(t, sdop.RestoreRequest{SD: p("sd.json"), ExchangeKey: p("exchange_cert.pem"), Out: p("blob.json"),
		Keys: []string{p("foreign.pem"), p("wrap_2.pem"), p("wrap_0.pem"), p("wrap_1.pem")}, Loader: l,
		CeremonyDir: p("cer"), Actor: transcripts.Actor{Name: "alice", Role: "operator"}})
	if !res.Recorded || len(res.Shares) != 4 || res.Shares[0].Index != -1 || !res.Shares[1].Opened || !res.Shares[3].Skipped {
		t.Fatalf("result %+v", res)
	}
	if !bytes.Equal(res.Blob, mustRead(t, p("blob.json"))) {
		t.Fatal("result and file differ")
	}
	checkBlob(t, dir, p("blob.json"))
	evs := recorded(t, p("cer"), "sd.restore")
	if len(evs) != 1 || evs[0].Actor.Name != "alice" || strings.Contains(evs[0].Action, "guided") {
		t.Fatalf("events %+v", evs)
	}
	if !bytes.Equal(mustRead(t, p("cer/artifacts/restore_blob.json")), res.Blob) {
		t.Fatal("the recorded blob is not the one written")
	}
	var certs []string
	for _, a := range evs[0].Inputs {
		if a.Kind == transcripts.KindCertificate {
			certs = append(certs, a.Name)
		}
	}
	if strings.Join(certs, " ") != "wrap_2.cer wrap_0.cer" {
		t.Fatalf("certificates recorded: %v", certs)
	}
}

// TestRestoreGuided: custodians one at a time with Open, between Validate
// and Run; a duplicate and a wrong key are refused or recorded without
// stopping the restore.
func TestRestoreGuided(t *testing.T) {
	dir := fixture(t)
	p := func(n string) string { return filepath.Join(dir, n) }
	op, err := sdop.RestoreRequest{SD: p("sd.json"), ExchangeKey: p("exchange_cert.pem"), Out: p("blob.json"),
		CeremonyDir: p("cer"), Guided: true}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	l := custodian.NewLoader(custodian.Options{})
	defer l.Close()
	open := func(src string) (securitydomain.ShareStatus, error) {
		t.Helper()
		c, err := l.Load(p(src))
		if err != nil {
			t.Fatal(err)
		}
		return op.Open(c)
	}
	if _, err := open("foreign.pem"); !errors.Is(err, securitydomain.ErrNoShare) {
		t.Fatalf("foreign key: %v", err)
	}
	if st, err := open("wrap_1.pem"); err != nil || st.X != 2 {
		t.Fatalf("wrap_1: %+v %v", st, err)
	}
	if _, err := open("wrap_1.pem"); !errors.Is(err, securitydomain.ErrDuplicateKey) {
		t.Fatalf("wrap_1 again: %v", err)
	}
	if _, err := open("wrap_0.pem"); err != nil || op.Opened() != 2 {
		t.Fatalf("wrap_0: %v, %d opened", err, op.Opened())
	}
	res, err := op.Run()
	if err != nil {
		t.Fatal(err)
	}
	checkBlob(t, dir, p("blob.json"))
	if evs := recorded(t, p("cer"), "sd.restore"); len(evs) != 1 || !strings.HasSuffix(evs[0].Action, "(guided)") || len(res.Shares) != 3 {
		t.Fatalf("events %+v, shares %+v", evs, res.Shares)
	}
}

// TestRestoreBelowQuorum: Run with fewer shares open than the quorum
// writes and records nothing.
func TestRestoreBelowQuorum(t *testing.T) {
	dir := fixture(t)
	p := func(n string) string { return filepath.Join(dir, n) }
	op, err := sdop.RestoreRequest{SD: p("sd.json"), ExchangeKey: p("exchange_cert.pem"), Out: p("blob.json"),
		CeremonyDir: p("cer")}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	c, err := custodian.NewLoader(custodian.Options{}).Load(p("wrap_1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Open(c); err != nil {
		t.Fatal(err)
	}
	_, err = op.Run()
	if !errors.Is(err, securitydomain.ErrInsufficientShares) || !strings.Contains(err.Error(), "opened 1 of the 2 required") {
		t.Fatalf("run below the quorum: %v", err)
	}
	if _, err := os.Stat(p("blob.json")); err == nil {
		t.Fatal("blob written below the quorum")
	}
	if evs := recorded(t, p("cer"), "sd.restore"); len(evs) != 0 {
		t.Fatalf("recorded %+v", evs)
	}
}

// TestRestoreShareErrorStops: a key that matches a share and does not open
// it stops a restore from key sources, naming the key; nothing is written
// or recorded.
func TestRestoreShareErrorStops(t *testing.T) {
	dir := fixture(t)
	p := func(n string) string { return filepath.Join(dir, n) }
	l := custodian.NewLoader(custodian.Options{Password: func(string) ([]byte, error) { return []byte("wrong"), nil }})
	defer l.Close()
	op, err := sdop.RestoreRequest{SD: p("sd.json"), ExchangeKey: p("exchange_cert.pem"), Out: p("blob.json"),
		Keys: []string{p("enc.pem"), p("wrap_2.pem")}, Loader: l, CeremonyDir: p("cer")}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	_, err = op.Run()
	var se *securitydomain.ShareError
	if !errors.As(err, &se) || se.Custodian != p("enc.pem") || !errors.Is(err, securitydomain.ErrPassword) {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(p("blob.json")); err == nil {
		t.Fatal("blob written")
	}
	if evs := recorded(t, p("cer"), "sd.restore"); len(evs) != 0 {
		t.Fatalf("recorded %+v", evs)
	}
}

package sdop_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/securitydomain/sdop"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// TestKeygenValidate: one row per refusal, each matched with errors.Is or
// errors.As; a refused request makes no key and writes nothing.
func TestKeygenValidate(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "act")
	exists := filepath.Join(dir, "exists")
	os.Mkdir(exists, 0o755)
	notCeremony := filepath.Join(dir, "notes")
	os.Mkdir(notCeremony, 0o755)
	os.WriteFile(filepath.Join(notCeremony, "x.txt"), []byte("x"), 0o644)
	done := filepath.Join(dir, "done")
	if err := transcripts.RecordStep(done, transcripts.Event{Step: "sd.keygen", Action: "made keys",
		Outputs: []transcripts.Artifact{{Name: steps.DownloadRequestFile, Kind: transcripts.KindDownloadRequest, Data: []byte("{}")}}}); err != nil {
		t.Fatal(err)
	}
	ok := sdop.KeygenRequest{Custodians: 3, Quorum: 2, OutDir: out}
	with := func(f func(*sdop.KeygenRequest)) sdop.KeygenRequest { r := ok; f(&r); return r }
	const mod = "?module-path=/nonexistent/module.so"
	var (
		pe *sdop.KeygenParamError
		te *sdop.TokenSourceError
		ke *sdop.KeyError
	)
	for _, tc := range []struct {
		name  string
		req   sdop.KeygenRequest
		is    []error
		as    any
		param string
	}{
		{name: "ok", req: ok},
		{name: "ok ceremony", req: with(func(r *sdop.KeygenRequest) { r.CeremonyDir = filepath.Join(dir, "new") })},
		{name: "no output", req: with(func(r *sdop.KeygenRequest) { r.OutDir = "" }), is: []error{sdop.ErrRequest}},
		{name: "2 custodians", req: with(func(r *sdop.KeygenRequest) { r.Custodians = 2 }), is: []error{sdop.ErrKeygenParams}, as: &pe, param: "custodians"},
		{name: "11 custodians", req: with(func(r *sdop.KeygenRequest) { r.Custodians = 11 }), is: []error{sdop.ErrKeygenParams}, as: &pe, param: "custodians"},
		{name: "quorum 1", req: with(func(r *sdop.KeygenRequest) { r.Quorum = 1 }), as: &pe, param: "quorum"},
		{name: "quorum over N", req: with(func(r *sdop.KeygenRequest) { r.Quorum = 4 }), as: &pe, param: "quorum"},
		{name: "1024 bits", req: with(func(r *sdop.KeygenRequest) { r.Bits = 1024 }), as: &pe, param: "bits"},
		{name: "label with a slash", req: with(func(r *sdop.KeygenRequest) { r.Label = "a/b" }), as: &pe, param: "label"},
		{name: "N and tokens disagree", req: with(func(r *sdop.KeygenRequest) { r.Tokens = []string{"pkcs11:token=a" + mod} }), is: []error{sdop.ErrRequest}},
		{name: "output exists", req: with(func(r *sdop.KeygenRequest) { r.OutDir = exists }), is: []error{sdop.ErrOutputExists, fs.ErrExist}},
		{name: "output parent missing", req: with(func(r *sdop.KeygenRequest) { r.OutDir = filepath.Join(dir, "no", "act") }), is: []error{sdop.ErrOutputDir}},
		{name: "token URI malformed", req: tokens("pkcs11:token=a;;%zz", "pkcs11:token=b"+mod, "pkcs11:token=c"+mod), is: []error{hsm.ErrURI}, as: &te},
		{name: "token with id", req: tokens("pkcs11:token=a;id=%01"+mod, "pkcs11:token=b"+mod, "pkcs11:token=c"+mod), is: []error{sdop.ErrTokenSource}, as: &te},
		{name: "token with type", req: tokens("pkcs11:token=a;type=private"+mod, "pkcs11:token=b"+mod, "pkcs11:token=c"+mod), is: []error{sdop.ErrTokenSource}, as: &te},
		{name: "no token named", req: tokens("pkcs11:object=x"+mod, "pkcs11:token=b"+mod, "pkcs11:token=c"+mod), is: []error{sdop.ErrTokenSource}, as: &te},
		{name: "no module-path", req: tokens("pkcs11:token=a", "pkcs11:token=b"+mod, "pkcs11:token=c"+mod), is: []error{hsm.ErrURI}, as: &te},
		{name: "module missing", req: tokens("pkcs11:token=a"+mod, "pkcs11:token=b"+mod, "pkcs11:token=c"+mod), is: []error{custodian.ErrModule, hsm.ErrModuleLoad}, as: &ke},
		{name: "not a ceremony", req: with(func(r *sdop.KeygenRequest) { r.CeremonyDir = notCeremony }), is: []error{sdop.ErrCeremony, transcripts.ErrNotCeremony}},
		{name: "second keygen in a ceremony", req: with(func(r *sdop.KeygenRequest) { r.CeremonyDir = done }), is: []error{sdop.ErrCeremony, sdop.ErrRecordedAlready}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.OutDir == "" && tc.name != "no output" {
				tc.req.OutDir = out
			}
			k, err := tc.req.Validate()
			if k != nil {
				k.Close()
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
			if tc.param != "" && pe.Param != tc.param {
				t.Errorf("Param %q, want %q", pe.Param, tc.param)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the output directory was written")
	}
}

func tokens(uris ...string) sdop.KeygenRequest {
	return sdop.KeygenRequest{Quorum: 2, Tokens: uris}
}

// TestKeygenRun: a rehearsal keygen writes the certificates, keys and
// request, records the step, and its download request names the
// certificates; a second Run is refused as out of order.
func TestKeygenRun(t *testing.T) {
	dir := t.TempDir()
	out, cer := filepath.Join(dir, "act"), filepath.Join(dir, "c")
	k, err := sdop.KeygenRequest{Custodians: 3, Quorum: 2, OutDir: out, CeremonyDir: cer}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	res, err := k.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !res.Recorded || res.OnTokens || len(res.Custodians) != 3 || res.Bits != 2048 {
		t.Fatalf("result %+v", res)
	}
	for i, c := range res.Custodians {
		if c.Key != filepath.Join(out, sdop.KeyFileName(i)) || c.Cert != filepath.Join(out, steps.CertificateFileName(i)) {
			t.Errorf("custodian %d: %+v", i, c)
		}
		if _, err := os.Stat(c.Key); err != nil {
			t.Error(err)
		}
	}
	if _, err := k.Generate(); !errors.Is(err, sdop.ErrKeygenOrder) {
		t.Errorf("Generate after Run: %v", err)
	}
	rep, err := transcripts.Verify(cer, nil)
	if err != nil || len(rep.Events) != 2 || rep.Events[1].Step != steps.StepSDKeygen {
		t.Fatalf("transcript: %v, %+v", err, rep.Events)
	}
	if x, err := steps.Parse(&rep.Events[1]); err != nil || len(x.(*steps.SDKeygen).Custodians) != 3 {
		t.Fatalf("event: %v", err)
	}
}

// TestKeygenOneAtATime makes the keys on three SoftHSM tokens, one card at
// a time (each token found when its turn comes, its session closed after),
// and refuses the same card twice.
func TestKeygenOneAtATime(t *testing.T) {
	conf, tokDir := softhsmtest.Env(t)
	var uris []string
	var first *softhsmtest.Token
	for _, l := range []string{"alice", "bob", "carol"} {
		tok := softhsmtest.AddToken(t, conf, tokDir, l)
		if first == nil {
			first = tok
		}
		uris = append(uris, "pkcs11:token="+l+"?module-path="+tok.Module)
	}
	pin := func(string) ([]byte, error) { return []byte(softhsmtest.PIN), nil }
	dir := t.TempDir()
	req := sdop.KeygenRequest{Quorum: 2, Tokens: uris, OneAtATime: true, Secrets: custodian.Options{PIN: pin},
		OutDir: filepath.Join(dir, "act"), CeremonyDir: filepath.Join(dir, "c"), Guided: true}

	// The same card for custodians 0 and 1: refused at 1, after 0's key.
	same := req
	same.Tokens = []string{uris[0], uris[0], uris[2]}
	same.OutDir, same.CeremonyDir, same.Label = filepath.Join(dir, "act2"), "", "dup"
	k, err := same.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Generate(); err != nil {
		t.Fatal(err)
	}
	var made *sdop.MadeError
	if _, err := k.Generate(); !errors.Is(err, sdop.ErrSameToken) || !errors.As(err, &made) || len(made.Made) != 1 {
		t.Fatalf("same token: %v", err)
	}
	k.Close()

	k, err = req.Validate()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := k.Run(); !errors.Is(err, sdop.ErrKeygenOrder) {
		t.Fatalf("Run before every card: %v", err)
	}
	for i := range 3 {
		c, err := k.Generate()
		if err != nil {
			t.Fatalf("custodian %d: %v", i, err)
		}
		if !strings.Contains(c.Key, "token="+[]string{"alice", "bob", "carol"}[i]) || c.Token == "" {
			t.Errorf("custodian %d: %+v", i, c)
		}
	}
	res, err := k.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !res.OnTokens || !res.Recorded {
		t.Fatalf("result %+v", res)
	}
	rep, err := transcripts.Verify(req.CeremonyDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := steps.Parse(&rep.Events[1])
	if err != nil {
		t.Fatal(err)
	}
	if kg := x.(*steps.SDKeygen); len(kg.Tokens) != 3 || kg.HSM == nil || !strings.HasSuffix(rep.Events[1].Action, "(guided)") {
		t.Errorf("event: tokens %q, hsm %v, action %q", kg.Tokens, kg.HSM, rep.Events[1].Action)
	}
	// The keys are on the cards, decrypt-only, with their certificates.
	l := custodian.NewLoader(custodian.Options{PIN: pin})
	defer l.Close()
	c, err := l.Open(res.Custodians[1].Key)
	if err != nil {
		t.Fatal(err)
	}
	if securitydomain.X5T256(c.Cert) != res.Custodians[1].X5T256 {
		t.Error("the certificate on the card is not the one written")
	}
}

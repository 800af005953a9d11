package custody_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/keyrite/keyrite/internal/custody"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

type opFixture struct {
	dir, secret, notCeremony string
	rcpts, idFiles           []string
}

func newOpFixture(t *testing.T) *opFixture {
	t.Helper()
	dir := t.TempDir()
	f := &opFixture{dir: dir, secret: filepath.Join(dir, "pin.txt"), notCeremony: filepath.Join(dir, "notes")}
	os.WriteFile(f.secret, []byte("123456\n"), 0o600)
	os.Mkdir(f.notCeremony, 0o755)
	os.WriteFile(filepath.Join(f.notCeremony, "x.txt"), []byte("x"), 0o644)
	for i := range 3 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "id"+string(rune('0'+i))+".txt")
		os.WriteFile(p, []byte(id.String()+"\n"), 0o600)
		f.rcpts, f.idFiles = append(f.rcpts, id.Recipient().String()), append(f.idFiles, p)
	}
	return f
}

func check(t *testing.T, err error, is []error, as any) {
	t.Helper()
	if is == nil && as == nil {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range is {
		if !errors.Is(err, want) {
			t.Errorf("%v: does not match %v", err, want)
		}
	}
	if as != nil && !errors.As(err, as) {
		t.Errorf("%v: not a %T", err, as)
	}
}

// TestSplitValidate: one row per refusal; nothing is written by a refused
// request.
func TestSplitValidate(t *testing.T) {
	f := newOpFixture(t)
	empty, big := filepath.Join(f.dir, "empty.txt"), filepath.Join(f.dir, "big.txt")
	os.WriteFile(empty, nil, 0o600)
	os.WriteFile(big, bytes.Repeat([]byte("x"), custody.MaxSecretSize+1), 0o600)
	out := filepath.Join(f.dir, "shares")
	ok := custody.SplitRequest{In: f.secret, Threshold: 2, Recipients: f.rcpts, Out: out}
	with := func(m func(*custody.SplitRequest)) custody.SplitRequest { r := ok; m(&r); return r }
	var (
		pe *custody.SplitParamError
		re *custody.RecipientError
	)
	for _, tc := range []struct {
		name string
		req  custody.SplitRequest
		is   []error
		as   any
	}{
		{"ok", ok, nil, nil},
		{"ok ceremony", with(func(r *custody.SplitRequest) { r.CeremonyDir = filepath.Join(f.dir, "new") }), nil, nil},
		{"threshold 1", with(func(r *custody.SplitRequest) { r.Threshold = 1 }), []error{custody.ErrInvalidSplit}, &pe},
		{"threshold over N", with(func(r *custody.SplitRequest) { r.Threshold = 4 }), []error{custody.ErrInvalidSplit}, &pe},
		{"one recipient", with(func(r *custody.SplitRequest) { r.Recipients = r.Recipients[:1] }), []error{custody.ErrInvalidSplit}, &pe},
		{"output exists", with(func(r *custody.SplitRequest) { r.Out = f.dir }), []error{custody.ErrOutputExists, fs.ErrExist}, nil},
		{"bad recipient", with(func(r *custody.SplitRequest) { r.Recipients = []string{f.rcpts[0], "age1nonsense"} }), nil, &re},
		{"identity as recipient", with(func(r *custody.SplitRequest) { r.Recipients = []string{f.rcpts[0], f.idFiles[1]} }), nil, &re},
		{"secret missing", with(func(r *custody.SplitRequest) { r.In = filepath.Join(f.dir, "none") }), []error{custody.ErrSecretFile, fs.ErrNotExist}, nil},
		{"secret a directory", with(func(r *custody.SplitRequest) { r.In = f.dir }), []error{custody.ErrSecretFile}, nil},
		{"secret empty", with(func(r *custody.SplitRequest) { r.In = empty }), []error{custody.ErrSecretFile}, nil},
		{"secret too large", with(func(r *custody.SplitRequest) { r.In = big }), []error{custody.ErrSecretFile}, nil},
		{"not a ceremony", with(func(r *custody.SplitRequest) { r.CeremonyDir = f.notCeremony }), []error{custody.ErrCeremony, transcripts.ErrNotCeremony}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := tc.req.Validate()
			if op != nil {
				op.Close()
			}
			check(t, err, tc.is, tc.as)
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("shares written")
	}
}

// TestCombineValidate: one row per refusal.
func TestCombineValidate(t *testing.T) {
	f := newOpFixture(t)
	shares := filepath.Join(f.dir, "shares")
	op, err := custody.SplitRequest{In: f.secret, Threshold: 2, Recipients: f.rcpts, Out: shares}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Run(); err != nil {
		t.Fatal(err)
	}
	op.Close()
	out := filepath.Join(f.dir, "pin.out")
	ok := custody.CombineRequest{Shares: shares, Identities: f.idFiles[:2], Out: out}
	with := func(m func(*custody.CombineRequest)) custody.CombineRequest { r := ok; m(&r); return r }
	for _, tc := range []struct {
		name string
		req  custody.CombineRequest
		is   []error
	}{
		{"ok", ok, nil},
		{"no identity", with(func(r *custody.CombineRequest) { r.Identities = nil }), []error{}},
		{"output exists", with(func(r *custody.CombineRequest) { r.Out = f.secret }), []error{custody.ErrOutputExists, fs.ErrExist}},
		{"no manifest", with(func(r *custody.CombineRequest) { r.Shares = f.dir }), []error{fs.ErrNotExist}},
		{"identity missing", with(func(r *custody.CombineRequest) { r.Identities = []string{filepath.Join(f.dir, "none")} }), []error{fs.ErrNotExist}},
		{"recipient as identity", with(func(r *custody.CombineRequest) { r.Identities = []string{filepath.Join(shares, custody.ManifestFile)} }), []error{}},
		{"not a ceremony", with(func(r *custody.CombineRequest) { r.CeremonyDir = f.notCeremony }), []error{custody.ErrCeremony, transcripts.ErrNotCeremony}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := tc.req.Validate()
			if op != nil {
				op.Close()
			}
			if tc.is == nil {
				check(t, err, nil, nil)
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			check(t, err, tc.is, nil)
		})
	}
}

// TestSplitCombineRecorded: both steps recorded through transcripts/steps,
// the combined secret written 0600.
func TestSplitCombineRecorded(t *testing.T) {
	f := newOpFixture(t)
	cer, shares, out := filepath.Join(f.dir, "c"), filepath.Join(f.dir, "shares"), filepath.Join(f.dir, "pin.out")
	sop, err := custody.SplitRequest{In: f.secret, Threshold: 2, Recipients: f.rcpts, Out: shares, CeremonyDir: cer}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	sres, err := sop.Run()
	sop.Close()
	if err != nil || !sres.Recorded {
		t.Fatalf("split: %+v, %v", sres, err)
	}
	cop, err := custody.CombineRequest{Shares: shares, Identities: f.idFiles[1:], Out: out, CeremonyDir: cer}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	cres, err := cop.Run()
	cop.Close()
	if err != nil || !cres.Recorded || len(cres.Used) != 2 {
		t.Fatalf("combine: %+v, %v", cres, err)
	}
	if b, _ := os.ReadFile(out); string(b) != "123456\n" {
		t.Errorf("secret %q", b)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	rep, err := transcripts.Verify(cer, nil)
	if err != nil || len(rep.Events) != 3 {
		t.Fatalf("verify: %v (%d events)", err, len(rep.Events))
	}
	split, err := steps.Parse(&rep.Events[1])
	if err != nil || split.(*steps.CustodySplit).SplitID != sres.Manifest.SplitID {
		t.Fatalf("split event: %v", err)
	}
	comb, err := steps.Parse(&rep.Events[2])
	if err != nil || !strings.Contains(rep.Events[2].Action, "from shares 2, 3") {
		t.Fatalf("combine event %+v: %v", comb, err)
	}
}

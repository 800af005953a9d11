package sdop_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/internal/base/fsx/fsxfault"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/securitydomain/sdop"
	"github.com/keyrite/keyrite/transcripts"
)

// validated is a restore of the fixture with wrap_0 and wrap_1 into
// blob.json, validated, with a ceremony in cer unless noCeremony.
func validated(t *testing.T, dir string, noCeremony bool) *sdop.Restore {
	t.Helper()
	p := func(n string) string { return filepath.Join(dir, n) }
	l := custodian.NewLoader(custodian.Options{})
	t.Cleanup(func() { l.Close() })
	req := sdop.RestoreRequest{SD: p("sd.json"), ExchangeKey: p("exchange_cert.pem"), Out: p("blob.json"),
		Keys: []string{p("wrap_0.pem"), p("wrap_1.pem")}, Loader: l, CeremonyDir: p("cer")}
	if noCeremony {
		req.CeremonyDir = ""
	}
	op, err := req.Validate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(op.Close)
	return op
}

// TestRestoreRecordFails: the blob is recorded before it is written; when
// the recording fails, nothing is written.
func TestRestoreRecordFails(t *testing.T) {
	dir := fixture(t)
	op := validated(t, dir, false)
	restore := fsxfault.Set(fsxfault.Fault{Op: fsxfault.Link, Path: filepath.Join(dir, "cer", "artifacts", "restore_blob.json")})
	_, err := op.Run()
	restore()
	if !errors.Is(err, sdop.ErrRecord) || !strings.Contains(err.Error(), "nothing was written to "+filepath.Join(dir, "blob.json")) {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blob.json")); err == nil {
		t.Fatal("an unrecorded blob was written")
	}
	// The failed recording left artifacts no event binds: the next Open
	// closes them in an aborted record. No sd.restore.
	op.Close()
	c, err := transcripts.Open(filepath.Join(dir, "cer"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if evs := c.Recorded("sd.restore"); len(evs) != 0 || c.Recovered() == nil {
		t.Fatalf("recorded %+v, recovery %v", evs, c.Recovered())
	}
}

// TestRestoreWriteFailsAfterRecord: the blob is recorded, then cannot be
// written: nothing at the output, and the error says where the ceremony
// keeps the blob.
func TestRestoreWriteFailsAfterRecord(t *testing.T) {
	dir := fixture(t)
	op := validated(t, dir, false)
	out := filepath.Join(dir, "blob.json")
	restore := fsxfault.Set(fsxfault.Fault{Op: fsxfault.Link, Path: out})
	_, err := op.Run()
	restore()
	kept := filepath.Join(dir, "cer", "artifacts", "restore_blob.json")
	if !errors.Is(err, sdop.ErrNotWritten) || !strings.Contains(err.Error(), "the recorded blob is "+kept) {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("blob written")
	}
	if evs := recorded(t, filepath.Join(dir, "cer"), "sd.restore"); len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	checkBlob(t, dir, kept)
}

// TestRestoreOutputTaken: an output made by someone else between Validate
// and Run is never overwritten; with a ceremony the blob is recorded and
// kept there.
func TestRestoreOutputTaken(t *testing.T) {
	for _, withCeremony := range []bool{false, true} {
		dir := fixture(t)
		op := validated(t, dir, !withCeremony)
		out := filepath.Join(dir, "blob.json")
		os.WriteFile(out, []byte("someone else's"), 0o644)
		_, err := op.Run()
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("ceremony %v: got %v", withCeremony, err)
		}
		if errors.Is(err, sdop.ErrNotWritten) != withCeremony {
			t.Errorf("ceremony %v: %v", withCeremony, err)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, []byte("someone else's")) {
			t.Fatal("output overwritten")
		}
	}
}

// TestDrillValidate: the drill's refusals, before anything is done.
func TestDrillValidate(t *testing.T) {
	dir := fixture(t)
	p := func(n string) string { return filepath.Join(dir, n) }
	for _, tc := range []struct {
		name    string
		req     sdop.DrillRequest
		targets []error
	}{
		{"no security domain", sdop.DrillRequest{}, []error{sdop.ErrRequest}},
		{"keys without a loader", sdop.DrillRequest{SD: p("sd.json"), Keys: []string{p("wrap_0.pem")}}, []error{sdop.ErrRequest}},
		{"no security domain file", sdop.DrillRequest{SD: p("nope.json")}, []error{sdop.ErrSDFile}},
		{"not a security domain", sdop.DrillRequest{SD: p("notsd.json")}, []error{securitydomain.ErrInvalidSD}},
		{"no key file", sdop.DrillRequest{SD: p("sd.json"), Keys: []string{p("nope.pem")}}, []error{custodian.ErrKeyFile}},
		{"the same key twice", sdop.DrillRequest{SD: p("sd.json"), Keys: []string{p("wrap_0.pem"), p("wrap_0.pem")}}, []error{securitydomain.ErrDuplicateKey}},
		{"not a ceremony directory", sdop.DrillRequest{SD: p("sd.json"), CeremonyDir: p("notes")}, []error{sdop.ErrCeremony}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a asked
			if tc.req.Keys != nil && tc.name != "keys without a loader" {
				tc.req.Loader = a.loader()
				defer tc.req.Loader.Close()
			}
			if tc.req.CeremonyDir == "" && tc.req.SD != "" {
				tc.req.CeremonyDir = p("cer")
			}
			d, err := tc.req.Validate()
			if err == nil {
				d.Close()
				t.Fatal("accepted")
			}
			for _, target := range tc.targets {
				if !errors.Is(err, target) {
					t.Errorf("error %q does not match %v", err, target)
				}
			}
			if _, err := os.Stat(p("cer")); err == nil {
				t.Error("ceremony created")
			}
			if a.n != 0 {
				t.Errorf("%d secrets asked", a.n)
			}
		})
	}
}

// TestDrillRecords: a drill with a ceremony records the security domain and
// its report, whether it passes or not; a failed drill is a result, not an
// error. A restore of the same security domain then records it once.
func TestDrillRecords(t *testing.T) {
	dir := fixture(t)
	p := func(n string) string { return filepath.Join(dir, n) }
	l := custodian.NewLoader(custodian.Options{})
	defer l.Close()
	res := drill(t, sdop.DrillRequest{SD: p("sd.json"), Keys: []string{p("foreign.pem"), p("wrap_1.pem")}, Loader: l, CeremonyDir: p("cer")})
	if res.Report.OK || res.Report.Opened != 1 || !res.Recorded {
		t.Fatalf("result %+v", res)
	}
	res = drill(t, sdop.DrillRequest{SD: p("sd.json"), Keys: []string{p("wrap_0.pem"), p("wrap_1.pem"), p("wrap_2.pem")}, Loader: l,
		CeremonyDir: p("cer"), Guided: true})
	if !res.Report.OK || res.Report.Subsets != 3 {
		t.Fatalf("result %+v", res.Report)
	}
	evs := recorded(t, p("cer"), sdop.StepDrill)
	if len(evs) != 2 || !strings.HasPrefix(evs[0].Result, "failed: ") || evs[1].Result != "ok" ||
		!strings.HasSuffix(evs[1].Action, "(guided)") || evs[1].Mechanism != securitydomain.MechSoftware {
		t.Fatalf("events %+v", evs)
	}
	if evs[1].Inputs[0].Name != "security_domain.json" || evs[1].Outputs[0].Name != res.Name || !strings.HasPrefix(res.Name, "drill_report_") {
		t.Fatalf("artifacts %+v %+v", evs[1].Inputs, evs[1].Outputs)
	}
	run(t, sdop.RestoreRequest{SD: p("sd.json"), ExchangeKey: p("exchange_cert.pem"), Out: p("blob.json"),
		Keys: []string{p("wrap_0.pem"), p("wrap_1.pem")}, Loader: l, CeremonyDir: p("cer")})
}

package replay

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/transcripts"
)

var update = flag.Bool("update", false, "rewrite testdata/show.golden")

// TestShowGolden renders the golden ceremony of the transcripts package and
// compares it with testdata/show.golden.
func TestShowGolden(t *testing.T) {
	rep, err := transcripts.Verify("../testdata/golden/ceremony", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := Replay(rep)
	if !s.OK {
		t.Fatalf("re-checks failed: %v", s.Failed())
	}
	var buf bytes.Buffer
	s.Render(&buf)
	if *update {
		os.WriteFile("testdata/show.golden", buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile("testdata/show.golden")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("render differs from testdata/show.golden (go test -run ShowGolden -update):\n%s", buf.Bytes())
	}
}

func vec(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testvectors", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func record(t *testing.T, dir string, evs ...transcripts.Event) *Script {
	t.Helper()
	for _, ev := range evs {
		if err := transcripts.RecordStep(dir, ev); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := transcripts.Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Replay(rep)
}

func find(s *Script, what string) []Check {
	var out []Check
	for _, st := range s.Steps {
		for _, c := range st.Checks {
			if c.What == what {
				out = append(out, c)
			}
		}
	}
	return out
}

// TestSecurityDomainChecks replays a restore recorded from the
// security-domain vectors: quorum, share certificates and the restore
// blob's exchange key all check out; then the same blob recorded against
// another exchange certificate fails.
func TestSecurityDomainChecks(t *testing.T) {
	const set = "sd/n3_q2_rsa2048/"
	var certs []transcripts.Artifact
	for _, n := range []string{"wrap_0.cer", "wrap_1.cer", "wrap_2.cer"} {
		certs = append(certs, transcripts.NewArtifact(n, transcripts.KindCertificate, vec(t, set+n)))
	}
	restore := transcripts.Event{
		Step: "sd.restore", Action: "built the restore blob",
		Inputs: []transcripts.Artifact{
			transcripts.NewArtifact("sd.json", transcripts.KindSecurityDomain, vec(t, set+"sd.json")),
			transcripts.NewArtifact("exchange.pem", transcripts.KindExchangeKey, vec(t, set+"exchange_cert.pem")),
		},
		Outputs: []transcripts.Artifact{transcripts.NewArtifact("restore_blob.json", transcripts.KindRestoreBlob, vec(t, set+"restore_blob.json"))},
		Params:  []transcripts.Param{{Name: "quorum", Value: "2 of 3"}},
	}
	dir := filepath.Join(t.TempDir(), "c")
	s := record(t, dir, transcripts.Event{Step: "sd.keygen", Action: "custodian certificates", Outputs: certs}, restore)
	if !s.OK {
		t.Fatalf("failed: %v", s.Failed())
	}
	sd := find(s, "security domain")
	if len(sd) != 1 || !strings.Contains(sd[0].Detail, "quorum 2 of 3; shares for recorded certificates: wrap_0.cer, wrap_1.cer, wrap_2.cer;") {
		t.Fatalf("security domain check: %+v", sd)
	}
	if c := find(s, "restore blob exchange key"); len(c) != 1 || !c[0].OK {
		t.Fatalf("restore blob check: %+v", c)
	}

	// The blob recorded against another certificate as exchange key, and a
	// wrong recorded quorum.
	restore.Inputs[1] = transcripts.NewArtifact("other-exchange.pem", transcripts.KindExchangeKey, vec(t, set+"wrap_0.cer"))
	restore.Params = []transcripts.Param{{Name: "quorum", Value: "3 of 3"}}
	s = record(t, filepath.Join(t.TempDir(), "c"), restore)
	failed := map[string]bool{}
	for _, c := range s.Failed() {
		failed[c.What] = true
	}
	if !failed["restore blob exchange key"] || !failed["quorum"] || s.OK {
		t.Fatalf("want the exchange key and quorum checks to fail: %v", s.Failed())
	}
}

// TestBYOKAgainstWrongKEK: a .byok recorded as wrapped under a KEK of
// another size fails the length check.
func TestBYOKAgainstWrongKEK(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	s := record(t, dir, transcripts.Event{
		Step: "byok.export", Action: "exported",
		Inputs:  []transcripts.Artifact{transcripts.NewArtifact("kek.pem", transcripts.KindKEK, vec(t, "byok/kek-rsa3072.pem"))},
		Outputs: []transcripts.Artifact{transcripts.NewArtifact("k.byok", transcripts.KindBYOK, vec(t, "byok/aes256.kek-rsa2048.byok"))},
		Params:  []transcripts.Param{{Name: "target", Value: "AES-256"}},
	})
	if s.OK {
		t.Fatal("a .byok under the wrong KEK passed the re-checks")
	}
	if c := find(s, ".byok vs KEK"); len(c) != 1 || c[0].OK {
		t.Fatalf("%+v", c)
	}
}

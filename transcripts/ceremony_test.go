package transcripts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/keyrite/keyrite/internal/base/fsx/fsxtest"
)

func TestRecordStepBasic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	kek := []byte("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----\n")
	ev := Event{
		Step: "kek.inspect", Action: "inspected the KEK",
		Inputs: []Artifact{NewArtifact("kek.pem", KindKEK, kek)},
		Params: []Param{{"kid", "https://v.vault.azure.net/keys/k/1"}},
	}
	if err := RecordStep(dir, ev); err != nil {
		t.Fatal(err)
	}
	if err := RecordStep(dir, ev); err != nil {
		t.Fatal(err)
	}
	ev.Inputs[0].Data = []byte("other")
	if err := RecordStep(dir, ev); !errors.Is(err, ErrArtifactConflict) {
		t.Fatalf("conflict: got %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, TranscriptFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 3 {
		t.Fatalf("want 3 lines, got %d:\n%s", n, data)
	}
	ch, err := parseChain(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.entries) != 3 || ch.entries[2].Seq != 3 {
		t.Fatalf("entries: %+v", ch.entries)
	}
	t.Logf("%s", data)
}

func TestRecordRefusesSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	cases := []Event{
		{Step: "x.y", Action: "a", Params: []Param{{"pin", "1234"}}},
		{Step: "x.y", Action: "a", Params: []Param{{"userPin", "1234"}}},
		{Step: "x.y", Action: "a", Params: []Param{{"so_pin", "1234"}}},
		{Step: "x.y", Action: "a", Params: []Param{{"key", "pkcs11:token=a?pin-value=1234"}}},
		{Step: "x.y", Action: "a", Outputs: []Artifact{NewArtifact("k.pem", KindPublicKey, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))}},
		{Step: "x.y", Action: "a", Outputs: []Artifact{NewArtifact("k.bin", KindPublicKey, make([]byte, 32))}},
	}
	for i, ev := range cases {
		if err := RecordStep(dir, ev); !errors.Is(err, ErrSecret) {
			t.Errorf("case %d: got %v, want ErrSecret", i, err)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("refused events created the directory")
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenRefusesNonCeremonyDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	if _, err := Open(dir); !errors.Is(err, ErrNotCeremony) {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, TranscriptFile)); err == nil {
		t.Fatal("transcript created in a non-empty directory")
	}
	// An existing empty directory is fine.
	empty := t.TempDir()
	c, err := Open(empty)
	if err != nil {
		t.Fatal(err)
	}
	// A second process is refused while the first holds it.
	if _, err := Open(empty); !errors.Is(err, ErrBusy) {
		t.Fatalf("second open: %v", err)
	}
	c.Close()
}

// TestRecordManyReadsOnce records a 300-event batch through one Open: the
// transcript is read once, by Open, never again per event (it used to be
// re-read and re-parsed by every RecordStep, quadratic in the batch).
func TestRecordManyReadsOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	before := transcriptReads.Load()
	c, err := OpenWith(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kek := NewArtifact("kek.pem", KindKEK, readTestdata(t, "kek.pem"))
	for i := range 300 {
		ev := Event{Step: "byok.export", Action: fmt.Sprintf("exported key %d", i), Inputs: []Artifact{kek},
			Outputs: []Artifact{NewArtifact(fmt.Sprintf("k%d.byok", i), KindBYOK, []byte(fmt.Sprintf(`{"key":%d}`, i)))}}
		if err := c.Record(ev); err != nil {
			t.Fatal(err)
		}
	}
	if n := transcriptReads.Load() - before; n != 1 {
		t.Fatalf("the transcript was read %d times for 300 events, want once", n)
	}
	if got := len(c.Recorded("byok.export")); got != 300 {
		t.Fatalf("Recorded: %d events", got)
	}
	e, ok := c.BoundBy("kek.pem")
	if !ok || e.Seq != 2 || e.Line != 2 {
		t.Fatalf("BoundBy(kek.pem) = %+v, %v; want the first event recording it (seq 2)", e, ok)
	}
	if e, ok := c.BoundBy("k299.byok"); !ok || e.Seq != 301 {
		t.Fatalf("BoundBy(k299.byok) = seq %d, %v", e.Seq, ok)
	}
	if data, err := c.ReadArtifact("k7.byok"); err != nil || string(data) != `{"key":7}` {
		t.Fatalf("ReadArtifact: %q, %v", data, err)
	}
	if err := os.Chmod(filepath.Join(dir, ArtifactsDir, "k7.byok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ArtifactsDir, "k7.byok"), []byte(`{"key":8}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadArtifact("k7.byok"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadArtifact of a changed artifact: %v, want ErrCorrupt", err)
	}
	if _, err := c.ReadArtifact("k300.byok"); err == nil {
		t.Fatal("ReadArtifact of an unrecorded name succeeded")
	}
}

// TestOpenAfterCrashKnowsRecorded reopens a ceremony: what it recorded is
// known from the one read of the transcript.
func TestOpenAfterCrashKnowsRecorded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	buildCeremony(t, dir, testOptions())
	c, err := OpenWith(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ex := c.Recorded("byok.export")
	if len(ex) != 1 || ex[0].Outputs[0].Name != "app-key.byok" || ex[0].Line != int64(ex[0].Seq) {
		t.Fatalf("Recorded(byok.export) = %+v", ex)
	}
	if _, ok := c.BoundBy("app-key.byok"); !ok {
		t.Fatal("BoundBy(app-key.byok): not found")
	}
}

func TestCheckArtifactName(t *testing.T) {
	for _, n := range []string{"app.byok", "a_b-c.1.public.pem", strings.Repeat("a", 128)} {
		if err := CheckArtifactName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"my key.byok", "clé.byok", ".app.byok", "a/b.byok", "", strings.Repeat("a", 129)} {
		if err := CheckArtifactName(n); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
	ev := Event{Step: "byok.export", Action: "exported", Outputs: []Artifact{NewArtifact("my key.byok", KindBYOK, []byte("{}"))}}
	if err := CheckEvent(ev); err == nil {
		t.Error("CheckEvent accepted an artifact named with a space")
	}
	ev.Outputs[0].Name = "app.byok"
	if err := CheckEvent(ev); err != nil {
		t.Errorf("CheckEvent: %v", err)
	}
}

// TestOpenRefusesUnwritable: a ceremony that cannot be written is refused
// when it is opened, before the step it is to record does anything.
func TestOpenRefusesUnwritable(t *testing.T) {
	dir := readOnlyDir(t, func(dir string) {
		buildCeremony(t, filepath.Join(dir, "c"), testOptions())
	})
	_, err := Open(filepath.Join(dir, "c"))
	if err == nil || !strings.Contains(err.Error(), "cannot be written") && !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Open of a read-only ceremony: %v", err)
	}
	t.Log(err)
	if _, err := Open(filepath.Join(dir, "new")); err == nil {
		t.Fatal("Open created a ceremony on a read-only file system")
	}
}

// readOnlyDir returns a directory, filled by fill, that cannot be written:
// a tmpfs remounted read-only (root), or a directory without write
// permission (others). The test is skipped when neither can be had.
func readOnlyDir(t *testing.T, fill func(dir string)) string {
	t.Helper()
	if os.Geteuid() != 0 {
		dir := t.TempDir()
		fill(dir)
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o555)
			}
			return nil
		})
		t.Cleanup(func() {
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					os.Chmod(p, 0o755)
				}
				return nil
			})
		})
		return dir
	}
	dir := fsxtest.TinyFS(t, 1<<20, 0)
	fill(dir)
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount a tmpfs read-only: %v", err)
	}
	return dir
}

package transcripts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

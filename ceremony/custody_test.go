package ceremony_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/keyrite/keyrite/ceremony/ceremonytest"
	"github.com/keyrite/keyrite/transcripts"
)

// TestCustodySplitAndCombine: a secret is split 2-of-3 to three age
// recipients in the guided flow (a wrong recipient refused as typed), and
// recombined from two custodians' identity files; both steps are
// recorded, and the secret comes back byte for byte.
func TestCustodySplitAndCombine(t *testing.T) {
	dir := t.TempDir()
	cer := filepath.Join(dir, "ceremony")
	secretFile := filepath.Join(dir, "secret.bin")
	want := bytes.Repeat([]byte{0xc3, 0x01}, 40)
	os.WriteFile(secretFile, want, 0o600)
	var recips, idFiles []string
	for i := range 3 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		recips = append(recips, id.Recipient().String())
		f := filepath.Join(dir, "id"+string(rune('0'+i))+".txt")
		os.WriteFile(f, []byte(id.String()+"\n"), 0o600)
		idFiles = append(idFiles, f)
	}
	shares := filepath.Join(dir, "shares")
	ui := ceremonytest.New(t, secretFile, "age1nonsense "+strings.Join(recips[1:], " "), strings.Join(recips, " "), "2", shares, "1")
	e := engine(ui)
	e.CeremonyDir = cer
	if err := e.CustodySplit(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains("recipient 1:", "ok: Secret split", "threshold: 2 of 3", "recorded in the ceremony")

	out := filepath.Join(dir, "back.bin")
	ui = ceremonytest.New(t, shares, idFiles[0]+" "+idFiles[2], out)
	e = engine(ui)
	e.CeremonyDir = cer
	if err := e.CustodyCombine(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("recombined %x, %v", got, err)
	}
	ui.Contains("ok: Secret recombined", "shares used:")
	rep, err := transcripts.Verify(cer, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range rep.Events {
		kinds = append(kinds, ev.Step)
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "custody.split") || !strings.Contains(got, "custody.combine") {
		t.Fatalf("recorded: %s", got)
	}
	if strings.Contains(ui.Log(), "AGE-SECRET-KEY") {
		t.Fatal("an identity is in the log")
	}
}

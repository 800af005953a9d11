package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/transcripts"
)

// auditCeremony records a small unsigned ceremony.
func auditCeremony(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "c")
	for _, ev := range []transcripts.Event{
		{Step: "kek.inspect", Action: "inspected the KEK", Params: []transcripts.Param{{Name: "kid", Value: "https://v.vault.azure.net/keys/kek/1"}}},
		{Step: "witness.confirm", Action: "bob compared the words aloud", Actor: transcripts.Actor{Name: "bob", Role: "witness"}},
	} {
		if err := transcripts.RecordStep(dir, ev); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTranscriptShowTUIWithoutTerminal: --tui is refused without a
// terminal, with the text form as the hint; --tui --json is a usage error.
func TestTranscriptShowTUIWithoutTerminal(t *testing.T) {
	dir := auditCeremony(t)
	code, out, errs := runKeyrite(t, "transcript", "show", dir, "--tui")
	if code != 2 || out != "" || !strings.Contains(errs, "must be a terminal") || !strings.Contains(errs, "keyrite transcript show "+dir) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = runKeyrite(t, "transcript", "show", dir, "--tui", "--json")
	if code != 2 || !strings.Contains(errs, "--tui and --json") {
		t.Fatalf("--tui --json: exit %d, stderr %q", code, errs)
	}
}

// TestGuidedOnCeremonyDir: `keyrite DIR` (and `keyrite tui DIR`) without a
// terminal prints the text form of the ceremony; a directory that holds no transcript is still
// refused.
func TestGuidedOnCeremonyDir(t *testing.T) {
	dir := auditCeremony(t)
	code, out, errs := runKeyrite(t, "tui", dir)
	if code != 0 || !strings.Contains(out, "kek.inspect") || !strings.Contains(out, "bob compared the words aloud") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out2, errs := runKeyrite(t, dir)
	if code != 0 || out2 != out {
		t.Fatalf("keyrite DIR: exit %d, stderr %q, stdout differs from keyrite tui DIR:\n%s", code, errs, out2)
	}
	code, _, errs = runKeyrite(t, "tui", t.TempDir())
	if code != 2 || !strings.Contains(errs, "unexpected argument") {
		t.Fatalf("an empty directory: exit %d, stderr %q", code, errs)
	}
}

// TestAuditViewInTmux runs the real binary's auditor's view in an 80x24
// tmux pane with NO_COLOR: the events, a search, the signatures view, and
// q; the ceremony directory is unchanged. Skipped without tmux, except in
// CI.
func TestAuditViewInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	work := t.TempDir()
	bin := filepath.Join(work, "keyrite")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := auditCeremony(t)
	before := treeOf(t, dir)

	p := newPane(t, work, 80, 24, []string{"NO_COLOR=1"}, bin+" transcript show "+dir+` --tui; echo "exit status $?"; sleep 60`)
	p.Escapes = true
	waitFor, keys := p.waitFor, p.keys
	waitFor("keyrite auditor's view")
	for _, want := range []string{"3 events", "signers NOT CHECKED", "transcript.open", "kek.inspect", "witness.confirm", "Event 1 · transcript.open"} {
		if !strings.Contains(p.screen, want) {
			t.Errorf("first p.screen lacks %q:\n%s", want, p.screen)
		}
	}
	if strings.Contains(p.screen, "\x1b[3") || strings.Contains(p.screen, "\x1b[9") {
		t.Errorf("colours under NO_COLOR:\n%q", p.screen)
	}
	keys("/")
	keys("-l", "kid=https")
	waitFor("1 of 3")
	keys("Enter")
	waitFor("Event 2 · kek.inspect")
	keys("s")
	waitFor("No checkpoint is signed.")
	keys("q")
	waitFor("exit status 0")
	if !strings.Contains(p.screen, "3 events verified; signers not checked") {
		t.Errorf("no summary after the p.screen closed:\n%s", p.screen)
	}
	if after := treeOf(t, dir); after != before {
		t.Fatalf("the ceremony directory changed:\n%s\n%s", before, after)
	}
}

func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " " + info.Mode().String() + " " + info.ModTime().String() + "\n")
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			b.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

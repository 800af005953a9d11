package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyrite/keyrite/ceremony/audit"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/replay"
)

// The auditor's view (ceremony/audit): `keyrite transcript show DIR --tui`
// and `keyrite DIR` browse a ceremony full-screen, read-only.

// runTranscriptShowTUI is `keyrite transcript show DIR --tui [--trust FILE]`.
// It needs a terminal: without one it is refused, pointing to the text form.
func runTranscriptShowTUI(e *env, dir, trustFile string, asJSON bool) error {
	if asJSON {
		return cli.WithHint(cli.Usagef("transcript show: --tui and --json do not go together"), "usage: keyrite transcript show DIR [--trust FILE] [--json | --tui]")
	}
	if !guidedIsTerminal(e) {
		return cli.WithHint(cli.Usagef("transcript show --tui: stdin and stdout must be a terminal"),
			fmt.Sprintf("use the text form: `keyrite transcript show %s` (with --trust FILE to check the signers, --json for programs)", dir))
	}
	return runAuditView(e, dir, trustFile)
}

// runGuidedAudit is `keyrite DIR` on a ceremony directory: the auditor's
// view on a terminal, else (or with --plain) the text form of
// `keyrite transcript show DIR`.
func runGuidedAudit(e *env, dir string, plain bool) error {
	if plain || !guidedIsTerminal(e) {
		return runTranscriptShow(e, []string{dir})
	}
	return runAuditView(e, dir, "")
}

// isCeremonyDir reports whether path is a directory holding a transcript.
func isCeremonyDir(path string) bool {
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return false
	}
	st, err := os.Lstat(filepath.Join(path, transcripts.TranscriptFile))
	return err == nil && st.Mode().IsRegular()
}

// runAuditView verifies dir (reading only), shows it until the user quits,
// and then fails as `transcript show` does if it did not verify or a
// re-check failed, so that the exit status says the same as the screen.
func runAuditView(e *env, dir, trustFile string) error {
	trust, err := loadTrust(trustFile)
	if err != nil {
		return err
	}
	rep, verr := transcripts.Verify(dir, trust)
	if rep.Origin == "" && len(rep.Events) == 0 {
		return verifyFailed(dir, trustFile, rep)
	}
	if err := audit.Run(e.stdin, e.stdout, rep); err != nil {
		return err
	}
	if verr != nil {
		return verifyFailed(dir, trustFile, rep)
	}
	if f := replay.Replay(rep).Failed(); len(f) > 0 {
		return cli.WithHint(fmt.Errorf("%s: %d re-check(s) failed; first: %s", dir, len(f), f[0]), "the recorded artifacts do not say what the transcript says; do not act on this ceremony")
	}
	checked := ""
	if trust == nil {
		checked = "; signers not checked (no --trust file)"
	}
	fmt.Fprintf(e.stdout, "%s: %d events verified%s; nothing was written\n", dir, len(rep.Events), checked)
	return nil
}

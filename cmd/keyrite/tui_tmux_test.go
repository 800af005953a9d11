package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/byok"
)

// TestTUIInTmux runs the real binary's full-screen ceremony in a tmux pane
// (100x30) through the KEK-intake screen with the test KEK: the screen must
// show the kid, size, SHA-256 and words, and accept a typed y. It is skipped
// when tmux is missing, except in CI.
func TestTUIInTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is needed in CI for the TUI test")
		}
		t.Skip("tmux not installed")
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "keyrite")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kekData, err := os.ReadFile("../../testvectors/byok/kek-rsa2048.pem")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kek.pem"), kekData, 0o644); err != nil {
		t.Fatal(err)
	}
	const kid = "https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"
	kek, err := byok.ParseKEK(kekData, kid)
	if err != nil {
		t.Fatal(err)
	}
	fp := kek.Fingerprint()

	// A private server socket: never the user's tmux.
	sock := filepath.Join(dir, "tmux.sock")
	tm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tmux, append([]string{"-S", sock}, args...)...)
		cmd.Env = append(os.Environ(), "TERM=xterm-256color")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	script := bin + `; echo "exit status $?"; sleep 60`
	tm("new-session", "-d", "-s", "kr", "-x", "100", "-y", "30", "-c", dir, "sh", "-c", script)
	t.Cleanup(func() { exec.Command(tmux, "-S", sock, "kill-server").Run() })

	screen := ""
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			screen = tm("capture-pane", "-p", "-t", "kr")
			if strings.Contains(screen, what) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("waited for %q; the screen shows:\n%s", what, screen)
	}
	keys := func(k ...string) { tm(append([]string{"send-keys", "-t", "kr"}, k...)...) }
	typeText := func(s string) { keys("-l", s); keys("Enter") }

	waitFor("? Ceremony directory")
	keys("Enter")
	waitFor("? What do you want to do?")
	if !strings.Contains(screen, "> 1) BYOK: export") {
		t.Errorf("the first choice is not selected:\n%s", screen)
	}
	keys("Enter")
	waitFor("KEK file")
	if !strings.Contains(screen, "▸ KEK") {
		t.Errorf("the step list does not show the KEK step as current:\n%s", screen)
	}
	keys("-l", "kek.pem")
	waitFor("✓ RSA 2048 bits; the file carries no kid")
	keys("Enter")
	waitFor("┃ KEK key identifier") // the focus moved
	typeText(kid)
	waitFor("Type the first 4 or more words")
	first4 := strings.Join(strings.Fields(fp.Words())[:4], " ")
	for _, want := range []string{"RSA 2048 bits", fp.Hex(), strings.Join(strings.Fields(fp.Words())[:4], " "), strings.Join(strings.Fields(fp.Words())[4:8], " ")} {
		if !strings.Contains(screen, want) {
			t.Errorf("the KEK screen does not show %q:\n%s", want, screen)
		}
	}
	for _, l := range strings.Split(screen, "\n") {
		if len([]rune(l)) > 100 {
			t.Errorf("line wider than the pane: %q", l)
		}
	}
	typeText("aardvark aardvark aardvark aardvark")
	waitFor(`word 1 is "` + strings.ToLower(strings.Fields(fp.Words())[0]) + `" here`)
	keys("C-u")
	typeText(first4)
	waitFor("Where are the keys to export?")
	if !strings.Contains(screen, "KEK confirmed") || !strings.Contains(screen, "✓ KEK") {
		t.Errorf("no confirmation shown:\n%s", screen)
	}
	// Esc goes back to the KEK form, its answers kept, and from there
	// to the menu.
	keys("Escape")
	waitFor("┃ > kek.pem")
	keys("Escape")
	waitFor("? What do you want to do?")
	keys("Enter")
	waitFor("┃ KEK file")
	keys("C-c")
	waitFor("Enter or q to exit")
	if !strings.Contains(screen, "stopped: ceremony: cancelled") {
		t.Errorf("screen:\n%s", screen)
	}
	keys("q")
	waitFor("exit status 1")
	// The history stays in the terminal after the full screen closes.
	for _, want := range []string{"ok: KEK confirmed", "keyrite: error: ceremony cancelled; nothing more was done"} {
		if !strings.Contains(screen, want) {
			t.Errorf("after exit the terminal does not show %q:\n%s", want, screen)
		}
	}
	if bytes.Contains([]byte(screen), []byte("\x1b")) {
		t.Error("raw escape sequences left in the pane")
	}
}

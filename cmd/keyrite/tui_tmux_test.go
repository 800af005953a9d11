package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/byok"
)

// TestTUIInTmux runs the real binary's full-screen ceremony in a tmux pane
// (100x30) through the KEK-intake screen with the test KEK: the screen must
// show the kid, size, SHA-256 and words, and accept a typed y. It is skipped
// when tmux is missing, except in CI.
func TestTUIInTmux(t *testing.T) {
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

	p := newPane(t, dir, 100, 30, nil, bin+`; echo "exit status $?"; sleep 60`)
	waitFor, keys := p.waitFor, p.keys
	typeText := p.typeText

	waitFor("? Ceremony directory")
	keys("Enter")
	waitFor("? What do you want to do?")
	if !strings.Contains(p.screen, "> 1) BYOK: export") {
		t.Errorf("the first choice is not selected:\n%s", p.screen)
	}
	keys("Enter")
	waitFor("KEK file")
	if !strings.Contains(p.screen, "▸ KEK") {
		t.Errorf("the step list does not show the KEK step as current:\n%s", p.screen)
	}
	keys("-l", "kek.pem")
	waitFor("✓ RSA 2048 bits; the file carries no kid")
	keys("Enter")
	waitFor("┃ KEK key identifier") // the focus moved
	typeText(kid)
	waitFor("Type the first 4 or more words")
	first4 := strings.Join(strings.Fields(fp.Words())[:4], " ")
	for _, want := range []string{"RSA 2048 bits", fp.Hex(), strings.Join(strings.Fields(fp.Words())[:4], " "), strings.Join(strings.Fields(fp.Words())[4:8], " ")} {
		if !strings.Contains(p.screen, want) {
			t.Errorf("the KEK p.screen does not show %q:\n%s", want, p.screen)
		}
	}
	for _, l := range strings.Split(p.screen, "\n") {
		if len([]rune(l)) > 100 {
			t.Errorf("line wider than the pane: %q", l)
		}
	}
	typeText("aardvark aardvark aardvark aardvark")
	waitFor(`word 1 is "` + strings.ToLower(strings.Fields(fp.Words())[0]) + `" here`)
	keys("C-u")
	typeText(first4)
	waitFor("Where are the keys to export?")
	if !strings.Contains(p.screen, "KEK confirmed") || !strings.Contains(p.screen, "✓ KEK") {
		t.Errorf("no confirmation shown:\n%s", p.screen)
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
	if !strings.Contains(p.screen, "stopped: ceremony: cancelled") {
		t.Errorf("p.screen:\n%s", p.screen)
	}
	keys("q")
	waitFor("exit status 1")
	// The history stays in the terminal after the full p.screen closes.
	for _, want := range []string{"ok: KEK confirmed", "keyrite: error: ceremony cancelled; nothing more was done"} {
		if !strings.Contains(p.screen, want) {
			t.Errorf("after exit the terminal does not show %q:\n%s", want, p.screen)
		}
	}
	if bytes.Contains([]byte(p.screen), []byte("\x1b")) {
		t.Error("raw escape sequences left in the pane")
	}
}

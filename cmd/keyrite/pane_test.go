package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pane is a tmux pane running a program, on a private server socket.
type pane struct {
	t      *testing.T
	tmux   string
	sock   string
	screen string
	// Escapes keeps the escape sequences in captured screens.
	Escapes bool
}

func newPane(t *testing.T, dir string, w, h int, env []string, script string) *pane {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is needed in CI for the TUI tests")
		}
		t.Skip("tmux not installed")
	}
	p := &pane{t: t, tmux: tmux, sock: filepath.Join(dir, "tmux.sock")}
	args := []string{"new-session", "-d", "-s", "kr", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), "-c", dir}
	args = append(args, "env")
	args = append(args, env...)
	p.run(append(args, "sh", "-c", script)...)
	t.Cleanup(func() { exec.Command(tmux, "-S", p.sock, "kill-server").Run() })
	return p
}

func (p *pane) run(args ...string) string {
	p.t.Helper()
	cmd := exec.Command(p.tmux, append([]string{"-S", p.sock}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// waitFor waits until the pane shows what.
func (p *pane) waitFor(what string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		args := []string{"capture-pane", "-p", "-t", "kr"}
		if p.Escapes {
			args = append(args, "-e")
		}
		p.screen = p.run(args...)
		if strings.Contains(p.screen, what) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("waited for %q; the screen shows:\n%s", what, p.screen)
}

func (p *pane) keys(k ...string) { p.run(append([]string{"send-keys", "-t", "kr"}, k...)...) }

// typeText types s literally, then Enter.
func (p *pane) typeText(s string) { p.keys("-l", s); p.keys("Enter") }

// choose moves a list's cursor down to the option holding label (the
// cursor starts on the first) and picks it with Enter.
func (p *pane) choose(label string, options []string) {
	p.t.Helper()
	for i, o := range options {
		if strings.Contains(o, label) {
			for range i {
				p.keys("Down")
			}
			p.keys("Enter")
			return
		}
	}
	p.t.Fatalf("no option %q in %q", label, options)
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/internal/base/cli/clitest"
)

// TestCommandTable walks the whole command table: every command's -h is
// generated from its flags (exit 0, a usage line with its name, required
// flags and positional arguments, every flag named) and an unknown flag is
// echoed as typed, with a hint.
func TestCommandTable(t *testing.T) {
	var names []string
	for _, c := range commands {
		names = append(names, c.Name)
	}
	clitest.CheckCommands(t, prog, names, func(args []string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		return code, out.String(), errb.String()
	})
}

// TestUsageFromTable: the command list is the table, with the flags every
// command shares; no arguments at all is a usage error showing it.
func TestUsageFromTable(t *testing.T) {
	r := runCLI(t, "help")
	r.want(t, 0)
	for _, c := range commands {
		if !strings.Contains(r.stdout, "\n  "+c.Name+" ") {
			t.Errorf("help does not list %q:\n%s", c.Name, r.stdout)
		}
	}
	for _, f := range []string{"--ca FILE", "--token-env NAME", "--json"} {
		if !strings.Contains(r.stdout, "\n  "+f) {
			t.Errorf("help does not list the common flag %s:\n%s", f, r.stdout)
		}
	}
	r = runCLI(t)
	r.want(t, 2, "usage: keyrite-uploader COMMAND [flags]")
	r = runCLI(t, "kek", "create", "--name", "k")
	r.want(t, 2, "keyrite-uploader: error: kek create: --vault is required\n", "keyrite-uploader: hint: run the command with -h")
	r = runCLI(t, "sd", "download", "-h")
	r.want(t, 0)
	if !strings.HasPrefix(r.stdout, "usage: keyrite-uploader sd download --hsm URL --out FILE [flags]\n") {
		t.Errorf("sd download -h: %s", r.stdout)
	}
}

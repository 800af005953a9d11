package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/internal/base/cli/clitest"
)

// TestCommandTable walks the whole command table: every command's -h is
// generated from its flags (exit 0, a usage line with its name and
// positional arguments, every flag named) and an unknown flag is echoed as
// typed, with a hint.
func TestCommandTable(t *testing.T) {
	var names []string
	for _, c := range commands() {
		names = append(names, c.Name)
	}
	clitest.CheckCommands(t, prog, names, func(args []string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(args, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
		return code, out.String(), errb.String()
	})
}

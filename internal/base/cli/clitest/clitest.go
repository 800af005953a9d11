// Package clitest checks a binary's command table against the command-line
// conventions of package cli, for the binaries' tests: every command's -h is
// generated from its flag set, and an unknown flag is echoed as typed with a
// hint.
package clitest

import (
	"flag"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/keyrite/keyrite/internal/base/cli"
)

// Run runs the binary in-process with args and returns its exit code and
// what it wrote on stdout and stderr.
type Run func(args []string) (code int, stdout, stderr string)

// CheckCommands walks the command names of prog's table and checks, for
// each, that
//
//   - "NAME -h" exits 0 and prints on stdout a line "usage: PROG NAME ..."
//     that names the command's positional arguments (cli.Positional), and
//     names every flag of its flag set as --flag;
//   - "NAME --no-such-flag" exits 2 with "unknown flag --no-such-flag" (as
//     typed, not "-no-such-flag") and a hint on stderr.
//
// The command's flag set is the one it gives cli.Parse under its name.
func CheckCommands(t *testing.T, prog string, names []string, run Run) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]*flag.FlagSet{}
	stop := cli.Observe(func(fs *flag.FlagSet) {
		mu.Lock()
		defer mu.Unlock()
		seen[fs.Name()] = fs
	})
	defer stop()
	for _, name := range names {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			args := strings.Fields(name)
			code, stdout, stderr := run(append(args, "-h"))
			mu.Lock()
			fs := seen[name]
			mu.Unlock()
			if code != cli.ExitOK {
				t.Errorf("%s %s -h: exit %d, want 0\nstderr: %s", prog, name, code, stderr)
			}
			if fs == nil {
				t.Fatalf("%s %s: no flag set named %q was given to cli.Parse", prog, name, name)
			}
			usage := usageLine(stdout, prog+" "+name)
			if usage == "" {
				t.Errorf("%s %s -h: no line \"usage: %s %s ...\" on stdout:\n%s", prog, name, prog, name, stdout)
			} else if pos := cli.PositionalOf(fs); pos != "" && !strings.Contains(usage, " "+pos) {
				t.Errorf("%s %s -h: the usage line %q does not name the positional arguments %q", prog, name, usage, pos)
			}
			fs.VisitAll(func(f *flag.Flag) {
				if !regexp.MustCompile(`(^|[^\w-])--` + regexp.QuoteMeta(f.Name) + `([^\w-]|$)`).MatchString(stdout) {
					t.Errorf("%s %s -h does not name its flag --%s:\n%s", prog, name, f.Name, stdout)
				}
			})

			code, _, stderr = run(append(args, "--no-such-flag"))
			if code != cli.ExitUsage || !strings.Contains(stderr, "unknown flag --no-such-flag\n") || !strings.Contains(stderr, prog+": hint: ") {
				t.Errorf("%s %s --no-such-flag: exit %d, want %d with \"unknown flag --no-such-flag\" and a hint\nstderr: %s", prog, name, code, cli.ExitUsage, stderr)
			}
		})
	}
}

// usageLine returns the first line of out that starts "usage: " followed
// by cmd and a space or the line's end, or "".
func usageLine(out, cmd string) string {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "usage: "+cmd); ok && (rest == "" || rest[0] == ' ') {
			return line
		}
	}
	return ""
}

// Command keyrite is the offline, air-gapped half of keyrite: KEK intake,
// BYOK export from a PKCS#11 HSM, Managed HSM security-domain activation and
// quorum restore, custody splitting, and signed ceremony transcripts.
//
// It never links network code; see offline_test.go.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/keyrite/keyrite/internal/base/cli"
)

const prog = "keyrite"

// A command is one "keyrite GROUP VERB" entry. Each area of the tool lives in
// its own file (kek.go, byok.go, sd.go, custody.go, transcript.go, tui.go) and
// lists its commands here.
type command struct {
	name    string // "byok export"
	summary string
	run     func(env *env, args []string) error
}

// env is what a command may touch besides its arguments, so that tests can
// run commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func commands() []command {
	return []command{
		{"version", "print the version and build information", runVersion},
		{"selftest", "run the known-answer self-tests that guard every ceremony step", runSelfTest},
		{"kek inspect", "show a Key Exchange Key's kid, size and fingerprint", runKEKInspect},
		{"byok export", "export a target key wrapped under a KEK as a .byok file", withSelfTest(runBYOKExport)},
		{"byok inspect", "check and describe a .byok file", runBYOKInspect},
		{"sd keygen", "generate custodian wrapping keys and certificates for activation", withSelfTest(runSDKeygen)},
		{"sd restore", "build a restore blob from a security domain and a quorum of custodian keys", withSelfTest(runSDRestore)},
		{"sd verify", "quorum drill: prove a security domain can be restored, writing nothing", withSelfTest(runSDVerify)},
		{"custody split", "split a secret M-of-N, each share age-encrypted to its holder", withSelfTest(runCustodySplit)},
		{"custody combine", "recombine a secret from a quorum of custody shares", withSelfTest(runCustodyCombine)},
		{"transcript sign", "sign the current state of a ceremony transcript", withSelfTest(runTranscriptSign)},
		{"transcript verify", "verify a ceremony transcript, its artifacts and signatures", runTranscriptVerify},
		{"transcript show", "replay a ceremony transcript as a readable script", runTranscriptShow},
	}
}

func main() { os.Exit(run(os.Args[1:], &env{os.Stdin, os.Stdout, os.Stderr})) }

func run(args []string, e *env) (code int) {
	defer cli.Recover(e.stderr, prog, &code)
	if len(args) == 0 || args[0] == "--plain" || args[0] == "tui" {
		return cli.Report(e.stderr, prog, withSelfTest(runGuided)(e, args))
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		return cli.ExitOK
	}
	cmds := commands()
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return cli.Report(e.stderr, prog, c.run(e, args[len(words):]))
		}
	}
	// A known group with an unknown verb gets the group's verbs as a hint.
	var verbs []string
	for _, c := range cmds {
		if g, v, ok := strings.Cut(c.name, " "); ok && g == args[0] {
			verbs = append(verbs, v)
		}
	}
	if len(verbs) > 0 {
		sort.Strings(verbs)
		what := "missing"
		if len(args) > 1 {
			what = fmt.Sprintf("unknown: %q", args[1])
		}
		return cli.Report(e.stderr, prog, cli.WithHint(cli.Usagef("%s: subcommand %s", args[0], what),
			"try one of: "+strings.Join(verbs, ", ")))
	}
	return cli.Report(e.stderr, prog, cli.WithHint(cli.Usagef("unknown command %q", args[0]), "run 'keyrite help' for the list of commands"))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: keyrite [--plain]            guided ceremony")
	fmt.Fprintln(w, "       keyrite COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
	}
}

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
	"strings"

	"github.com/keyrite/keyrite/internal/base/cli"
)

const prog = "keyrite"

// A command is one "keyrite GROUP VERB" entry of the command table (the
// table type the three binaries share). Each area of the tool lives in its
// own file (kek.go, byok.go, sd.go, custody.go, transcript.go, tui.go) and
// lists its commands here.
type command = cli.Command[*env]

// env is what a command may touch besides its arguments, so that tests can
// run commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func commands() []command {
	return []command{
		{Name: "version", Summary: "print the version and build information", Run: runVersion},
		{Name: "selftest", Summary: "run the known-answer self-tests that guard every ceremony step", Run: runSelfTest},
		{Name: "kek inspect", Summary: "show a Key Exchange Key's kid, size and fingerprint", Run: runKEKInspect},
		{Name: "byok export", Summary: "export a target key wrapped under a KEK as a .byok file", Run: withSelfTest(runBYOKExport)},
		{Name: "byok inspect", Summary: "check and describe a .byok file", Run: runBYOKInspect},
		{Name: "sd keygen", Summary: "generate custodian wrapping keys and certificates for activation", Run: withSelfTest(runSDKeygen)},
		{Name: "sd restore", Summary: "build a restore blob from a security domain and a quorum of custodian keys", Run: withSelfTest(runSDRestore)},
		{Name: "sd verify", Summary: "quorum drill: prove a security domain can be restored, writing nothing secret", Run: withSelfTest(runSDVerify)},
		{Name: "custody split", Summary: "split a secret M-of-N, each share age-encrypted to its holder", Run: withSelfTest(runCustodySplit)},
		{Name: "custody combine", Summary: "recombine a secret from a quorum of custody shares", Run: withSelfTest(runCustodyCombine)},
		{Name: "transcript sign", Summary: "sign the current state of a ceremony transcript", Run: withSelfTest(runTranscriptSign)},
		{Name: "transcript verify", Summary: "verify a ceremony transcript, its artifacts and signatures", Run: runTranscriptVerify},
		{Name: "transcript show", Summary: "replay a ceremony transcript as a readable script", Run: runTranscriptShow},
		{Name: "hsm modules", Summary: "list the PKCS#11 modules found on this machine (p11-kit, vendors' usual paths)", Run: runHSMModules},
		{Name: "hsm tokens", Summary: "list a PKCS#11 module's slots and tokens, with their PIN counter flags", Run: runHSMTokens},
		{Name: "hsm objects", Summary: "list the objects on a token, with the PKCS#11 URI naming each", Run: runHSMObjects},
		{Name: "plan new", Summary: "write a commented ceremony plan template (byok, activation, restore)", Run: runPlanNew},
		{Name: "plan check", Summary: "check a ceremony plan and print its numbered script", Run: runPlanCheck},
		{Name: "plan sign", Summary: "co-sign a ceremony plan as a reviewer", Run: withSelfTest(runPlanSign)},
	}
}

func main() { os.Exit(run(os.Args[1:], &env{os.Stdin, os.Stdout, os.Stderr})) }

// guidedArgs reports whether args start the guided ceremony: none, "tui",
// a flag of the guided ceremony (keyrite --ceremony DIR, --plain), or a
// directory (keyrite DIR: a ceremony to look at).
func guidedArgs(args []string) bool {
	if len(args) == 0 || args[0] == "tui" {
		return true
	}
	a := args[0]
	if a == "-h" || a == "--help" || a == "-help" {
		return false
	}
	if strings.HasPrefix(a, "-") {
		return true
	}
	for _, c := range commands() {
		if g, _, _ := strings.Cut(c.Name, " "); g == a {
			return false // a command, even if a directory has its name
		}
	}
	st, err := os.Stat(a)
	return err == nil && st.IsDir()
}

func run(args []string, e *env) (code int) {
	defer cli.Recover(e.stderr, prog, &code)
	if guidedArgs(args) {
		return cli.Report(e.stderr, prog, withSelfTest(runGuided)(e, args))
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		return cli.ExitOK
	}
	c, rest, err := cli.Find(prog, commands(), args)
	if err != nil {
		return cli.Report(e.stderr, prog, err)
	}
	return cli.Exit(e.stdout, e.stderr, prog, c.Run(e, rest))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: keyrite [--plain]            guided ceremony")
	fmt.Fprintln(w, "       keyrite COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	cli.ListCommands(w, commands())
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/plain"
	"github.com/keyrite/keyrite/ceremony/tui"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/secret"
)

// runGuided implements
//
//	keyrite [--plain] [--ceremony DIR] [--pin-env NAME | --pin-file PATH]
//
// the guided ceremony: the full-screen TUI on a terminal, plain line prompts
// with --plain or when stdin or stdout is not a terminal. Plain prompts read
// answers from stdin; secrets come from --pin-env/--pin-file or the
// terminal, never from the answer stream.
func runGuided(e *env, args []string) error {
	if len(args) > 0 && args[0] == "tui" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("keyrite", flag.ContinueOnError)
	plainFlag := fs.Bool("plain", false, "plain line prompts instead of the full-screen UI")
	ceremonyDir := fs.String("ceremony", "", "record the steps in this ceremony directory")
	pin := secret.Register(fs, "pin", "PIN")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 1 && isCeremonyDir(pos[0]) {
		return runGuidedAudit(e, pos[0], *plainFlag) // keyrite DIR: the auditor's view
	}
	if len(pos) > 0 {
		return cli.WithHint(cli.Usagef("unexpected argument %q", pos[0]), "usage: keyrite [--plain] [--ceremony DIR]", "run 'keyrite help' for the list of commands")
	}
	eng := &ceremony.Engine{Backends: guidedBackends(), CeremonyDir: *ceremonyDir}
	if *plainFlag || !guidedIsTerminal(e) {
		ui := plain.New(e.stdin, e.stdout)
		ui.Echo = !guidedIsTerminal(e)
		if pin.Given() {
			ui.Secret = pin.Read
		}
		eng.UI = ui
		return guidedError(eng.Run())
	}
	if pin.Given() {
		return cli.WithHint(cli.Usagef("--pin-env and --pin-file are for --plain"), "the full-screen ceremony asks for each PIN itself")
	}
	return guidedError(tui.Run(os.Stdin, os.Stdout, func(ui ceremony.UI) error {
		eng.UI = ui
		return eng.Run()
	}))
}

// guidedIsTerminal reports whether the command talks to a terminal on both
// stdin and stdout.
func guidedIsTerminal(e *env) bool {
	in, ok1 := e.stdin.(*os.File)
	out, ok2 := e.stdout.(*os.File)
	return ok1 && ok2 && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd()))
}

func guidedError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ceremony.ErrStopped):
		// The failure and its hints were shown in the flow.
		return fmt.Errorf("ceremony stopped after the failure shown above; nothing more was done")
	case errors.Is(err, ceremony.ErrCancelled):
		return fmt.Errorf("ceremony cancelled; nothing more was done")
	case errors.Is(err, ceremony.ErrNotConfirmed):
		return cli.WithHint(err, "nothing was written after the refusal; start again once the values agree")
	case errors.Is(err, ceremony.ErrNotAvailable):
		return cli.WithHint(err, "use the subcommands (keyrite help), or a build that has this part")
	case errors.Is(err, secret.ErrNoTerminal):
		return cli.WithHint(err, "give the PIN with --pin-env NAME or --pin-file PATH when running --plain without a terminal")
	}
	return err
}

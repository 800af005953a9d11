package main

import (
	"flag"
	"fmt"

	"github.com/keyrite/keyrite/internal/base/buildinfo"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/selftest"
)

// withSelfTest runs the start-up known-answer tests (package
// internal/selftest) before a command that uses keys or records a step; a
// failure stops it before it reads a PIN, opens an HSM or writes anything,
// and what passed is recorded in every transcript event it writes.
func withSelfTest(run func(*env, []string) error) func(*env, []string) error {
	return func(e *env, args []string) error {
		r, err := selftest.Run()
		if err != nil {
			return cli.WithHint(err,
				"keyrite runs no ceremony step on a build or machine that fails its self-tests: use a verified build on another workstation")
		}
		buildinfo.SetSelfTest(r.Summary())
		return run(e, args)
	}
}

func runSelfTest(e *env, args []string) error {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := cli.Parse(fs, args); err != nil {
		return err
	}
	r, err := selftest.Run()
	if err != nil {
		return cli.WithHint(err, "do not run ceremonies with this build on this machine")
	}
	if *asJSON {
		return cli.PrintJSON(e.stdout, map[string]any{"passed": r.Passed, "microseconds": r.Took.Microseconds()})
	}
	for _, name := range r.Passed {
		fmt.Fprintf(e.stdout, "ok  %s\n", name)
	}
	fmt.Fprintf(e.stdout, "all %d known-answer tests passed in %v\n", len(r.Passed), r.Took.Round(10_000))
	return nil
}

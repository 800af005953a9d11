package main

import (
	"flag"
	"fmt"

	"github.com/keyrite/keyrite/internal/base/buildinfo"
	"github.com/keyrite/keyrite/internal/base/cli"
)

func runVersion(e *env, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := cli.Parse(fs, args); err != nil {
		return err
	}
	bi := buildinfo.Read()
	if *asJSON {
		return cli.PrintJSON(e.stdout, bi)
	}
	fmt.Fprintf(e.stdout, "keyrite %s (%s, %s)\n", bi.Version, bi.Revision, bi.GoVersion)
	return nil
}

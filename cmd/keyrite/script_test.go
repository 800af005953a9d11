package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"keyrite": func() { os.Exit(run(os.Args[1:], &env{os.Stdin, os.Stdout, os.Stderr})) },
	})
}

// TestScripts runs the CLI scripts in testdata/script: each runs the real
// command line and pins stdout, stderr, exit codes and files. $VECTORS is the
// repository's testvectors directory.
func TestScripts(t *testing.T) {
	vectors, err := filepath.Abs("../../testvectors")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("VECTORS", vectors)
			return nil
		},
		RequireExplicitExec: false,
	})
}

package securitydomain

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// TestMain bounds the minimization of each input the fuzzer finds
// interesting to 2 s, unless -test.fuzzminimizetime is given.
//
// The parsers of this package read kilobyte-sized JSON (SD files, restore
// blobs, compact JWEs). The fuzzer minimizes every new interesting input
// before it goes on, and minimization is quadratic in the input's length: by
// default (60 s per input) a run spent nearly all its time minimizing and
// made only tens of executions a minute (FuzzParseSD: 30 executions in 40 s;
// with the bound: about 145,000). Pass -fuzzminimizetime explicitly to
// minimize a crasher harder.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		if err := flag.Set("test.fuzzminimizetime", "2s"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

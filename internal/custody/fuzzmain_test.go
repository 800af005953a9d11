package custody

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// TestMain bounds the minimization of each input the fuzzer finds
// interesting to 2 s, unless -test.fuzzminimizetime is given.
//
// Manifests, share files and identity files are up to a few kilobytes. The
// fuzzer minimizes every new interesting input before it goes on, and
// minimization is quadratic in the input's length: with the default (60 s
// per input) FuzzParseManifest spent stretches of its runs minimizing. Pass
// -fuzzminimizetime explicitly to minimize a crasher harder.
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

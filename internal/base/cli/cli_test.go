package cli

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
)

func TestParseInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	kek := fs.String("kek", "", "")
	var keys Strings
	fs.Var(&keys, "key", "")
	pos, err := Parse(fs, []string{"a.byok", "--kek", "k.pem", "--key", "1", "b", "--key=2", "--", "--c"})
	if err != nil {
		t.Fatal(err)
	}
	if *kek != "k.pem" || !reflect.DeepEqual([]string(keys), []string{"1", "2"}) {
		t.Fatalf("kek=%q keys=%v", *kek, keys)
	}
	if !reflect.DeepEqual(pos, []string{"a.byok", "b", "--c"}) {
		t.Fatalf("pos=%v", pos)
	}
}

func TestParseUsage(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	_, err := Parse(fs, []string{"--nope"})
	var u *UsageError
	if !errors.As(err, &u) {
		t.Fatalf("got %v", err)
	}
}

func TestReport(t *testing.T) {
	var b bytes.Buffer
	code := Report(&b, "keyrite", WithHint(errors.New("bad\nkeyrite: hint: forged"), "do this"))
	if code != 1 {
		t.Fatal(code)
	}
	want := "keyrite: error: bad keyrite: hint: forged\nkeyrite: hint: do this\n"
	if b.String() != want {
		t.Fatalf("%q", b.String())
	}
	// C0, DEL, C1 (U+009B is an 8-bit CSI) and bidi overrides are neutralized.
	b.Reset()
	Report(&b, "keyrite", errors.New("a\x1b[2Jb\x7fc\u009b31md\u202ee"))
	if want := "keyrite: error: a?[2Jb?c?31md?e\n"; b.String() != want {
		t.Fatalf("%q, want %q", b.String(), want)
	}
	b.Reset()
	if Report(&b, "keyrite", Usagef("missing --kek")) != 2 {
		t.Fatal("usage code")
	}
}

func TestHelp(t *testing.T) {
	fs := flag.NewFlagSet("kek inspect", flag.ContinueOnError)
	fs.String("kek", "", "the KEK `FILE`")
	_, err := Parse(fs, []string{"--help"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v", err)
	}
	var b bytes.Buffer
	if code := Report(&b, "keyrite", err); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(b.String(), "usage: keyrite kek inspect [flags]") || !strings.Contains(b.String(), "-kek FILE") {
		t.Fatalf("%q", b.String())
	}
}

func TestReportRedactsPINValue(t *testing.T) {
	for _, arg := range []string{"pkcs11:token=a?pin-value=9876", "pkcs11:token=a;pin%2Dvalue=9876;object=b", "PIN-VALUE:9876"} {
		var b bytes.Buffer
		Report(&b, "keyrite", Usagef("unexpected argument %q", arg))
		if strings.Contains(b.String(), "9876") || !strings.Contains(b.String(), "REDACTED") {
			t.Errorf("%q -> %q", arg, b.String())
		}
	}
}

// TestParseEchoesFlagsAsTyped: an unknown flag, or one missing its value,
// is named as it was typed (the flag package says "-frob" for "--frob"),
// with a hint; -h names the positional arguments and writes flags as --name.
func TestParseEchoesFlagsAsTyped(t *testing.T) {
	mk := func() *flag.FlagSet {
		fs := flag.NewFlagSet("demo cmd", flag.ContinueOnError)
		fs.String("out", "", "output `FILE`")
		fs.Bool("json", false, "print JSON")
		Positional(fs, "DIR")
		return fs
	}
	for args, want := range map[string]string{
		"--frob":             "unknown flag --frob",
		"DIR --frob=1":       "unknown flag --frob=1",
		"--json -x":          "unknown flag -x",
		"--out":              "--out needs a value",
		"--out --frob":       "", // --frob is --out's value
		"-- --frob":          "", // after --, an argument
		"DIR --json --out f": "",
	} {
		_, err := Parse(mk(), strings.Fields(args))
		var u *UsageError
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", args, err)
		case want != "" && (!errors.As(err, &u) || u.Msg != want || len(Hints(err)) != 1):
			t.Errorf("%q: %v, want %q with a hint", args, err, want)
		}
	}
	var b strings.Builder
	_, err := Parse(mk(), []string{"-h"})
	if code := Report(&b, "keyrite", err); code != ExitOK || !strings.HasPrefix(b.String(), "usage: keyrite demo cmd DIR [flags]\n") || !strings.Contains(b.String(), "\n  --out FILE\n") {
		t.Errorf("help: %d %q", code, b.String())
	}
}

// TestFindCommand: the shared command table finds a command and its
// arguments, and names what there is when it does not.
func TestFindCommand(t *testing.T) {
	cmds := []Command[int]{{Name: "sd restore"}, {Name: "sd verify"}, {Name: "version"}}
	if c, rest, err := Find("kr", cmds, []string{"sd", "verify", "--sd", "x"}); err != nil || c.Name != "sd verify" || len(rest) != 2 {
		t.Fatalf("found %v %v %v", c, rest, err)
	}
	for args, want := range map[string]string{
		"":        "no command given",
		"frob":    `unknown command "frob"`,
		"sd":      "sd: subcommand missing",
		"sd frob": `sd: subcommand unknown: "frob"`,
	} {
		_, _, err := Find("kr", cmds, strings.Fields(args))
		var u *UsageError
		if !errors.As(err, &u) || u.Msg != want || len(Hints(err)) != 1 {
			t.Errorf("%q: %v", args, err)
		}
	}
	var b strings.Builder
	ListCommands(&b, cmds)
	if !strings.HasPrefix(b.String(), "  sd restore  \n") {
		t.Errorf("list %q", b.String())
	}
}

// TestRequiredAndExit: a Required flag that is missing or empty is a usage
// error; -h puts it in the usage line with its value name, and Exit writes
// that help on stdout, errors on stderr.
func TestRequiredAndExit(t *testing.T) {
	mk := func() *flag.FlagSet {
		fs := flag.NewFlagSet("kek create", flag.ContinueOnError)
		fs.String("vault", "", "`URL` of the vault")
		fs.Bool("json", false, "print JSON")
		Required(fs, "vault")
		return fs
	}
	for _, args := range [][]string{nil, {"--vault", ""}, {"--json"}} {
		_, err := Parse(mk(), args)
		var u *UsageError
		if !errors.As(err, &u) || u.Msg != "--vault is required" || len(Hints(err)) != 1 {
			t.Errorf("%q: %v", args, err)
		}
	}
	if _, err := Parse(mk(), []string{"--vault", "https://v"}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	stop := Observe(func(fs *flag.FlagSet) { seen = append(seen, fs.Name()) })
	_, err := Parse(mk(), []string{"-h"})
	stop()
	Parse(mk(), []string{"-h"})
	if len(seen) != 1 || seen[0] != "kek create" {
		t.Errorf("observed %q", seen)
	}
	var out, errb strings.Builder
	if code := Exit(&out, &errb, "keyrite-uploader", err); code != ExitOK || errb.Len() != 0 ||
		!strings.HasPrefix(out.String(), "usage: keyrite-uploader kek create --vault URL [flags]\n\nflags:\n") {
		t.Errorf("help: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := Exit(&out, &errb, "keyrite-uploader", Usagef("bad")); code != ExitUsage || out.Len() != 0 || errb.String() != "keyrite-uploader: error: bad\n" {
		t.Errorf("error: %d %q %q", code, out.String(), errb.String())
	}
	// No flags: no "[flags]" and no empty flag list.
	_, err = Parse(flag.NewFlagSet("version", flag.ContinueOnError), []string{"-h"})
	out.Reset()
	Exit(&out, &errb, "keyrite", err)
	if out.String() != "usage: keyrite version\n" {
		t.Errorf("no flags: %q", out.String())
	}
}

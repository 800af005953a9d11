// Command keyrite-emulator is a local stand-in for the Azure Key Vault and
// Managed HSM data planes, for tests and rehearsals only (never production):
//
//	keyrite-emulator --listen 127.0.0.1:0 --state DIR [flags]
//
// (the serve command, which is the default; `keyrite-emulator help` lists
// the commands and serve's flags, generated from the command table and the
// flags serve declares).
//
// It serves HTTPS with a CA it creates in DIR (its certificate is DIR/ca.pem;
// give it to keyrite-uploader with --ca) and prints
//
//	listening on https://127.0.0.1:PORT
//
// as its first line of stdout. See package internal/online/emulator for the
// endpoints and how one emulator stands in for several vaults and HSMs
// (https://127.0.0.1:PORT/kv/NAME, https://127.0.0.1:PORT/mhsm/NAME).
// It stops on SIGINT or SIGTERM.
//
// A security-domain download or upload stays InProgress for --sd-delay
// (default 3s, so that a rehearsal exercises polling). The real service
// takes many minutes (recorded in 2025: 18 InProgress answers after a
// download, 23 after an upload); --sd-delay 8m rehearses a realistic one.
// Fault switches: --throttle (key-creation limits, 429 with Retry-After),
// --throttle-pending DURATION (status polls closer together than DURATION
// get 429 with Retry-After) and --fail-5xx N (every Nth authenticated
// request is answered 503 ServiceUnavailable).
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keyrite/keyrite/internal/base/buildinfo"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/online/emulator"
)

const prog = "keyrite-emulator"

// defaultSDDelay keeps security-domain operations InProgress long enough
// that a rehearsal's uploader has to poll, yet short enough not to slow it.
const defaultSDDelay = 3 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, nil))
}

// env is what every command gets.
type env struct {
	stdout, stderr io.Writer
	// stop, if not nil, replaces the signal wait (tests close it to stop
	// the server).
	stop <-chan struct{}
}

// commands is the command table (the type the three binaries share).
var commands = []cli.Command[*env]{
	{Name: "serve", Summary: "serve the Key Vault and Managed HSM data planes over HTTPS (the default command)", Run: runServe},
	{Name: "version", Summary: "print the version and build information", Run: runVersion},
}

// run is main without the exit. Arguments that start with a flag, or none,
// are serve's: "keyrite-emulator --listen 127.0.0.1:0 --state DIR".
func run(args []string, stdout, stderr io.Writer, stop <-chan struct{}) (code int) {
	defer cli.Recover(stderr, prog, &code)
	e := &env{stdout: stdout, stderr: stderr, stop: stop}
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		usage(stdout)
		return cli.ExitOK
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		args = append([]string{"serve"}, args...)
	}
	c, rest, err := cli.Find(prog, commands, args)
	if err != nil {
		return cli.Report(stderr, prog, err)
	}
	return cli.Exit(stdout, stderr, prog, c.Run(e, rest))
}

// usage lists the commands and serve's flags.
func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s [serve] --state DIR [flags]\n       %s COMMAND [flags]\n\ncommands:\n", prog, prog)
	cli.ListCommands(w, commands)
	fs, _ := serveFlags()
	fmt.Fprintf(w, "\nserve's flags:\n%s", cli.FlagList(fs))
}

// serveOpts are serve's flags.
type serveOpts struct {
	listen, state                   string
	object, sdBase64, throttle, log bool
	sdDelay, throttlePending        time.Duration
	fail5xx                         int
}

// serveFlags declares serve's flags, for serve and for the usage.
func serveFlags() (*flag.FlagSet, *serveOpts) {
	o := &serveOpts{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "`ADDRESS` to listen on (host:port; port 0 for any free port)")
	fs.StringVar(&o.state, "state", "", "state `DIR` (created if missing): CA, keys, security domains")
	fs.BoolVar(&o.object, "transfer-key-object", false, "serve transfer_key as a JSON object instead of a JSON string")
	fs.BoolVar(&o.sdBase64, "sd-base64", false, "return the downloaded security domain as base64 of its JSON (the REST example's form)")
	fs.BoolVar(&o.throttle, "throttle", false, "enforce the service's key-creation limits with 429 and Retry-After")
	fs.DurationVar(&o.sdDelay, "sd-delay", defaultSDDelay, "how long (`DURATION`) a security-domain download or upload stays InProgress (the real service: many minutes, e.g. 8m)")
	fs.DurationVar(&o.throttlePending, "throttle-pending", 0, "answer status polls closer together than this `DURATION` 429 with Retry-After (0: never)")
	fs.IntVar(&o.fail5xx, "fail-5xx", 0, "answer every `N`th authenticated request 503 ServiceUnavailable (0: never)")
	fs.BoolVar(&o.log, "log", false, "log one line per request to stderr")
	cli.Required(fs, "state")
	return fs, o
}

func runVersion(e *env, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.Usagef("unexpected argument %q", pos[0])
	}
	bi := buildinfo.Read()
	fmt.Fprintf(e.stdout, "%s %s (%s, %s)\n", prog, bi.Version, bi.Revision, bi.GoVersion)
	return nil
}

func runServe(e *env, args []string) error {
	fs, o := serveFlags()
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.Usagef("unexpected argument %q", pos[0])
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return cli.Usagef("--listen %q is not host:port", o.listen)
	}
	switch {
	case o.sdDelay < 0:
		return cli.WithHint(cli.Usagef("--sd-delay %s is negative", o.sdDelay), "give 0 for Success at the first poll, or e.g. --sd-delay 8m for the service's pace")
	case o.throttlePending < 0:
		return cli.Usagef("--throttle-pending %s is negative", o.throttlePending)
	case o.fail5xx < 0 || o.fail5xx == 1:
		return cli.WithHint(cli.Usagef("--fail-5xx %d: expected 0 (never) or N of 2 or more", o.fail5xx), "--fail-5xx 1 would fail every request; --fail-5xx 3 fails every third")
	}
	cfg := emulator.Config{
		StateDir: o.state, TransferKeyAsObject: o.object, SDValueBase64: o.sdBase64, Throttle: o.throttle,
		SDDelay: o.sdDelay, PendingInterval: o.throttlePending, ServerErrorEvery: o.fail5xx,
	}
	if o.log {
		cfg.Log = e.stderr
	}
	emu, err := emulator.New(cfg)
	if err != nil {
		return err
	}
	url, err := emu.Listen(o.listen)
	if err != nil {
		return cli.WithHint(err, "choose a free address, or port 0 for any free port")
	}
	fmt.Fprintf(e.stdout, "listening on %s\n", url)
	fmt.Fprintf(e.stderr, "%s: CA certificate: %s (tests and rehearsals only)\n", prog, emu.CAFile())
	fmt.Fprintf(e.stderr, "%s: security-domain operations stay InProgress for %s (--sd-delay; the real service takes many minutes)\n", prog, o.sdDelay)
	if host, _, _ := net.SplitHostPort(o.listen); !isLoopback(host) {
		fmt.Fprintf(e.stderr, "%s: warning: listening on %s, not loopback: anyone who can reach it can use this test service\n", prog, o.listen)
	}
	if e.stop == nil {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
	} else {
		<-e.stop
	}
	return emu.Close()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Command keyrite-emulator is a local stand-in for the Azure Key Vault and
// Managed HSM data planes, for tests and rehearsals only (never production):
//
//	keyrite-emulator --listen 127.0.0.1:0 --state DIR [--sd-delay DURATION] [--throttle] [--throttle-pending DURATION] [--fail-5xx N] [--transfer-key-object] [--sd-base64] [--log]
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
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/online/emulator"
)

const prog = "keyrite-emulator"

const usage = "keyrite-emulator --listen 127.0.0.1:0 --state DIR [--sd-delay DURATION] [--throttle] [--throttle-pending DURATION] [--fail-5xx N] [--transfer-key-object] [--sd-base64] [--log]"

// defaultSDDelay keeps security-domain operations InProgress long enough
// that a rehearsal's uploader has to poll, yet short enough not to slow it.
const defaultSDDelay = 3 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, nil))
}

// run is main without the exit; stop, if not nil, replaces the signal wait
// (tests close it to stop the server).
func run(args []string, stdout, stderr io.Writer, stop <-chan struct{}) (code int) {
	defer cli.Recover(stderr, prog, &code)
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (host:port)")
	state := fs.String("state", "", "state directory (created if missing): CA, keys, security domains")
	object := fs.Bool("transfer-key-object", false, "serve transfer_key as a JSON object instead of a JSON string")
	sdBase64 := fs.Bool("sd-base64", false, "return the downloaded security domain as base64 of its JSON (the REST example's form)")
	throttle := fs.Bool("throttle", false, "enforce the service's key-creation limits with 429 and Retry-After")
	sdDelay := fs.Duration("sd-delay", defaultSDDelay, "how long a security-domain download or upload stays InProgress (the real service: many minutes, e.g. 8m)")
	throttlePending := fs.Duration("throttle-pending", 0, "answer status polls closer together than this 429 with Retry-After (0: never)")
	fail5xx := fs.Int("fail-5xx", 0, "answer every Nth authenticated request 503 ServiceUnavailable (0: never)")
	logReq := fs.Bool("log", false, "log one line per request to stderr")
	pos, err := cli.Parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "usage: "+usage)
		return cli.ExitOK
	}
	if err == nil && len(pos) > 0 {
		err = cli.Usagef("unexpected argument %q", pos[0])
	}
	if err == nil && *state == "" {
		err = cli.WithHint(cli.Usagef("--state is required"), "give a directory for the emulator's state, e.g. --state ./emulator-state")
	}
	if err == nil {
		if _, _, splitErr := net.SplitHostPort(*listen); splitErr != nil {
			err = cli.Usagef("--listen %q is not host:port", *listen)
		}
	}
	switch {
	case err != nil:
	case *sdDelay < 0:
		err = cli.WithHint(cli.Usagef("--sd-delay %s is negative", *sdDelay), "give 0 for Success at the first poll, or e.g. --sd-delay 8m for the service's pace")
	case *throttlePending < 0:
		err = cli.Usagef("--throttle-pending %s is negative", *throttlePending)
	case *fail5xx < 0 || *fail5xx == 1:
		err = cli.WithHint(cli.Usagef("--fail-5xx %d: expected 0 (never) or N of 2 or more", *fail5xx), "--fail-5xx 1 would fail every request; --fail-5xx 3 fails every third")
	}
	if err != nil {
		return cli.Report(stderr, prog, err)
	}
	cfg := emulator.Config{
		StateDir: *state, TransferKeyAsObject: *object, SDValueBase64: *sdBase64, Throttle: *throttle,
		SDDelay: *sdDelay, PendingInterval: *throttlePending, ServerErrorEvery: *fail5xx,
	}
	if *logReq {
		cfg.Log = stderr
	}
	emu, err := emulator.New(cfg)
	if err != nil {
		return cli.Report(stderr, prog, err)
	}
	url, err := emu.Listen(*listen)
	if err != nil {
		return cli.Report(stderr, prog, cli.WithHint(err, "choose a free address, or port 0 for any free port"))
	}
	fmt.Fprintf(stdout, "listening on %s\n", url)
	fmt.Fprintf(stderr, "%s: CA certificate: %s (tests and rehearsals only)\n", prog, emu.CAFile())
	fmt.Fprintf(stderr, "%s: security-domain operations stay InProgress for %s (--sd-delay; the real service takes many minutes)\n", prog, *sdDelay)
	if host, _, _ := net.SplitHostPort(*listen); !isLoopback(host) {
		fmt.Fprintf(stderr, "%s: warning: listening on %s, not loopback: anyone who can reach it can use this test service\n", prog, *listen)
	}
	if stop == nil {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
	} else {
		<-stop
	}
	if err := emu.Close(); err != nil {
		return cli.Report(stderr, prog, err)
	}
	return cli.ExitOK
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

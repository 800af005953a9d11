// Command keyrite-uploader is the online half of keyrite: it creates key
// exchange keys, imports the .byok files a ceremony recorded, and runs the
// Managed HSM security-domain operations. `keyrite-uploader help` lists its
// commands (the table in this file) and `keyrite-uploader COMMAND -h` a
// command's flags, both generated from the flags the commands declare.
//
// Common flags: --ca FILE (an extra trusted CA, e.g. the emulator's ca.pem;
// it also marks the target as a local stand-in, which then needs --token-env),
// --token-env NAME (use the
// bearer token in environment variable NAME instead of the Azure SDK's
// default credential chain).
//
// Exit codes: 0 success, 1 the operation failed or was refused, 2 usage,
// 3 a security-domain operation was started and is still in progress at the
// HSM when the command stopped waiting (--timeout, 30 minutes by default):
// not a failure; look again with sd status or --resume.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/base/buildinfo"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/internal/online/uploader"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
)

const prog = "keyrite-uploader"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// env is what every command gets.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
}

// commands is the command table (the type the three binaries share).
var commands = []cli.Command[*env]{
	{Name: "kek create", Summary: "create an RSA-HSM key exchange key and write its public key", Run: runKEKCreate},
	{Name: "import", Summary: "import the .byok files a signed ceremony recorded, checked against the vault", Run: runImport},
	{Name: "sd download", Summary: "activate a Managed HSM: download its security domain for the custodians' certificates", Run: runSDDownload},
	{Name: "sd exchange-key", Summary: "fetch the HSM's exchange key certificate (init-recovery)", Run: runSDExchangeKey},
	{Name: "sd upload", Summary: "upload a restore blob and watch the restore", Run: runSDUpload},
	{Name: "sd status", Summary: "the HSM's last activation and restore", Run: runSDStatus},
	{Name: "version", Summary: "print the version and build information", Run: runVersion},
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer cli.Recover(stderr, prog, &code)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return cli.ExitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return cli.ExitOK
	}
	c, rest, err := cli.Find(prog, commands, args)
	if err != nil {
		return cli.Report(stderr, prog, err)
	}
	err = c.Run(e, rest)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		// The command's name first; the error as it is, library prefix
		// ("uploader: ") included.
		err = cli.Reword(err, "%s: %v", c.Name, err)
	}
	return cli.Exit(stdout, stderr, prog, err)
}

// usage lists the commands of the table and the flags they share.
func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s COMMAND [flags]\n\ncommands:\n", prog)
	cli.ListCommands(w, commands)
	fmt.Fprintf(w, "\nRun '%s COMMAND -h' for a command's flags. Every command but version takes:\n", prog)
	fs := flag.NewFlagSet("common", flag.ContinueOnError)
	var c common
	c.register(fs)
	fmt.Fprint(w, cli.FlagList(fs))
	fmt.Fprintln(w, "\nexit codes: 0 done, 1 failed or refused, 2 usage, 3 still in progress at the HSM (not failed: look again with sd status)")
}

// configHook, when set (tests only), adjusts every client's configuration:
// the tests give the uploader and the emulator one fake clock.
var configHook func(*uploader.Config)

// common are the flags every online command takes.
type common struct {
	ca       string
	tokenEnv string
	json     bool
	// tofu: act on a ceremony without a trust file (recorded).
	tofu bool
	// timeout is the polling budget of the security-domain commands, and
	// the time kek create and import wait for a throttled or unavailable
	// service.
	timeout  time.Duration
	progress func(uploader.Progress)
	// onWait says what a key call is waiting for (kek create, import).
	onWait func(uploader.Wait)
}

// registerKeyTimeout adds --timeout to a command that makes key calls
// (kek create, import), and says on w what they wait for.
func (c *common) registerKeyTimeout(fs *flag.FlagSet, w io.Writer) {
	fs.DurationVar(&c.timeout, "timeout", uploader.DefaultTimeout, "`DURATION` to keep trying while the service is throttled or unavailable (e.g. 45m); a longer wait it asks for (Retry-After) is refused at once")
	c.onWait = func(wt uploader.Wait) { fmt.Fprintf(w, "%s: %s\n", prog, wt) }
}

// registerTOFU adds --trust-on-first-use to a command that acts on a
// ceremony.
func (c *common) registerTOFU(fs *flag.FlagSet) {
	fs.BoolVar(&c.tofu, "trust-on-first-use", false, "without --trust: act on whoever signed the ceremony, and record that decision and their keys in it")
}

// registerTimeout adds --timeout to a security-domain command.
func (c *common) registerTimeout(fs *flag.FlagSet) {
	fs.DurationVar(&c.timeout, "timeout", uploader.DefaultTimeout, "`DURATION` to watch the operation at the HSM (e.g. 45m, 2h); past it the command reports it still in progress (exit 3), never failed")
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.ca, "ca", "", "extra trusted CA certificate `FILE` (PEM), e.g. the emulator's ca.pem")
	fs.StringVar(&c.tokenEnv, "token-env", "", "environment variable `NAME` holding a bearer token to use instead of the default Azure credential")
	fs.BoolVar(&c.json, "json", false, "print one JSON object describing the result")
}

func (c *common) client() (*uploader.Client, error) {
	if c.timeout < 0 {
		return nil, cli.Usagef("--timeout %s: expected a positive duration such as 30m", c.timeout)
	}
	cfg := uploader.Config{CAFile: c.ca, Timeout: c.timeout, Progress: c.progress, OnWait: c.onWait, TrustOnFirstUse: c.tofu}
	if c.ca != "" {
		if _, err := os.Stat(c.ca); err != nil {
			return nil, cli.WithHint(fmt.Errorf("--ca %s: %w", c.ca, unwrapPath(err)), "give the CA certificate file, e.g. the emulator's STATE/ca.pem")
		}
	}
	if c.tokenEnv != "" {
		if !secret.ValidEnvName(c.tokenEnv) {
			// Not echoed: it may be the token itself, pasted in place of
			// the variable's name.
			return nil, cli.WithHint(errors.New("--token-env: not an environment variable name (letters, digits and _, not starting with a digit); not shown in case it is the token itself"),
				"put the token in a variable and give its name, e.g. export KR_TOKEN=... and --token-env KR_TOKEN")
		}
		tok := os.Getenv(c.tokenEnv)
		if strings.TrimSpace(tok) == "" {
			return nil, cli.WithHint(fmt.Errorf("--token-env %s: the environment variable is empty or unset", c.tokenEnv),
				"export the bearer token in that variable, e.g. "+c.tokenEnv+"=$(az account get-access-token --resource https://vault.azure.net --query accessToken -o tsv)")
		}
		cfg.Token = strings.TrimSpace(tok)
	}
	if configHook != nil {
		configHook(&cfg)
	}
	cl, err := uploader.New(cfg)
	if errors.Is(err, uploader.ErrStandInToken) {
		return nil, cli.WithHint(err, "give --token-env NAME with any token for the emulator (it accepts any); a real vault needs no --ca")
	}
	if err != nil {
		return nil, cli.WithHint(err, "sign in with `az login`, set the AZURE_* environment variables, or use --token-env NAME")
	}
	return cl, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func parse(fs *flag.FlagSet, args []string) error {
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.Usagef("unexpected argument %q", pos[0])
	}
	return nil
}

// checkOut refuses an existing output before anything is sent to the service.
func checkOut(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return cli.WithHint(fmt.Errorf("--out %s already exists", path), "outputs are never overwritten; choose a new file name or move the old file away")
	}
	return nil
}

// Input size limits: a certificate is a few KiB, a restore blob well under
// a MiB; anything far larger is the wrong file and is refused unread.
const (
	maxCertFile = 1 << 20
	maxBlobFile = 16 << 20
)

// readInput reads the file given to flag, refusing one larger than limit.
// Its errors name the flag and file, never the content.
func readInput(flag, path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, unwrapPath(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, unwrapPath(err))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s %s is larger than %d KiB", flag, path, limit>>10)
	}
	return data, nil
}

func writeOut(path string, data []byte, perm os.FileMode) error {
	if err := fsx.WriteNew(path, data, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return cli.WithHint(fmt.Errorf("--out %s already exists", path), "outputs are never overwritten; choose a new file name")
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// serviceErr adds the hints that fit a failed service call.
func serviceErr(err error) error {
	var se *uploader.ServiceError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case errors.Is(err, uploader.ErrBusy):
		return cli.WithHint(err, "the service is throttling or unavailable; try again later, or give a longer --timeout (a Retry-After that ends within it is waited for)")
	case errors.Is(err, uploader.ErrOutcomeUnknown):
		return cli.WithHint(err, "look at the key's versions in the vault (az keyvault key list-versions) before trying again; a second import or create makes a second version")
	case errors.Is(err, uploader.ErrRedirect), errors.Is(err, uploader.ErrResponseTooLarge), errors.Is(err, uploader.ErrUnexpectedKid):
		return cli.WithHint(err, "that server does not answer as Key Vault or Managed HSM do: check the URL and any proxy between you and the vault; look in the vault for what it holds before trying again")
	case errors.As(err, &ua) || errors.As(err, &hn):
		return cli.WithHint(err, "the server's TLS certificate is not trusted for this host; for the emulator give its CA with --ca STATE/ca.pem")
	case errors.Is(err, uploader.ErrURL):
		return cli.WithHint(err, "give the vault's URL as the portal shows it, e.g. https://contoso.vault.azure.net; for the emulator add --ca STATE/ca.pem")
	case errors.As(err, &se) && (se.Status == 401 || se.Status == 403):
		return cli.WithHint(err, "check that your identity has the Key Vault / Managed HSM role for this operation")
	case errors.As(err, &se) && se.Status == 400:
		return cli.WithHint(err, "the service refused the request; its message above says why")
	case errors.Is(err, uploader.ErrKCVMismatch):
		return cli.WithHint(err, "do not use that key: the HSM holds an AES key other than the one the ceremony exported; compare the transcript's kcv with the source HSM's key check value")
	case errors.Is(err, uploader.ErrPublicKeyMismatch):
		return cli.WithHint(err, "do not use that key: the vault holds a key other than the one the ceremony exported; compare the transcript's public key with `az keyvault key show`")
	case errors.Is(err, uploader.ErrNoTrust):
		return cli.WithHint(err, "give --trust FILE, the trust file naming whose signatures the ceremony needs; or, knowingly, --trust-on-first-use to act on whoever signed it (recorded in the ceremony with their keys)")
	case errors.Is(err, uploader.ErrCeremony):
		return cli.WithHint(err, "check the ceremony with `keyrite transcript verify DIR`; it must verify and be signed")
	}
	return err
}

func runVersion(e *env, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := parse(fs, args); err != nil {
		return err
	}
	bi := buildinfo.Read()
	fmt.Fprintf(e.stdout, "%s %s (%s, %s)\n", prog, bi.Version, bi.Revision, bi.GoVersion)
	return nil
}

func runKEKCreate(e *env, args []string) error {
	fs := flag.NewFlagSet("kek create", flag.ContinueOnError)
	var c common
	c.register(fs)
	vault := fs.String("vault", "", "vault or Managed HSM `URL`")
	name := fs.String("name", "", "`NAME` of the key exchange key")
	size := fs.Int("size", 2048, "RSA size in `BITS`: 2048, 3072 or 4096")
	out := fs.String("out", "", "`FILE` to write the KEK's public key to (PEM)")
	c.registerKeyTimeout(fs, e.stderr)
	cli.Required(fs, "vault", "name", "out")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *size != 2048 && *size != 3072 && *size != 4096 {
		return cli.Usagef("--size %d: expected 2048, 3072 or 4096", *size)
	}
	if err := checkOut(*out); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	kek, err := cl.CreateKEK(e.ctx, *vault, *name, *size)
	if err != nil {
		return serviceErr(err)
	}
	if err := writeOut(*out, kek.PEM, 0o644); err != nil {
		return cli.WithHint(fmt.Errorf("the KEK was created as %s but %w", kek.Kid, err),
			"download its public key with `az keyvault key download --id "+kek.Kid+" --file KEK.pem`")
	}
	// The words `keyrite kek inspect` shows for this file offline: the same
	// parser, so the same bytes (the SPKI DER) are hashed.
	off, err := byok.ParseKEK(kek.PEM, kek.Kid)
	if err != nil {
		return err
	}
	fp := off.Fingerprint()
	if c.json {
		return cli.PrintJSON(e.stdout, map[string]any{"kid": kek.Kid, "size": *size, "out": *out, "spki_sha256": fp.Hex(), "words": fp.Words()})
	}
	fmt.Fprintln(e.stdout, kek.Kid)
	fmt.Fprintf(e.stderr, "%s: wrote %s (RSA-%d, SPKI SHA-256 %s)\n%s: words: %s\n", prog, *out, *size, fp.Hex(), prog, fp.Words())
	return nil
}

func readTrust(path string) (*transcripts.Trust, error) {
	if path == "" {
		return nil, nil
	}
	t, err := transcripts.ReadTrust(path)
	if err != nil {
		return nil, cli.WithHint(fmt.Errorf("--trust %s: %w", path, err), "give the trust file the ceremony's signers agreed on")
	}
	return t, nil
}

func runImport(e *env, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	var c common
	c.register(fs)
	dir := fs.String("ceremony", "", "ceremony `DIR` whose signed transcript records the exports")
	vault := fs.String("vault", "", "vault or Managed HSM `URL`")
	trustFile := fs.String("trust", "", "trust `FILE`: whose signatures the transcript needs")
	c.registerTOFU(fs)
	c.registerKeyTimeout(fs, e.stderr)
	cli.Required(fs, "ceremony", "vault")
	if err := parse(fs, args); err != nil {
		return err
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		return cli.WithHint(fmt.Errorf("--ceremony %s is not a directory", *dir), "give the ceremony directory carried from the offline workstation")
	}
	trust, err := readTrust(*trustFile)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	out, err := cl.ImportCeremony(e.ctx, *dir, *vault, trust)
	if !c.json {
		for _, o := range out {
			printImport(e.stdout, o)
		}
	}
	mismatch := errors.Is(err, uploader.ErrPublicKeyMismatch) || errors.Is(err, uploader.ErrKCVMismatch)
	if err != nil && !(c.json && mismatch) {
		return serviceErr(err)
	}
	if c.json {
		// A key that is not the one exported: the result is printed (the
		// key was imported, the check failed) and the command fails.
		if perr := cli.PrintJSON(e.stdout, importSummary(out, err)); perr != nil || err == nil {
			return perr
		}
		return serviceErr(err)
	}
	return nil
}

// printImport prints one key's outcome: what was done, and each check with
// its reason. An AES key's public-key check is "not applicable" (it has no
// public part), never a false alarm: its check is the key check value.
func printImport(w io.Writer, o uploader.ImportOutcome) {
	state := "imported"
	switch {
	case o.Skipped:
		state = "already imported"
	case o.Mismatch:
		state = "MISMATCH: imported"
	}
	fmt.Fprintf(w, "%s %s as %s\n", state, o.Name, o.Kid)
	if o.PublicKeyMatch != nil {
		fmt.Fprintf(w, "  public_key_match=%t: %s\n", *o.PublicKeyMatch, o.MatchReason)
	} else {
		fmt.Fprintf(w, "  public key: not applicable (an AES key has no public part; checked by its key check value)\n")
	}
	if o.KCVMatch != nil {
		fmt.Fprintf(w, "  kcv_match=%t: %s\n", *o.KCVMatch, o.KCVReason)
	}
}

// importSummary is the --json result of an import: the batch summarised
// truthfully at the top (how many keys, which were verified, which failed),
// each key's own results only under "imports". "kid" at the top is the
// key's kid for a one-key ceremony, null for a batch. "public_key_match" at the top is true only when
// every key that has a public part holds the one recorded offline, null
// when no key has one (AES only); "kcv_match" likewise for AES keys.
func importSummary(out []uploader.ImportOutcome, err error) map[string]any {
	res := map[string]any{"keys": len(out), "imports": out}
	imported, skipped, verified := 0, 0, 0
	failed := []string{}
	unverified := []string{}
	var pub, kcv *bool
	and := func(acc **bool, v *bool) {
		if v == nil {
			return
		}
		if *acc == nil {
			*acc = new(true)
		}
		**acc = **acc && *v
	}
	for _, o := range out {
		if o.Skipped {
			skipped++
		} else {
			imported++
		}
		switch {
		case o.Mismatch:
			failed = append(failed, o.Name)
		case o.Verified:
			verified++
		default:
			unverified = append(unverified, o.Name)
		}
		and(&pub, o.PublicKeyMatch)
		and(&kcv, o.KCVMatch)
	}
	res["imported"], res["already_imported"], res["verified"] = imported, skipped, verified
	res["failed"], res["not_verified"] = failed, unverified
	res["public_key_match"] = pub
	if kcv != nil {
		res["kcv_match"] = *kcv
	}
	res["all_verified"] = err == nil && len(out) > 0 && verified == len(out)
	res["ok"] = err == nil
	// The contract's "kid" is always there: the key's kid for one key,
	// null for a batch (each key's is under "imports").
	res["kid"] = nil
	if len(out) == 1 {
		res["kid"] = out[0].Kid
	}
	return res
}

func runSDExchangeKey(e *env, args []string) error {
	fs := flag.NewFlagSet("sd exchange-key", flag.ContinueOnError)
	var c common
	c.register(fs)
	hsm := fs.String("hsm", "", "Managed HSM `URL`")
	out := fs.String("out", "", "`FILE` to write the exchange key certificate to (PEM)")
	cli.Required(fs, "hsm", "out")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOut(*out); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	cert, pemData, _, err := cl.ExchangeKey(e.ctx, *hsm)
	if err != nil {
		return serviceErr(err)
	}
	if err := writeOut(*out, pemData, 0o644); err != nil {
		return err
	}
	x := securitydomain.X5T256(cert)
	fp := exchangeKeyFingerprint(cert)
	if c.json {
		return cli.PrintJSON(e.stdout, map[string]any{"out": *out, "x5t_256": x, "sha256": fp.Hex(), "words": fp.Words()})
	}
	fmt.Fprintf(e.stdout, "exchange key certificate saved to %s (x5t#S256 %s)\n", *out, x)
	fmt.Fprintf(e.stderr, "%s: certificate SHA-256 %s\n%s: words: %s\n", prog, fp.Hex(), prog, fp.Words())
	return nil
}

// exchangeKeyFingerprint is the exchange key's fingerprint as both sides
// show it, so that the witness at the offline workstation can compare the
// words read out here: the SHA-256 of the certificate's DER (cert.Raw, the
// bytes x5t#S256 is the base64url SHA-256 of; the same whether the service
// sent it as PEM or in a transfer-key JSON), which the guided restore of
// keyrite shows as words.Sum(Cert.Raw) of the exchange key file it reads.
func exchangeKeyFingerprint(cert *x509.Certificate) words.Fingerprint {
	return words.Sum(cert.Raw)
}

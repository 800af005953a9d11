package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/internal/online/uploader"
	"github.com/keyrite/keyrite/securitydomain"
)

// The security-domain commands. The service keeps a download (activation)
// or upload (restore) InProgress for many minutes; these commands watch it
// for --timeout (30 minutes by default) with a progress line on a terminal,
// and when the time runs out report it still in progress (exit 3), never
// failed. `sd status` and --resume look again later without sending the
// operation a second time.

// progressPrinter returns the progress display for w: on a terminal one
// line rewritten in place, elsewhere a line whenever the status changes.
func progressPrinter(w io.Writer) func(uploader.Progress) {
	f, ok := w.(*os.File)
	tty := ok && term.IsTerminal(int(f.Fd()))
	var last string
	return func(p uploader.Progress) {
		status := p.Status
		if status == "" {
			status = "no answer (" + cli.OneLine(p.Details) + "), trying again"
		} else if p.Details != "" {
			status += ": " + cli.OneLine(p.Details)
		}
		line := fmt.Sprintf("%s: %s %s, %s elapsed", prog, p.Operation, status, p.Elapsed.Round(time.Second))
		if p.Next > 0 {
			line += fmt.Sprintf(", next look in %s", p.Next.Round(time.Second))
		}
		switch {
		case tty:
			fmt.Fprintf(w, "\r\033[K%s", line)
			if p.Next == 0 {
				fmt.Fprintln(w)
			}
		case status != last || p.Next == 0:
			fmt.Fprintln(w, line)
		}
		last = status
	}
}

// sdResult is the JSON of the security-domain commands' status.
func sdResult(st *uploader.Status, outcome string) map[string]any {
	res := map[string]any{"outcome": outcome}
	if st != nil {
		res["status"] = st.Status
		res["status_details"] = st.Details
		if st.Polls > 0 {
			res["polls"] = st.Polls
			res["watched_seconds"] = int(st.Elapsed.Seconds())
		}
	}
	return res
}

// Outcomes in --json.
const (
	outcomeDone       = "done"
	outcomeInProgress = "in_progress"
	outcomeNone       = "none"
)

// pendingErr turns a still-in-progress (or status-unknown) error into the
// pending report (exit 3) with the way to look again.
func pendingErr(err error, lookAgain string) error {
	if errors.Is(err, uploader.ErrStillInProgress) {
		return &cli.PendingError{Err: cli.WithHint(err, "the operation goes on at the HSM; it has not failed. Look again with "+lookAgain)}
	}
	if errors.Is(err, uploader.ErrStatusUnknown) {
		return cli.WithHint(err, "the operation may be going on at the HSM; look with "+lookAgain+" before doing anything else")
	}
	return err
}

// pending reports an operation that may still go on at the HSM: with
// --json, res when it is still in progress; the error is pendingErr's.
func (c *common) pending(e *env, res map[string]any, err error, lookAgain string) error {
	if c.json && errors.Is(err, uploader.ErrStillInProgress) {
		cli.PrintJSON(e.stdout, res)
	}
	return pendingErr(err, lookAgain)
}

func runSDDownload(e *env, args []string) error {
	fs := flag.NewFlagSet("sd download", flag.ContinueOnError)
	var c common
	c.register(fs)
	c.registerTimeout(fs)
	hsm := fs.String("hsm", "", "Managed HSM `URL`")
	var certFiles cli.Strings
	fs.Var(&certFiles, "cert", "custodian certificate `FILE` (PEM or DER); 3 to 10, repeat the flag")
	quorum := fs.Int("quorum", 0, "number `M` of custodians needed to restore (2 to 10, at most the number of certificates)")
	out := fs.String("out", "", "`FILE` to write the security domain to")
	resume := fs.Bool("resume", false, "send nothing: watch the activation an earlier run started, whose security domain it saved to --out")
	cli.Required(fs, "hsm", "out")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *resume {
		return resumeDownload(e, &c, *hsm, *out, certFiles, *quorum)
	}
	n := len(certFiles)
	if n < securitydomain.MinCustodians || n > securitydomain.MaxCustodians {
		return cli.WithHint(cli.Usagef("%d --cert given; expected %d to %d", n, securitydomain.MinCustodians, securitydomain.MaxCustodians),
			"give one --cert per custodian")
	}
	if *quorum < securitydomain.MinQuorum || *quorum > securitydomain.MaxQuorum || *quorum > n {
		return cli.WithHint(cli.Usagef("--quorum %d: expected %d to %d and at most the %d certificates", *quorum, securitydomain.MinQuorum, securitydomain.MaxQuorum, n),
			"the quorum is how many custodians must come together to restore")
	}
	if err := checkOut(*out); err != nil {
		return cli.WithHint(err, "if an earlier run saved the security domain there, watch its activation with --resume instead: activation happens once")
	}
	certs, err := readCerts(certFiles)
	if err != nil {
		return err
	}
	c.progress = progressPrinter(e.stderr)
	cl, err := c.client()
	if err != nil {
		return err
	}
	wrote := false
	d, err := cl.DownloadSecurityDomain(e.ctx, *hsm, certs, *quorum, func(sd []byte) error {
		// The SD is encrypted to the custodians, but it is the HSM's only
		// backup of its keys: keep it to the owner.
		if err := writeOut(*out, sd, 0o600); err != nil {
			return err
		}
		wrote = true
		return nil
	})
	resumeCmd := fmt.Sprintf("`%s sd download --resume --hsm %s --out %s` (or `sd status --hsm %s --operation download`)", prog, *hsm, *out, *hsm)
	if err != nil {
		var ar *uploader.AlreadyRequestedError
		switch {
		case errors.As(err, &ar):
			return cli.WithHint(err, "activation happens once and a second download would start a second one; if an earlier run saved the security domain, watch it with `"+prog+" sd download --resume --hsm URL --out FILE`; look with `"+prog+" sd status --hsm URL`")
		case wrote && (errors.Is(err, uploader.ErrStillInProgress) || errors.Is(err, uploader.ErrStatusUnknown)):
			return c.pending(e, withSDFile(sdResult(d.Status, outcomeInProgress), *out, d.SD),
				fmt.Errorf("the security domain was saved to %s; %w", *out, err), resumeCmd)
		case wrote:
			return cli.WithHint(fmt.Errorf("the security domain was saved to %s, but %w", *out, err), "keep that file safe: it is the only copy; check the HSM's status with `"+prog+" sd status` before anything else")
		case d != nil && d.SD != nil:
			return cli.WithHint(err, "the HSM returned a security domain that could not be saved; check the HSM's status")
		}
		return pendingErr(serviceErr(err), fmt.Sprintf("`%s sd status --hsm %s --operation download`", prog, *hsm))
	}
	return c.sdDone(e, d.Status, *out, d.SD, n, *quorum,
		fmt.Sprintf("security domain saved to %s (%d custodians, quorum %d); HSM status: %s", *out, n, *quorum, d.Status.Status))
}

// readCerts reads the custodians' certificates, refusing one given twice.
func readCerts(files []string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, f := range files {
		data, err := readInput("--cert", f, maxCertFile)
		if err != nil {
			return nil, cli.WithHint(err, "give each custodian's certificate file")
		}
		cert, err := securitydomain.ParseCertificate(data)
		if err != nil {
			return nil, cli.WithHint(fmt.Errorf("--cert %s: %w", f, err), "give a PEM or DER X.509 certificate")
		}
		for i, prev := range certs {
			if prev.Equal(cert) {
				return nil, cli.WithHint(fmt.Errorf("--cert %s is the same certificate as --cert %s", f, files[i]), "each custodian needs their own key and certificate")
			}
		}
		certs = append(certs, cert)
	}
	return certs, nil
}

// resumeDownload watches the activation an earlier `sd download` started:
// the security domain it saved must be at out (and, with --cert and
// --quorum, wrapped to those certificates with that quorum); nothing is
// sent but status requests.
func resumeDownload(e *env, c *common, hsm, out string, certFiles []string, quorum int) error {
	data, err := readInput("--out", out, 16<<20)
	if err != nil {
		return cli.WithHint(err, "with --resume, --out names the security domain an earlier run saved")
	}
	sd, err := securitydomain.ParseSD(data)
	if err != nil {
		return cli.WithHint(fmt.Errorf("--out %s: %w", out, err), "with --resume, --out names the security domain an earlier run saved")
	}
	if len(certFiles) > 0 || quorum != 0 {
		certs, err := readCerts(certFiles)
		if err != nil {
			return err
		}
		if err := uploader.CheckSD(data, certs, quorum); err != nil {
			return cli.WithHint(fmt.Errorf("--out %s: %w", out, err), "give the certificates and quorum the activation was asked for, or leave them out")
		}
	}
	c.progress = progressPrinter(e.stderr)
	cl, err := c.client()
	if err != nil {
		return err
	}
	st, err := cl.SDStatus(e.ctx, hsm, "download", true)
	if err != nil {
		if !errors.Is(err, uploader.ErrOperationFailed) {
			return c.pending(e, sdResult(st, outcomeInProgress), serviceErr(err), fmt.Sprintf("`%s sd download --resume --hsm %s --out %s`", prog, hsm, out))
		}
		return cli.WithHint(err, "the activation failed: the saved security domain is not the HSM's; keep it until you know why")
	}
	if st == nil {
		return cli.WithHint(errors.New("the HSM reports no security-domain download"), "check the --hsm URL; an activation that was never started cannot be resumed")
	}
	return c.sdDone(e, st, out, data, len(sd.Shares), sd.Required,
		fmt.Sprintf("activation finished; security domain %s (%d custodians, quorum %d); HSM status: %s", out, len(sd.Shares), sd.Required, st.Status))
}

// withSDFile adds the saved security domain's file and fingerprint to res.
func withSDFile(res map[string]any, out string, sd []byte) map[string]any {
	fp := words.Sum(sd)
	res["out"], res["sha256"], res["words"] = out, fp.Hex(), fp.Words()
	return res
}

// sdDone reports an activation that finished, its security domain saved
// at out: with --json its result, else line and the SD's fingerprint.
func (c *common) sdDone(e *env, st *uploader.Status, out string, sd []byte, certificates, quorum int, line string) error {
	if c.json {
		res := withSDFile(sdResult(st, outcomeDone), out, sd)
		res["certificates"], res["quorum"] = certificates, quorum
		return cli.PrintJSON(e.stdout, res)
	}
	fp := words.Sum(sd)
	fmt.Fprintln(e.stdout, line)
	fmt.Fprintf(e.stderr, "%s: SHA-256 %s\n%s: words: %s\n", prog, fp.Hex(), prog, fp.Words())
	return nil
}

func runSDUpload(e *env, args []string) error {
	fs := flag.NewFlagSet("sd upload", flag.ContinueOnError)
	var c common
	c.register(fs)
	c.registerTimeout(fs)
	hsm := fs.String("hsm", "", "Managed HSM `URL`")
	dir := fs.String("ceremony", "", "ceremony `DIR` whose signed transcript records the restore")
	blobFile := fs.String("blob", "", "restore blob `FILE` (as 'keyrite sd restore' or 'az keyvault security-domain restore-blob' writes it)")
	trustFile := fs.String("trust", "", "trust `FILE` (with --ceremony)")
	resume := fs.Bool("resume", false, "send nothing: watch the upload an earlier run started (and record it, with --ceremony)")
	c.registerTOFU(fs)
	cli.Required(fs, "hsm")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*dir == "") == (*blobFile == "") {
		return cli.WithHint(cli.Usagef("give exactly one of --ceremony and --blob"), "--ceremony DIR uploads the blob its signed transcript recorded; --blob FILE uploads a file as is")
	}
	if (*trustFile != "" || c.tofu) && *dir == "" {
		return cli.Usagef("--trust and --trust-on-first-use go with --ceremony")
	}
	trust, err := readTrust(*trustFile)
	if err != nil {
		return err
	}
	var blob []byte
	if *blobFile != "" {
		blob, err = readInput("--blob", *blobFile, maxBlobFile)
		if err != nil {
			return cli.WithHint(err, "give the restore blob file `keyrite sd restore` wrote")
		}
		if len(strings.TrimSpace(string(blob))) == 0 {
			return cli.WithHint(fmt.Errorf("--blob %s is empty", *blobFile), "give the restore blob `keyrite sd restore` wrote")
		}
	}
	c.progress = progressPrinter(e.stderr)
	cl, err := c.client()
	if err != nil {
		return err
	}
	lookAgain := fmt.Sprintf("`%s sd upload --resume --hsm %s --blob %s`", prog, *hsm, *blobFile)
	if *dir != "" {
		lookAgain = fmt.Sprintf("`%s sd upload --resume --hsm %s --ceremony %s` (which records what it sees)", prog, *hsm, *dir)
	}
	var st *uploader.Status
	switch {
	case *dir != "":
		st, err = cl.UploadCeremony(e.ctx, *dir, *hsm, trust, *resume)
	case *resume:
		st, err = cl.SDStatus(e.ctx, *hsm, "upload", true)
		if err == nil && st == nil {
			err = cli.WithHint(errors.New("the HSM reports no security-domain upload"), "check the --hsm URL; an upload that was never sent cannot be resumed")
		}
	default:
		st, err = cl.UploadSecurityDomain(e.ctx, *hsm, blob)
	}
	if err != nil {
		var ar *uploader.AlreadyRequestedError
		if errors.As(err, &ar) {
			return cli.WithHint(err, "a restore is under way at the HSM; watch it with "+lookAgain)
		}
		return c.pending(e, sdResult(st, outcomeInProgress), serviceErr(err), lookAgain)
	}
	if c.json {
		return cli.PrintJSON(e.stdout, sdResult(st, outcomeDone))
	}
	fmt.Fprintf(e.stdout, "security domain uploaded; HSM status: %s\n", st.Status)
	return nil
}

func runSDStatus(e *env, args []string) error {
	fs := flag.NewFlagSet("sd status", flag.ContinueOnError)
	var c common
	c.register(fs)
	c.registerTimeout(fs)
	hsm := fs.String("hsm", "", "Managed HSM `URL`")
	op := fs.String("operation", "", "`OP`: download (activation) or upload (restore); both when not given")
	wait := fs.Bool("wait", false, "watch an operation in progress until it finishes or --timeout runs out")
	cli.Required(fs, "hsm")
	if err := parse(fs, args); err != nil {
		return err
	}
	ops := []string{"download", "upload"}
	switch *op {
	case "":
	case "download", "upload":
		ops = []string{*op}
	default:
		return cli.Usagef("--operation %q: expected download or upload", *op)
	}
	if *wait {
		c.progress = progressPrinter(e.stderr)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	res := map[string]any{}
	var pending error
	for _, o := range ops {
		st, err := cl.SDStatus(e.ctx, *hsm, o, *wait)
		switch {
		case err != nil && errors.Is(err, uploader.ErrStillInProgress):
			pending = err
			res[o] = sdResult(st, outcomeInProgress)
		case err != nil && errors.Is(err, uploader.ErrOperationFailed):
			res[o] = sdResult(st, outcomeDone)
		case err != nil:
			return serviceErr(err)
		case st == nil:
			res[o] = map[string]any{"outcome": outcomeNone}
		case !st.Done():
			res[o] = sdResult(st, outcomeInProgress)
		default:
			res[o] = sdResult(st, outcomeDone)
		}
		if !c.json {
			printStatus(e.stdout, o, st)
		}
	}
	if c.json {
		if err := cli.PrintJSON(e.stdout, res); err != nil {
			return err
		}
	}
	if pending != nil {
		return pendingErr(pending, fmt.Sprintf("`%s sd status --hsm %s --wait`", prog, *hsm))
	}
	return nil
}

func printStatus(w io.Writer, op string, st *uploader.Status) {
	what := map[string]string{"download": "download (activation)", "upload": "upload (restore)"}[op]
	switch {
	case st == nil:
		fmt.Fprintf(w, "%s: none requested\n", what)
	case st.Details != "":
		fmt.Fprintf(w, "%s: %s: %s\n", what, st.Status, cli.OneLine(st.Details))
	default:
		fmt.Fprintf(w, "%s: %s\n", what, st.Status)
	}
}

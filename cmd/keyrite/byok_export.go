package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/secret"
)

const usageBYOKExport = "usage: keyrite byok export --key SRC --kek FILE [--kid URL] --out OUT.byok [--name NAME] [--ops LIST] [--ceremony DIR] [--json]" +
	"; batch: keyrite byok export --key SRC --key SRC... | --keys FILE --kek FILE [--kid URL] --out-dir DIR [--ops LIST]"

type exportOpts struct {
	keys      cli.Strings
	keysFile  string
	kekPath   string
	kid       string
	out       string
	outDir    string
	name      string
	ops       string
	ceremony  string
	asJSON    bool
	rehearsal bool
	twoStep   bool
	kwp       string
	pin       *secret.Source
	finalTry  *bool
}

func runBYOKExport(e *env, args []string) error {
	var o exportOpts
	fset := flag.NewFlagSet("byok export", flag.ContinueOnError)
	fset.Var(&o.keys, "key", "the target key `SRC`: a PKCS#11 URI with module-path, or a key file (repeat for a batch)")
	fset.StringVar(&o.keysFile, "keys", "", "a `FILE` listing target keys, one SRC per line (batch)")
	fset.StringVar(&o.kekPath, "kek", "", "the KEK public key `FILE` (PEM, or JSON of az keyvault key show)")
	fset.StringVar(&o.kid, "kid", "", "the KEK's key identifier `URL`, with version")
	fset.StringVar(&o.out, "out", "", "the .byok `FILE` to write (must not exist)")
	fset.StringVar(&o.outDir, "out-dir", "", "batch: the `DIR` to write one NAME.byok per key into (must not exist)")
	fset.StringVar(&o.name, "name", "", "the imported key's `NAME` in the vault (default: the object label or file base name)")
	fset.StringVar(&o.ops, "ops", "", "the imported key's key_ops, comma-separated `LIST` (default: all the key type supports)")
	fset.StringVar(&o.ceremony, "ceremony", "", "record the step in this ceremony `DIR`")
	fset.BoolVar(&o.asJSON, "json", false, "print one JSON object")
	fset.BoolVar(&o.rehearsal, "rehearsal", false, "proceed when the pre-flight check fails, recording a deviation (rehearsals only)")
	fset.BoolVar(&o.twoStep, "two-step", false, "use the two-step wrap even if the HSM offers CKM_RSA_AES_KEY_WRAP")
	fset.StringVar(&o.kwp, "kwp-mechanism", "0x210A", "the padded AES key wrap mechanism `ID` of the two-step path (0x210A CKM_AES_KEY_WRAP_PAD; 0x210B CKM_AES_KEY_WRAP_KWP)")
	o.pin = secret.Register(fset, "pin", "PIN")
	o.finalTry = registerFinalPINTry(fset)
	pos, err := cli.Parse(fset, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.WithHint(cli.Usagef("byok export: unexpected argument %q", pos[0]), usageBYOKExport)
	}
	req, err := o.request()
	if err != nil {
		return err
	}
	req.Login = loginOptions(e, *o.finalTry)
	req.Notify = func(note string) { fmt.Fprintf(e.stderr, "keyrite: note: %s\n", note) }
	res, err := export.Run(req)
	if err != nil {
		return exportErr(err)
	}
	return report(e, &o, res)
}

// request checks the flags and the KEK and makes the export request;
// export.Run checks the rest (outputs, sources, names, ops) before any HSM
// session.
func (o *exportOpts) request() (export.Request, error) {
	var req export.Request
	srcs := slices.Clone([]string(o.keys))
	if o.keysFile != "" {
		more, err := readKeysFile(o.keysFile)
		if err != nil {
			return req, err
		}
		srcs = append(srcs, more...)
	}
	batch := o.outDir != "" || o.keysFile != "" || len(srcs) > 1
	switch {
	case len(srcs) == 0:
		return req, cli.WithHint(cli.Usagef("byok export: --key is required"), usageBYOKExport)
	case o.kekPath == "":
		return req, cli.WithHint(cli.Usagef("byok export: --kek is required"), usageBYOKExport)
	case o.out != "" && o.outDir != "":
		return req, cli.WithHint(cli.Usagef("byok export: give --out (one key) or --out-dir (a batch), not both"), usageBYOKExport)
	case batch && o.outDir == "":
		return req, cli.WithHint(cli.Usagef("byok export: %d keys given; a batch needs --out-dir DIR (one NAME.byok per key)", len(srcs)), usageBYOKExport)
	case !batch && o.out == "":
		return req, cli.WithHint(cli.Usagef("byok export: --out is required"), usageBYOKExport)
	case batch && o.name != "":
		return req, cli.WithHint(cli.Usagef("byok export: --name names one key; a batch takes each key's name from its object label or file name"), "export the key on its own with --out and --name, or relabel it")
	}
	kwpMech, err := parseMechanism(o.kwp)
	if err != nil {
		return req, err
	}
	var ops []string
	if o.ops != "" {
		if ops, err = parseOps(o.ops); err != nil {
			return req, err
		}
	}
	if o.name != "" {
		if err := export.CheckName(o.name); err != nil {
			return req, cli.WithHint(cli.Usagef("byok export: --name %q: %v", o.name, err), "a vault key name is 1-127 letters, digits and hyphens")
		}
	}
	kek, err := loadKEK(o.kekPath, o.kid)
	if err != nil {
		return req, err
	}
	if kek.Kid == "" {
		return req, cli.WithHint(cli.Usagef("byok export: --kid is required: the KEK file %s carries no key identifier", o.kekPath), hintKid)
	}
	return export.Request{
		KEK: kek, Keys: srcs, Out: o.out, OutDir: o.outDir, Name: o.name, Ops: ops,
		Options:     export.Options{TwoStep: o.twoStep, KWPMechanism: kwpMech, Rehearsal: o.rehearsal},
		PIN:         o.readPIN,
		PINEarly:    o.pin.Given(),
		CeremonyDir: o.ceremony,
	}, nil
}

// readPIN reads the token's PIN from --pin-env, --pin-file or the terminal.
func (o *exportOpts) readPIN(prompt string) ([]byte, error) {
	pin, err := o.pin.Read(prompt)
	if errors.Is(err, secret.ErrNoTerminal) {
		return nil, cli.WithHint(fmt.Errorf("the token's PIN is needed: %w", err), "give it with --pin-env NAME or --pin-file PATH")
	}
	return pin, err
}

// exportErr makes an export error a usage error (exit 2) when the request
// itself was malformed; its text and hints stay.
func exportErr(err error) error {
	var xe *export.Error
	if errors.As(err, &xe) && xe.Usage {
		return cli.WithHint(&cli.UsageError{Msg: xe.Msg}, xe.Hint...)
	}
	return err
}

func readKeysFile(path string) ([]string, error) {
	data, err := readLimited(path, "--keys file", 1<<20)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsAny(line, "\t ") && !hsm.IsURI(line) {
			return nil, cli.WithHint(fmt.Errorf("--keys file %s, line %d: one source per line; found %q", path, n, line), "list one PKCS#11 URI or key file per line; # starts a comment")
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--keys file %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, cli.WithHint(fmt.Errorf("--keys file %s lists no keys", path), "list one PKCS#11 URI or key file per line")
	}
	return out, nil
}

func parseMechanism(s string) (uint, error) {
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil || v == 0 {
		return 0, cli.WithHint(cli.Usagef("byok export: --kwp-mechanism %q is not a mechanism id", s), "give it in hex: 0x210A (CKM_AES_KEY_WRAP_PAD, SoftHSM) or 0x210B (CKM_AES_KEY_WRAP_KWP, PKCS#11 3.0)")
	}
	return uint(v), nil
}

func parseOps(s string) ([]string, error) {
	var ops []string
	for _, op := range strings.Split(s, ",") {
		op = strings.TrimSpace(op)
		switch {
		case op == "":
			return nil, cli.WithHint(cli.Usagef("byok export: --ops %q has an empty entry", s), "give a comma-separated list such as sign,verify")
		case op == "import":
			return nil, cli.WithHint(cli.Usagef("byok export: --ops: import is for KEKs only, not for an imported key"), "give the operations the key is for, such as sign,verify")
		case slices.Contains(ops, op):
			return nil, cli.Usagef("byok export: --ops lists %q twice", op)
		case !slices.Contains([]string{"sign", "verify", "encrypt", "decrypt", "wrapKey", "unwrapKey"}, op):
			return nil, cli.WithHint(cli.Usagef("byok export: --ops: unknown operation %q", op), "key_ops are sign, verify, encrypt, decrypt, wrapKey, unwrapKey (case-sensitive)")
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func report(e *env, o *exportOpts, res *export.Result) error {
	for _, r := range res.Keys {
		for _, d := range r.Deviations {
			fmt.Fprintf(e.stderr, "keyrite: warning: %s\n", d)
		}
	}
	if o.asJSON {
		if o.outDir == "" {
			return cli.PrintJSON(e.stdout, res.Keys[0])
		}
		return cli.PrintJSON(e.stdout, struct {
			OutDir string             `json:"out_dir"`
			Kid    string             `json:"kid"`
			Keys   []export.KeyResult `json:"keys"`
		}{o.outDir, res.Kid, res.Keys})
	}
	for i, r := range res.Keys {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		if res.AlreadyDone {
			fmt.Fprintf(e.stdout, "exists:     %s\n", r.Out)
		} else {
			fmt.Fprintf(e.stdout, "wrote:      %s\n", r.Out)
		}
		if r.Resumed {
			fmt.Fprintf(e.stdout, "resumed:    recorded by event %d of an earlier run (not wrapped again)\n", r.Seq)
		}
		fmt.Fprintf(e.stdout, "key:        %s (%s)\n", r.Key, r.Target)
		fmt.Fprintf(e.stdout, "name:       %s\n", r.Name)
		fmt.Fprintf(e.stdout, "kty:        %s", r.Kty)
		if r.Crv != "" {
			fmt.Fprintf(e.stdout, " %s", r.Crv)
		}
		fmt.Fprintf(e.stdout, "\nkey_ops:    %s\n", strings.Join(r.Ops, ","))
		fmt.Fprintf(e.stdout, "kek kid:    %s\n", r.Kid)
		fmt.Fprintf(e.stdout, "mechanism:  %s\n", r.Mechanism)
		if r.Preflight != nil {
			status := "passed"
			if !r.Preflight.Passed {
				status = "FAILED (rehearsal): " + r.Preflight.Reason
			}
			fmt.Fprintf(e.stdout, "pre-flight: %s\n", status)
		}
		switch {
		case r.KCV != "":
			fmt.Fprintf(e.stdout, "kcv:        %s\n", r.KCV)
		case r.KCVNote != "":
			fmt.Fprintf(e.stdout, "kcv:        %s\n", r.KCVNote)
		}
		fmt.Fprintf(e.stdout, "generator:  %s\n", r.Generator)
		fmt.Fprintf(e.stdout, "sha256:     %s\n", r.SHA256)
		fmt.Fprintf(e.stdout, "words:      %s\n", r.Words)
	}
	return nil
}

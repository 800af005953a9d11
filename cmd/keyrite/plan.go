package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/keyrite/keyrite/ceremony/plan"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/transcripts"
)

const hintPlanKinds = "plan kinds: byok (export keys under a KEK), activation (a Managed HSM's custodians and quorum), restore (a security domain from a quorum)"

// runPlanNew writes the commented template of a kind of plan.
func runPlanNew(e *env, args []string) error {
	fset := flag.NewFlagSet("plan new", flag.ContinueOnError)
	cli.Positional(fset, "byok|activation|restore")
	out := fset.String("out", "", "write the template to `FILE` (never overwritten; default: stdout)")
	pos, err := cli.Parse(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.WithHint(cli.Usagef("plan new: want one plan kind, got %d arguments", len(pos)), "usage: keyrite plan new byok|activation|restore [--out FILE]", hintPlanKinds)
	}
	tmpl, err := plan.Template(pos[0])
	if err != nil {
		return cli.WithHint(cli.Usagef("plan new: %s", strings.TrimPrefix(err.Error(), "plan ")), hintPlanKinds)
	}
	if *out == "" {
		_, err := e.stdout.Write(tmpl)
		return err
	}
	if err := fsx.WriteNew(*out, tmpl, 0o644); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return cli.WithHint(fmt.Errorf("--out %s: already exists; a plan is never overwritten", *out), "choose another file name, or edit the existing plan")
		}
		return err
	}
	fmt.Fprintf(e.stderr, "keyrite: note: wrote %s; fill in every %q value, then run `keyrite plan check %s`\n", *out, plan.Placeholder, *out)
	return nil
}

// readPlan reads and checks a plan. A plan with several problems has each
// printed as an error line; the last is returned.
func readPlan(e *env, path string) (*plan.Plan, error) {
	p, err := plan.Read(path)
	if err == nil {
		return p, nil
	}
	hint := "fix the plan and check it again; `keyrite plan new KIND` writes a commented template"
	var perrs *plan.Errors
	if errors.As(err, &perrs) && len(perrs.List) > 0 {
		for i := 0; i < len(perrs.List)-1; i++ {
			fmt.Fprintf(e.stderr, "keyrite: error: %s\n", cli.OneLine(perrs.Line(i)))
		}
		msg := perrs.Line(len(perrs.List) - 1)
		if n := len(perrs.List); n > 1 {
			hint = fmt.Sprintf("%d problems in %s; ", n, path) + hint
		}
		return nil, cli.WithHint(&cli.Reworded{Msg: msg, Err: err}, hint)
	}
	return nil, cli.WithHint(err, "give the plan file (YAML), e.g. one written by `keyrite plan new byok --out plan.yaml`")
}

// readSig reads a plan's signature file; nil, nil when there is none.
func readSig(path string) ([]byte, error) {
	data, err := fsx.ReadLimited(path, "plan signature file", 64<<10)
	if err != nil {
		if _, serr := os.Lstat(path); errors.Is(serr, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return data, nil
}

// planReport is plan check's --json output.
type planReport struct {
	Plan   string       `json:"plan"`
	Kind   string       `json:"kind"`
	Name   string       `json:"name"`
	SHA256 string       `json:"sha256"`
	Words  string       `json:"words"`
	Review *plan.Review `json:"review"`
	Steps  []plan.Step  `json:"steps"`
}

func runPlanCheck(e *env, args []string) error {
	fset := flag.NewFlagSet("plan check", flag.ContinueOnError)
	cli.Positional(fset, "PLAN")
	format := fset.String("format", "text", "print the script as `text` or markdown (for printing, with initials columns)")
	asJSON := fset.Bool("json", false, "print JSON: the plan's digest, review and steps")
	requireReview := fset.Bool("require-review", false, "fail unless the plan's review policy is met by valid signatures over this version")
	pos, err := cli.Parse(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.WithHint(cli.Usagef("plan check: want one plan file, got %d arguments", len(pos)), "usage: keyrite plan check PLAN [--format text|markdown] [--json]")
	}
	if *format != plan.FormatText && *format != plan.FormatMarkdown {
		return cli.Usagef("plan check: --format %q: want text or markdown", *format)
	}
	p, err := readPlan(e, pos[0])
	if err != nil {
		return err
	}
	sig, err := readSig(plan.SigPath(pos[0]))
	if err != nil {
		return err
	}
	review := p.CheckReview(sig)
	if *requireReview && !review.Met {
		msg := fmt.Sprintf("%s: review policy %s not met", pos[0], review.Policy)
		switch {
		case review.Stale != "":
			msg += ": " + plan.SigPath(pos[0]) + " " + review.Stale
		case len(review.Signed) > 0:
			msg += fmt.Sprintf(": signed by %s only", strings.Join(review.Signed, ", "))
		default:
			msg += ": no valid reviewer signature"
		}
		return cli.WithHint(errors.New(msg), "each reviewer signs this version: `keyrite plan sign "+pos[0]+" --key SRC`")
	}
	if *asJSON {
		return cli.PrintJSON(e.stdout, planReport{Plan: pos[0], Kind: p.Kind, Name: p.Name, SHA256: p.Digest.Hex(),
			Words: p.Digest.Words(), Review: review, Steps: p.Steps})
	}
	return p.WriteScript(e.stdout, *format, review)
}

func runPlanSign(e *env, args []string) error {
	fset := flag.NewFlagSet("plan sign", flag.ContinueOnError)
	cli.Positional(fset, "PLAN")
	keySrc := fset.String("key", "", "signing key: PEM file or PKCS#11 URI")
	name := fset.String("name", "", "your name as the plan lists you (default: the person whose key this is)")
	asJSON := fset.Bool("json", false, "print JSON")
	pin := secret.Register(fset, "pin", "PIN")
	finalTry := registerFinalPINTry(fset)
	pos, err := cli.Parse(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.WithHint(cli.Usagef("plan sign: want one plan file, got %d arguments", len(pos)), "usage: keyrite plan sign PLAN --key SRC [--name NAME]")
	}
	if *keySrc == "" {
		return cli.WithHint(cli.Usagef("plan sign: --key is required"), hintSignKey)
	}
	path := pos[0]
	// The plan file is locked while its signature file is read and
	// written: two reviewers signing at once both get their signature in.
	lock, err := os.Open(path)
	if err != nil {
		return cli.WithHint(fmt.Errorf("plan %s: %w", path, fsx.UnwrapPathErr(err)), "give the plan file")
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", path, err)
	}
	p, err := readPlan(e, path)
	if err != nil {
		return err
	}
	login := loginOptions(e, *finalTry)
	warn, seen := login.Warn, map[string]bool{}
	login.Warn = func(msg string) { // the check before the PIN and the login's own say it once
		if !seen[msg] {
			seen[msg] = true
			warn(msg)
		}
	}
	key, err := plan.OpenKey(*keySrc, pin.Read, login)
	if err != nil {
		return planKeyError(err)
	}
	defer key.Close()
	who, ok := p.ReviewerFor(key.Public())
	if !ok {
		policy := p.CheckReview(nil).Policy
		if tk, known := p.ReviewTrust().KeyFor(key.Public()); known {
			return cli.WithHint(fmt.Errorf("this is %s's key (%s); the plan's review policy (%s) does not count %s signatures", tk.Name, tk.Role, policy, tk.Role),
				"the plan is signed by the people its policy.review names")
		}
		return cli.WithHint(fmt.Errorf("this key is not in the plan: no person listed signs with it (review policy %s)", policy),
			"sign with your own key as the plan lists it under people; `keyrite transcript sign --key SRC --name NAME --print-key` prints a key's verifier key")
	}
	if *name != "" && *name != who.Name {
		return cli.WithHint(fmt.Errorf("--name %s, but the plan lists this key as %s's", *name, who.Name), "leave out --name: the plan names the signer")
	}
	s, err := transcripts.NewSigner(who.Name, key)
	if err != nil {
		return err
	}
	sigPath := plan.SigPath(path)
	existing, err := readSig(sigPath)
	if err != nil {
		return err
	}
	signed, err := p.Sign(s, existing)
	switch {
	case errors.Is(err, plan.ErrStale):
		return cli.WithHint(fmt.Errorf("%s: %w", sigPath, err),
			"the plan changed after those signatures, so they count for nothing: move "+sigPath+" away and have every reviewer sign this version")
	case errors.Is(err, plan.ErrAlreadySigned):
		return cli.WithHint(fmt.Errorf("%s: %s %w", sigPath, who.Name, plan.ErrAlreadySigned), "nothing to do; `keyrite plan check "+path+"` shows the review")
	case err != nil:
		return fmt.Errorf("%s: %s", sigPath, err.Error())
	}
	if existing == nil {
		err = fsx.WriteNew(sigPath, signed, 0o644)
	} else {
		err = fsx.Replace(sigPath, signed, 0o644)
	}
	if err != nil {
		return err
	}
	review := p.CheckReview(signed)
	if *asJSON {
		return cli.PrintJSON(e.stdout, map[string]any{"plan": path, "sha256": p.Digest.Hex(), "signer": who.Name,
			"role": who.Role, "signature_file": sigPath, "review": review})
	}
	fmt.Fprintf(e.stdout, "signed %s (sha256 %s) as %s (%s) in %s\n", path, p.Digest.Hex(), who.Name, who.Role, sigPath)
	fmt.Fprintf(e.stdout, "words: %s\n", p.Digest.Short())
	state := "met"
	if !review.Met {
		state = "not met yet"
	}
	fmt.Fprintf(e.stdout, "review policy %s: %s (signed: %s)\n", review.Policy, state, strings.Join(review.Signed, ", "))
	return nil
}

// planKeyError gives an error opening a reviewer's key its hint.
func planKeyError(err error) error {
	msg := strings.NewReplacer("transcripts: ", "", "hsm: ", "").Replace(err.Error())
	hint := hintSignKey
	switch {
	case errors.Is(err, hsm.ErrPINLocked):
		hint = hintPINLocked
	case errors.Is(err, hsm.ErrPINFinalTry):
		hint = hintPINFinalTry
	case errors.Is(err, hsm.ErrPINIncorrect):
		hint = "check the PIN; every failed login counts towards the token's lockout"
	}
	return cli.WithHint(&cli.Reworded{Msg: msg, Err: err}, hint)
}

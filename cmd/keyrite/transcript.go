package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/replay"
	"github.com/keyrite/keyrite/transcripts/signop"
)

const (
	hintSignKey = "give --key an Ed25519 or ECDSA P-256 PKCS#8 PEM private key file (e.g. `openssl genpkey -algorithm ed25519 -out operator.pem`), or a PKCS#11 URI of an ECDSA P-256 key on a token: 'pkcs11:token=LABEL;object=KEY?module-path=/path/to/module.so'"
	hintTrust   = "a trust file is JSON: {\"keys\":[{\"name\":\"alice\",\"role\":\"operator\",\"key\":\"alice+1a2b3c4d+AX...\"}],\"policy\":{\"operator\":1,\"witness\":1}}; each key as `keyrite transcript sign --key SRC --print-key` prints it"
)

func runTranscriptSign(e *env, args []string) error {
	fs := flag.NewFlagSet("transcript sign", flag.ContinueOnError)
	cli.Positional(fs, "[DIR]")
	keySrc := fs.String("key", "", "signing key: PEM file or PKCS#11 URI")
	role := fs.String("role", signop.DefaultRole, "the role you sign in: operator, witness, custodian, ... (with --trust: the trust file's role for the key)")
	name := fs.String("name", "", "signer name (default: with --trust, the trust file's name for the key; else the key file's base name or the token object's label); part of the verifier key, so sign and --print-key must use the same")
	trustFile := fs.String("trust", "", "trust `FILE`: sign under the name and role it gives this key, so the signature counts for its policy")
	printKey := fs.Bool("print-key", false, "print the key's public verifier key (for trust files), named as signing with the same flags names it, and exit")
	asJSON := fs.Bool("json", false, "print JSON")
	pin := secret.Register(fs, "pin", "PIN")
	finalTry := registerFinalPINTry(fs)
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if *keySrc == "" {
		return cli.WithHint(cli.Usagef("transcript sign: --key is required"), hintSignKey)
	}
	if *printKey && len(pos) > 0 {
		return cli.Usagef("transcript sign --print-key: takes no ceremony directory, got %q", pos[0])
	}
	if !*printKey && len(pos) != 1 {
		return cli.WithHint(cli.Usagef("transcript sign: want one ceremony directory, got %d arguments", len(pos)), "usage: keyrite transcript sign DIR --key SRC [--role ROLE] [--name NAME | --trust FILE]")
	}
	req := signop.Request{Key: *keySrc, Name: *name, TrustFile: *trustFile, PIN: pin.Read, Login: loginOptions(e, *finalTry)}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "role" {
			req.Role = *role
		}
	})
	if !*printKey {
		req.Dir = pos[0]
	}
	op, err := req.Validate()
	if err != nil {
		return signError(req, err)
	}
	defer op.Close()
	if *printKey {
		id, err := op.Identity()
		if err != nil {
			return signError(req, err)
		}
		fmt.Fprintf(e.stderr, "keyrite: note: the key is named %q (%s); %s, or its signatures will not match this verifier key\n", id.Name, nameFrom(id.NameFrom, *trustFile), sameNameAdvice(*name, *trustFile, id.Name))
		if *asJSON {
			return cli.PrintJSON(e.stdout, map[string]string{"name": id.Name, "key_id": id.KeyID, "key_type": id.KeyType, "key": id.VerifierKey})
		}
		fmt.Fprintln(e.stdout, id.VerifierKey)
		return nil
	}
	res, err := op.Run()
	if err != nil {
		return signError(req, err)
	}
	return printSign(e, req.Dir, res, *asJSON)
}

func printSign(e *env, dir string, res *signop.Result, asJSON bool) error {
	if res.Recovered != nil {
		fmt.Fprintf(e.stderr, "keyrite: note: %s\n", res.Recovered)
	}
	if len(res.RemovedTemp) > 0 {
		fmt.Fprintf(e.stderr, "keyrite: note: an interrupted sign left %s; removed\n", strings.Join(res.RemovedTemp, ", "))
	}
	if asJSON {
		return cli.PrintJSON(e.stdout, res.SignResult)
	}
	fmt.Fprintf(e.stdout, "signed %s at size %d as %s (%s)\n", dir, res.Checkpoint.Size, res.Signer, res.Role)
	fmt.Fprintf(e.stdout, "  checkpoint  %s\n", res.Checkpoint.Origin)
	fmt.Fprintf(e.stdout, "  root hash   %s\n", res.Checkpoint.RootHash)
	fmt.Fprintf(e.stdout, "  words       %s\n", res.Words)
	fmt.Fprintf(e.stdout, "  key         %s (%s, key id %s)\n", res.VerifierKey, res.KeyType, res.KeyID)
	fmt.Fprintf(e.stdout, "  wrote       %s\n", res.NoteFile)
	fmt.Fprintf(e.stdout, "  wrote       %s\n", res.DSSEFile)
	return nil
}

// nameFrom says, for people, where a signer's name comes from.
func nameFrom(s signop.NameSource, trustFile string) string {
	switch s {
	case signop.NameFromTrust:
		return "as trust file " + trustFile + " names this key"
	case signop.NameFromRequest:
		return "--name"
	case signop.NameFromToken:
		return "the token object's label"
	}
	return "the key file's base name"
}

// signError gives an error of the sign operation its hint, chosen by its
// type and sentinels; the library's text is kept, or reworded from the
// error's fields (a TrustError names the flag).
func signError(req signop.Request, err error) error {
	var (
		te *signop.TrustError
		ke *signop.KeyError
	)
	switch {
	case errors.As(err, &te):
		return trustError(req, te)
	case errors.As(err, &ke):
		return cli.WithHint(err, hintSignKey)
	case errors.Is(err, transcripts.ErrTrust):
		return cli.WithHint(err, hintTrust)
	case errors.Is(err, signop.ErrNotCeremony):
		return cli.WithHint(err, "give the ceremony directory the steps were recorded in (their --ceremony DIR)")
	case errors.Is(err, signop.ErrPIN):
		return cli.WithHint(err, "give the PIN with --pin-env NAME or --pin-file PATH, or run on a terminal")
	case errors.Is(err, transcripts.ErrKey):
		return cli.WithHint(err, "name the signer with --name NAME (letters, digits, . _ @ / -)", hintSignKey)
	case errors.Is(err, hsm.ErrPINLocked):
		return cli.WithHint(err, hintPINLocked)
	case errors.Is(err, hsm.ErrPINFinalTry):
		return cli.WithHint(err, hintPINFinalTry)
	case errors.Is(err, hsm.ErrPINIncorrect):
		return cli.WithHint(err, "check the PIN; every failed login counts towards the token's lockout")
	case hsm.IsURI(req.Key) && isHSMError(err):
		return cli.WithHint(err, hintSignKey)
	}
	return transcriptErr(req.Dir, err)
}

// isHSMError reports whether err is one of package hsm's.
func isHSMError(err error) bool {
	for _, kind := range []error{hsm.ErrURI, hsm.ErrModuleLoad, hsm.ErrTokenNotFound, hsm.ErrObjectNotFound, hsm.ErrAmbiguous,
		hsm.ErrTokenNotRecognized, hsm.ErrGeneral, hsm.ErrNotLoggedIn, hsm.ErrKeyFunctionNotPermitted, hsm.ErrMechanismInvalid} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}

// trustError rewords a disagreement with the trust file in the flags'
// terms, from the error's fields.
func trustError(req signop.Request, te *signop.TrustError) error {
	switch te.Field {
	case "key":
		return cli.WithHint(&cli.Reworded{Msg: fmt.Sprintf("this key is not in trust file %s (under any name)", te.TrustFile), Err: te},
			"sign without --trust, or add the key to the trust file: `keyrite transcript sign --key SRC --name NAME --print-key` prints the entry's \"key\"")
	case "name":
		return cli.WithHint(&cli.Reworded{Msg: fmt.Sprintf("--name %s, but trust file %s knows this key as %q", te.Given, te.TrustFile, te.Trusted), Err: te},
			fmt.Sprintf("leave out --name: with --trust the signer is named as the trust file names the key (%s); a signature under another name would not count", te.Trusted))
	}
	return cli.WithHint(&cli.Reworded{Msg: fmt.Sprintf("--role %s, but trust file %s gives %s the role %s", te.Given, te.TrustFile, te.Signer, te.Trusted), Err: te},
		"leave out --role: with --trust the trust file's role is used; a signature in another role would not count")
}

// sameNameAdvice says how to sign so that the signature matches a key
// printed with these flags.
func sameNameAdvice(flagName, trustFile, name string) string {
	switch {
	case trustFile != "":
		return "sign with --trust " + trustFile + " (or --name " + name + ")"
	case flagName != "":
		return "sign with --name " + name + " too"
	}
	return "sign without --name (or with --name " + name + ")"
}

func runTranscriptVerify(e *env, args []string) error {
	fs := flag.NewFlagSet("transcript verify", flag.ContinueOnError)
	cli.Positional(fs, "DIR")
	trustFile := fs.String("trust", "", "trust file: whose signatures count and how many are required")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.WithHint(cli.Usagef("transcript verify: want one ceremony directory, got %d arguments", len(pos)), "usage: keyrite transcript verify DIR [--trust FILE] [--json]")
	}
	dir := pos[0]
	trust, err := loadTrust(*trustFile)
	if err != nil {
		return err
	}
	rep, verr := transcripts.Verify(dir, trust)
	if *asJSON {
		if err := cli.PrintJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		printTranscriptVerify(e, rep, trust)
	}
	if verr != nil {
		return verifyFailed(dir, *trustFile, rep)
	}
	return nil
}

func loadTrust(path string) (*transcripts.Trust, error) {
	if path == "" {
		return nil, nil
	}
	t, err := transcripts.ReadTrust(path)
	if err != nil {
		return nil, cli.WithHint(err, hintTrust)
	}
	return t, nil
}

func printTranscriptVerify(e *env, rep *transcripts.Report, trust *transcripts.Trust) {
	w := e.stdout
	fmt.Fprintf(w, "ceremony %s\n", rep.Dir)
	if rep.Origin != "" {
		fmt.Fprintf(w, "  origin      %s\n", rep.Origin)
	}
	fmt.Fprintf(w, "  events      %d verified (%d lines)\n", len(rep.Events), rep.Lines)
	fmt.Fprintf(w, "  artifacts   %d\n", len(rep.Artifacts))
	for _, cp := range rep.Checkpoints {
		var who []string
		for _, s := range cp.Signatures {
			t := ""
			switch {
			case trust != nil && s.TrustedAs != "":
				t = fmt.Sprintf(", a key the trust file knows as %q", s.TrustedAs)
			case trust != nil && !s.Trusted:
				t = ", not in the trust file"
			}
			who = append(who, fmt.Sprintf("%s (%s, %s%s)", s.Name, s.Role, s.KeyType, t))
		}
		fmt.Fprintf(w, "  checkpoint  size %d, root %s… [%s]\n", cp.Size, cp.RootHash[:16], cp.Words)
		fmt.Fprintf(w, "              signed by %s\n", strings.Join(who, ", "))
	}
	if len(rep.Checkpoints) == 0 {
		fmt.Fprintf(w, "  signatures  none\n")
	}
	if rep.Unsigned > 0 {
		fmt.Fprintf(w, "  unsigned    %d event(s) after the signed state: the online side's notes, signed by no one; they carry no authority\n", rep.Unsigned)
	}
	if trust == nil && len(rep.Checkpoints) > 0 {
		fmt.Fprintf(w, "  signers     NOT CHECKED: no --trust file, so the signatures verify but say nothing about who made them (anyone can make a key named \"operator\")\n")
	}
	if trust != nil && rep.Policy != nil {
		if rep.Policy.Met {
			fmt.Fprintf(w, "  policy      %s met at size %d\n", trust.PolicyString(), rep.Policy.Checkpoint.Size)
		} else {
			fmt.Fprintf(w, "  policy      %s NOT met\n", trust.PolicyString())
		}
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  FAIL        %s\n", p)
	}
	if rep.OK {
		fmt.Fprintf(w, "ok\n")
	}
}

func verifyFailed(dir, trustFile string, rep *transcripts.Report) error {
	if trustFile == "" {
		trustFile = "TRUST.json"
	}
	n := len(rep.Problems)
	first := rep.Problems[0]
	// What kinds of problem these are, by their typed errors: a trusted key
	// signing under another name, or a policy not met, is not tampering.
	var names []*transcripts.SignerNameError
	// interrupted: every problem is what an interrupted step or sign left
	// (or the policy a signature it kept from being made does not meet).
	interrupted, policyOnly := true, true
	signLeft, stepLeft := false, false
	for _, p := range rep.Problems {
		switch {
		case errors.Is(p.Err(), transcripts.ErrInterruptedSign):
			signLeft = true
		case p.Interrupted:
			stepLeft = true
		case !errors.Is(p.Err(), transcripts.ErrPolicyNotMet):
			interrupted = false
		}
		var ne *transcripts.SignerNameError
		switch {
		case errors.As(p.Err(), &ne):
			names = append(names, ne)
		case errors.Is(p.Err(), transcripts.ErrPolicyNotMet):
		default:
			policyOnly = false
		}
	}
	if policyOnly && len(names) > 0 {
		ne := names[0]
		msg := fmt.Sprintf("%s: %s is signed by the key named %q in the signature (key ID %s), but the trust file knows this key as %q (key ID %s), so the signature does not count for the trust policy",
			dir, ne.File, ne.Name, ne.KeyID, ne.TrustedName, ne.TrustedKeyID)
		if len(names) > 1 {
			msg += fmt.Sprintf(" (and %d more such signature(s), listed above)", len(names)-1)
		}
		hints := []string{
			"nothing was tampered with: the transcript, its artifacts and signatures verify; the signer's name differs from the trust file's, and a signed note's key is its name and public key together",
			fmt.Sprintf("sign again under the trust file's name: `keyrite transcript sign %s --key KEY --trust %s` (or --name %s)", dir, trustFile, ne.TrustedName),
		}
		if ne.KeyID == ne.TrustedKeyID {
			// ECDSA: the key ID (and so the file name) does not depend on
			// the name, and a signature file is never overwritten.
			base := strings.TrimSuffix(ne.File, ".note")
			hints[1] = fmt.Sprintf("sign again under the trust file's name: this key's ID does not depend on the name, so first move %s.note and %s.dsse.json out of %s, then `keyrite transcript sign %s --key KEY --trust %s`", base, base, dir, dir, trustFile)
		}
		hints = append(hints, fmt.Sprintf("or, if %q is the name you mean, put the key `keyrite transcript sign --key KEY --name %s --print-key` prints into the trust file", ne.Name, ne.Name))
		return cli.WithHint(&cli.Reworded{Msg: msg, Err: ne}, hints...)
	}
	if policyOnly {
		msg := fmt.Sprintf("%s: %s", dir, first)
		if n > 1 {
			msg = fmt.Sprintf("%s: %s (and %d more problem(s), listed above)", dir, first, n-1)
		}
		return cli.WithHint(&cli.Reworded{Msg: msg, Err: transcripts.ErrPolicyNotMet},
			"the transcript, its artifacts and signatures verify; what is missing is signatures by the keys the trust file requires",
			fmt.Sprintf("each signer runs `keyrite transcript sign %s --key KEY --trust %s` (the trust file gives the name and role)", dir, trustFile))
	}
	hints := []string{}
	if interrupted && (signLeft || stepLeft) {
		if signLeft {
			hints = append(hints, fmt.Sprintf("an interrupted `keyrite transcript sign` left this (nothing was tampered with): run `keyrite transcript sign %s --key ...` again; the leftover will be removed", dir))
		}
		if stepLeft {
			hints = append(hints, fmt.Sprintf("an interrupted step left this; `keyrite transcript sign %s --key ...` or the next recorded step closes it with an explicit aborted record", dir))
		}
	} else {
		hints = append(hints, "do not act on this ceremony; compare it with the copy the signers kept and find out who changed it")
	}
	msg := fmt.Sprintf("%s does not verify: %s", dir, first)
	if n > 1 {
		msg = fmt.Sprintf("%s does not verify (%d problems, all listed above); first: %s", dir, n, first)
	}
	return cli.WithHint(&cli.Reworded{Msg: msg, Err: transcripts.ErrVerify}, hints...)
}

// transcriptErr gives an error of a ceremony directory its hint.
func transcriptErr(dir string, err error) error {
	switch {
	case errors.Is(err, transcripts.ErrAlreadySigned):
		return cli.WithHint(err, "each key signs a given state once; nothing to do")
	case errors.Is(err, transcripts.ErrBusy):
		return cli.WithHint(err, "wait for the other keyrite command working in "+dir+" to finish")
	case errors.Is(err, transcripts.ErrVerify), errors.Is(err, transcripts.ErrCorrupt):
		return cli.WithHint(err, "run `keyrite transcript verify "+dir+"` to see every problem")
	}
	return err
}

func runTranscriptShow(e *env, args []string) error {
	fs := flag.NewFlagSet("transcript show", flag.ContinueOnError)
	cli.Positional(fs, "DIR")
	trustFile := fs.String("trust", "", "trust file (optional): show who counts for the policy")
	asJSON := fs.Bool("json", false, "print JSON")
	tuiFlag := fs.Bool("tui", false, "browse the events, signatures and problems full-screen (read-only; needs a terminal)")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.WithHint(cli.Usagef("transcript show: want one ceremony directory, got %d arguments", len(pos)), "usage: keyrite transcript show DIR [--trust FILE] [--json]")
	}
	dir := pos[0]
	if *tuiFlag {
		return runTranscriptShowTUI(e, dir, *trustFile, *asJSON)
	}
	trust, err := loadTrust(*trustFile)
	if err != nil {
		return err
	}
	rep, verr := transcripts.Verify(dir, trust)
	if rep.Origin == "" && len(rep.Events) == 0 {
		return verifyFailed(dir, *trustFile, rep)
	}
	play := replay.Replay(rep)
	if *asJSON {
		if err := cli.PrintJSON(e.stdout, struct {
			Verify *transcripts.Report `json:"verify"`
			Replay *replay.Script      `json:"replay"`
		}{rep, play}); err != nil {
			return err
		}
	} else {
		play.Render(e.stdout)
		if len(rep.Problems) > 0 {
			fmt.Fprintln(e.stdout)
			for _, p := range rep.Problems {
				fmt.Fprintf(e.stdout, "FAIL %s\n", p)
			}
		}
	}
	if verr != nil {
		return verifyFailed(dir, *trustFile, rep)
	}
	if f := play.Failed(); len(f) > 0 {
		return cli.WithHint(fmt.Errorf("%s: %d re-check(s) failed; first: %s", dir, len(f), f[0]), "the recorded artifacts do not say what the transcript says; do not act on this ceremony")
	}
	return nil
}

package main

import (
	"crypto"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/replay"
)

const (
	hintSignKey = "give --key an Ed25519 or ECDSA P-256 PKCS#8 PEM private key file (e.g. `openssl genpkey -algorithm ed25519 -out operator.pem`), or a PKCS#11 URI of an ECDSA P-256 key on a token: 'pkcs11:token=LABEL;object=KEY?module-path=/path/to/module.so'"
	hintTrust   = "a trust file is JSON: {\"keys\":[{\"name\":\"alice\",\"role\":\"operator\",\"key\":\"alice+1a2b3c4d+AX...\"}],\"policy\":{\"operator\":1,\"witness\":1}}; each key as `keyrite transcript sign --key SRC --print-key` prints it"
)

// signingKey is an opened signing key, before it is given a name.
type signingKey struct {
	key     crypto.Signer
	defName string // the default name: the token object's label or the key file's base name
	defWhy  string // where defName comes from, for people
	release func()
}

// openSigningKey opens the signing key named by src: a PEM file or a
// PKCS#11 URI (PIN from pin, the token's PIN counter treated as login
// says). The caller calls release.
func openSigningKey(src string, pin *secret.Source, login hsm.LoginOptions) (*signingKey, error) {
	if hsm.IsURI(src) {
		u, err := hsm.ParseURI(src)
		if err != nil {
			return nil, cli.WithHint(fmt.Errorf("--key: %w", err), hintSignKey)
		}
		// The PIN counter is read before anyone types a PIN: a locked PIN,
		// or the last try without --final-pin-try, is refused without
		// asking. OpenSignerWith reads it again right before C_Login.
		check, err := checkSignerPIN(u, login)
		if err != nil {
			return nil, tokenSignerError(err)
		}
		p, err := pin.Read(fmt.Sprintf("PIN for token %q: ", u.Token))
		if err != nil {
			check.Close()
			return nil, cli.WithHint(fmt.Errorf("reading the PIN: %w", err), "give the PIN with --pin-env NAME or --pin-file PATH, or run on a terminal")
		}
		ts, err := hsm.OpenSignerWith(u, p, login) // wipes p
		if err != nil {
			check.Close()
			return nil, tokenSignerError(err)
		}
		return &signingKey{key: ts, defName: u.Object, defWhy: "the token object's label", release: func() { ts.Close(); check.Close() }}, nil
	}
	data, err := readLimited(src, "signing key file", 64<<10)
	if err != nil {
		return nil, cli.WithHint(err, hintSignKey)
	}
	key, err := transcripts.ParseSigningKeyPEM(data)
	secret.Wipe(data)
	if err != nil {
		return nil, cli.WithHint(fmt.Errorf("signing key file %s: %s", src, strings.TrimPrefix(err.Error(), "transcripts: ")), hintSignKey)
	}
	name := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
	return &signingKey{key: key, defName: name, defWhy: "the key file's base name", release: func() {}}, nil
}

// signerName is the one rule that names a signer, for --print-key and for
// signing alike, so that a printed verifier key and the signatures made
// with the same flags always agree: with a trust file, the name it gives
// this public key (a different --name is refused); else --name; else the
// token object's label or the key file's base name. It returns the name,
// the trust file's role for the key ("" without one) and, for people,
// where the name comes from.
func signerName(k *signingKey, flagName string, trust *transcripts.Trust, trustFile string) (name, role, why string, err error) {
	if trust != nil {
		tk, ok := trust.KeyFor(k.key.Public())
		if !ok {
			return "", "", "", cli.WithHint(&cli.Reworded{Msg: fmt.Sprintf("this key is not in trust file %s (under any name)", trustFile), Err: errNotTrusted},
				"sign without --trust, or add the key to the trust file: `keyrite transcript sign --key SRC --name NAME --print-key` prints the entry's \"key\"")
		}
		if flagName != "" && flagName != tk.Name {
			return "", "", "", cli.WithHint(&cli.Reworded{Msg: fmt.Sprintf("--name %s, but trust file %s knows this key as %q", flagName, trustFile, tk.Name), Err: errNotTrusted},
				fmt.Sprintf("leave out --name: with --trust the signer is named as the trust file names the key (%s); a signature under another name would not count", tk.Name))
		}
		return tk.Name, tk.Role, "as trust file " + trustFile + " names this key", nil
	}
	if flagName != "" {
		return flagName, "", "--name", nil
	}
	return k.defName, "", k.defWhy, nil
}

var errNotTrusted = errors.New("the key and the trust file disagree")

// loadModule loads the PKCS#11 module for the PIN check before the PIN is
// asked for (tests put a decorated module in its place, to play a token's
// PIN counter).
var loadModule = hsm.Load

// checkSignerPIN reads the PIN counter of the token u names, without a PIN
// (see hsm.Session.CheckPIN). It returns the module, loaded, for the caller
// to close after the signer (hsm.Load shares it with OpenSignerWith).
func checkSignerPIN(u *hsm.URI, login hsm.LoginOptions) (*hsm.Module, error) {
	if u.ModulePath == "" {
		return nil, fmt.Errorf("%w: %s has no module-path", hsm.ErrURI, u.Redacted())
	}
	m, err := loadModule(u.ModulePath)
	if err != nil {
		return nil, err
	}
	slot, err := m.FindToken(u.TokenFilter())
	if err != nil {
		m.Close()
		return nil, err
	}
	s, err := m.OpenSession(slot)
	if err != nil {
		m.Close()
		return nil, err
	}
	_, err = s.CheckPIN(login)
	s.Close()
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// tokenSignerError gives an error opening a signing key on a token the
// hint for what went wrong: the PIN counter's first (a wrong PIN that
// leaves the last try, or locks the token, matches those too).
func tokenSignerError(err error) error {
	hint := hintSignKey
	switch {
	case errors.Is(err, hsm.ErrPINLocked):
		hint = hintPINLocked
	case errors.Is(err, hsm.ErrPINFinalTry):
		hint = hintPINFinalTry
	case errors.Is(err, hsm.ErrPINIncorrect):
		hint = "check the PIN; every failed login counts towards the token's lockout"
	}
	return cli.WithHint(&cli.Reworded{Msg: strings.ReplaceAll(err.Error(), "hsm: ", ""), Err: err}, hint)
}

// warnOnce passes each warning on once: the check before the PIN is asked
// for and the login's own check would otherwise both give it.
func warnOnce(warn func(string)) func(string) {
	seen := map[string]bool{}
	return func(msg string) {
		if !seen[msg] {
			seen[msg] = true
			warn(msg)
		}
	}
}

// loadSigner opens the signing key src and names it by signerName. It
// returns the signer, the trust file's role for it ("" without one), where
// the name comes from, and a function releasing the token.
func loadSigner(src, flagName string, trust *transcripts.Trust, trustFile string, pin *secret.Source, login hsm.LoginOptions) (*transcripts.Signer, string, string, func(), error) {
	k, err := openSigningKey(src, pin, login)
	if err != nil {
		return nil, "", "", nil, err
	}
	name, role, why, err := signerName(k, flagName, trust, trustFile)
	if err != nil {
		k.release()
		return nil, "", "", nil, err
	}
	s, err := transcripts.NewSigner(name, k.key)
	if err != nil {
		k.release()
		return nil, "", "", nil, cli.WithHint(fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "transcripts: ")), "name the signer with --name NAME (letters, digits, . _ @ / -)", hintSignKey)
	}
	return s, role, why, k.release, nil
}

func runTranscriptSign(e *env, args []string) error {
	fs := flag.NewFlagSet("transcript sign", flag.ContinueOnError)
	cli.Positional(fs, "[DIR]")
	keySrc := fs.String("key", "", "signing key: PEM file or PKCS#11 URI")
	role := fs.String("role", "operator", "the role you sign in: operator, witness, custodian, ... (with --trust: the trust file's role for the key)")
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
	roleSet := false
	fs.Visit(func(f *flag.Flag) { roleSet = roleSet || f.Name == "role" })
	if *printKey && len(pos) > 0 {
		return cli.Usagef("transcript sign --print-key: takes no ceremony directory, got %q", pos[0])
	}
	if !*printKey && len(pos) != 1 {
		return cli.WithHint(cli.Usagef("transcript sign: want one ceremony directory, got %d arguments", len(pos)), "usage: keyrite transcript sign DIR --key SRC [--role ROLE] [--name NAME | --trust FILE]")
	}
	trust, err := loadTrust(*trustFile)
	if err != nil {
		return err
	}
	login := loginOptions(e, *finalTry)
	login.Warn = warnOnce(login.Warn)
	s, trustedRole, why, release, err := loadSigner(*keySrc, *name, trust, *trustFile, pin, login)
	if err != nil {
		return err
	}
	defer release()
	if trustedRole != "" {
		if roleSet && *role != trustedRole {
			return cli.WithHint(&cli.Reworded{Msg: fmt.Sprintf("--role %s, but trust file %s gives %s the role %s", *role, *trustFile, s.Name(), trustedRole), Err: errNotTrusted},
				"leave out --role: with --trust the trust file's role is used; a signature in another role would not count")
		}
		*role = trustedRole
	}
	if *printKey {
		fmt.Fprintf(e.stderr, "keyrite: note: the key is named %q (%s); %s, or its signatures will not match this verifier key\n", s.Name(), why, sameNameAdvice(*name, *trustFile, s.Name()))
		if *asJSON {
			return cli.PrintJSON(e.stdout, map[string]string{"name": s.Name(), "key_id": fmt.Sprintf("%08x", s.KeyHash()), "key_type": s.KeyType(), "key": s.VerifierKey()})
		}
		fmt.Fprintln(e.stdout, s.VerifierKey())
		return nil
	}
	dir := pos[0]
	res, err := transcripts.Sign(dir, s, *role)
	if err != nil {
		return transcriptErr(dir, err)
	}
	if res.Recovered != nil {
		fmt.Fprintf(e.stderr, "keyrite: note: %s\n", res.Recovered)
	}
	if len(res.RemovedTemp) > 0 {
		fmt.Fprintf(e.stderr, "keyrite: note: an interrupted sign left %s; removed\n", strings.Join(res.RemovedTemp, ", "))
	}
	if *asJSON {
		return cli.PrintJSON(e.stdout, res)
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
		return nil, cli.WithHint(fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "transcripts: ", "")), hintTrust)
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

func transcriptErr(dir string, err error) error {
	msg := strings.ReplaceAll(err.Error(), "transcripts: ", "")
	switch {
	case errors.Is(err, transcripts.ErrAlreadySigned):
		return cli.WithHint(&cli.Reworded{Msg: msg, Err: err}, "each key signs a given state once; nothing to do")
	case errors.Is(err, transcripts.ErrBusy):
		return cli.WithHint(&cli.Reworded{Msg: msg, Err: err}, "wait for the other keyrite command working in "+dir+" to finish")
	case errors.Is(err, transcripts.ErrVerify), errors.Is(err, transcripts.ErrCorrupt):
		return cli.WithHint(&cli.Reworded{Msg: msg, Err: err}, "run `keyrite transcript verify "+dir+"` to see every problem")
	}
	return &cli.Reworded{Msg: msg, Err: err}
}

func runTranscriptShow(e *env, args []string) error {
	fs := flag.NewFlagSet("transcript show", flag.ContinueOnError)
	cli.Positional(fs, "DIR")
	trustFile := fs.String("trust", "", "trust file (optional): show who counts for the policy")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.WithHint(cli.Usagef("transcript show: want one ceremony directory, got %d arguments", len(pos)), "usage: keyrite transcript show DIR [--trust FILE] [--json]")
	}
	dir := pos[0]
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

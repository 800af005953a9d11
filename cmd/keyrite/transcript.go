package main

import (
	"crypto"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/cli"
	"github.com/keyrite/keyrite/internal/secret"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/replay"
)

const (
	hintSignKey = "give --key an Ed25519 or ECDSA P-256 PKCS#8 PEM private key file (e.g. `openssl genpkey -algorithm ed25519 -out operator.pem`), or a PKCS#11 URI of an ECDSA P-256 key on a token: 'pkcs11:token=LABEL;object=KEY?module-path=/path/to/module.so'"
	hintTrust   = "a trust file is JSON: {\"keys\":[{\"name\":\"alice\",\"role\":\"operator\",\"key\":\"alice+1a2b3c4d+AX...\"}],\"policy\":{\"operator\":1,\"witness\":1}}; each key as `keyrite transcript sign --key SRC --print-key` prints it"
)

// loadSigner opens the signing key named by src: a PEM file or a PKCS#11
// URI (PIN from pin). It returns the signer and a function releasing the
// token.
func loadSigner(src, name string, pin *secret.Source) (*transcripts.Signer, func(), error) {
	var key crypto.Signer
	release := func() {}
	if hsm.IsURI(src) {
		u, err := hsm.ParseURI(src)
		if err != nil {
			return nil, nil, cli.WithHint(fmt.Errorf("--key: %w", err), hintSignKey)
		}
		p, err := pin.Read(fmt.Sprintf("PIN for token %q: ", u.Token))
		if err != nil {
			return nil, nil, cli.WithHint(fmt.Errorf("reading the PIN: %w", err), "give the PIN with --pin-env NAME or --pin-file PATH, or run on a terminal")
		}
		ts, err := hsm.OpenSigner(u, p) // wipes p
		if err != nil {
			return nil, nil, cli.WithHint(err, hintSignKey)
		}
		key, release = ts, func() { ts.Close() }
		if name == "" {
			name = u.Object
		}
	} else {
		data, err := readLimited(src, "signing key file", 64<<10)
		if err != nil {
			return nil, nil, cli.WithHint(err, hintSignKey)
		}
		key, err = transcripts.ParseSigningKeyPEM(data)
		secret.Wipe(data)
		if err != nil {
			return nil, nil, cli.WithHint(fmt.Errorf("signing key file %s: %s", src, strings.TrimPrefix(err.Error(), "transcripts: ")), hintSignKey)
		}
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
		}
	}
	s, err := transcripts.NewSigner(name, key)
	if err != nil {
		release()
		return nil, nil, cli.WithHint(fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "transcripts: ")), "name the signer with --name NAME (letters, digits, . _ @ / -)", hintSignKey)
	}
	return s, release, nil
}

func runTranscriptSign(e *env, args []string) error {
	fs := flag.NewFlagSet("transcript sign", flag.ContinueOnError)
	keySrc := fs.String("key", "", "signing key: PEM file or PKCS#11 URI")
	role := fs.String("role", "operator", "the role you sign in: operator, witness, custodian, ...")
	name := fs.String("name", "", "signer name (default: the key file's base name or the token object's label)")
	printKey := fs.Bool("print-key", false, "print the key's public verifier key (for trust files) and exit")
	asJSON := fs.Bool("json", false, "print JSON")
	pin := secret.Register(fs, "pin", "PIN")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if *keySrc == "" {
		return cli.WithHint(cli.Usagef("transcript sign: --key is required"), hintSignKey)
	}
	if *printKey {
		if len(pos) > 0 {
			return cli.Usagef("transcript sign --print-key: takes no ceremony directory, got %q", pos[0])
		}
		s, release, err := loadSigner(*keySrc, *name, pin)
		if err != nil {
			return err
		}
		release()
		if *asJSON {
			return cli.PrintJSON(e.stdout, map[string]string{"name": s.Name(), "key_id": fmt.Sprintf("%08x", s.KeyHash()), "key_type": s.KeyType(), "key": s.VerifierKey()})
		}
		fmt.Fprintln(e.stdout, s.VerifierKey())
		return nil
	}
	if len(pos) != 1 {
		return cli.WithHint(cli.Usagef("transcript sign: want one ceremony directory, got %d arguments", len(pos)), "usage: keyrite transcript sign DIR --key SRC [--role ROLE] [--name NAME]")
	}
	dir := pos[0]
	s, release, err := loadSigner(*keySrc, *name, pin)
	if err != nil {
		return err
	}
	defer release()
	res, err := transcripts.Sign(dir, s, *role)
	if err != nil {
		return transcriptErr(dir, err)
	}
	if res.Recovered != nil {
		fmt.Fprintf(e.stderr, "keyrite: note: %s\n", res.Recovered)
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

func runTranscriptVerify(e *env, args []string) error {
	fs := flag.NewFlagSet("transcript verify", flag.ContinueOnError)
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
		return verifyFailed(dir, rep)
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
			if trust != nil && !s.Trusted {
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

func verifyFailed(dir string, rep *transcripts.Report) error {
	n := len(rep.Problems)
	first := rep.Problems[0]
	hints := []string{}
	interrupted := true
	for _, p := range rep.Problems {
		interrupted = interrupted && p.Interrupted
	}
	if interrupted {
		hints = append(hints, fmt.Sprintf("an interrupted step left this; `keyrite transcript sign %s --key ...` or the next recorded step closes it with an explicit aborted record", dir))
	} else {
		hints = append(hints, "do not act on this ceremony; compare it with the copy the signers kept and find out who changed it")
	}
	msg := fmt.Sprintf("%s does not verify: %s", dir, first)
	if n > 1 {
		msg = fmt.Sprintf("%s does not verify (%d problems, all listed above); first: %s", dir, n, first)
	}
	return cli.WithHint(&cliError{msg: msg, err: transcripts.ErrVerify}, hints...)
}

func transcriptErr(dir string, err error) error {
	msg := strings.ReplaceAll(err.Error(), "transcripts: ", "")
	switch {
	case errors.Is(err, transcripts.ErrAlreadySigned):
		return cli.WithHint(&cliError{msg: msg, err: err}, "each key signs a given state once; nothing to do")
	case errors.Is(err, transcripts.ErrBusy):
		return cli.WithHint(&cliError{msg: msg, err: err}, "wait for the other keyrite command working in "+dir+" to finish")
	case errors.Is(err, transcripts.ErrVerify), errors.Is(err, transcripts.ErrCorrupt):
		return cli.WithHint(&cliError{msg: msg, err: err}, "run `keyrite transcript verify "+dir+"` to see every problem")
	}
	return &cliError{msg: msg, err: err}
}

func runTranscriptShow(e *env, args []string) error {
	fs := flag.NewFlagSet("transcript show", flag.ContinueOnError)
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
		return verifyFailed(dir, rep)
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
		return verifyFailed(dir, rep)
	}
	if f := play.Failed(); len(f) > 0 {
		return cli.WithHint(fmt.Errorf("%s: %d re-check(s) failed; first: %s", dir, len(f), f[0]), "the recorded artifacts do not say what the transcript says; do not act on this ceremony")
	}
	return nil
}

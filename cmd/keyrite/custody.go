package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"strings"

	"filippo.io/age/plugin"

	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/internal/custody"
)

// runCustodySplit implements
//
//	keyrite custody split --in FILE --threshold M --recipient R [--recipient R]... --out DIR [--ceremony DIR] [--json]
//
// FILE's bytes are split exactly as they are (a trailing newline is part of
// the secret). R is a recipient string or a file holding one.
func runCustodySplit(e *env, args []string) error {
	fs := flag.NewFlagSet("custody split", flag.ContinueOnError)
	in := fs.String("in", "", "file holding the secret to split")
	threshold := fs.Int("threshold", 0, "number of shares needed to recombine (M)")
	var rcpts cli.Strings
	fs.Var(&rcpts, "recipient", "custodian's age, ssh or plugin recipient, or a file holding one (repeat, one per share)")
	out := fs.String("out", "", "new directory for the shares and manifest")
	ceremony := fs.String("ceremony", "", "record the step in this ceremony directory")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	const usage = "usage: keyrite custody split --in FILE --threshold M --recipient R [--recipient R]... --out DIR"
	switch {
	case len(pos) > 0:
		return cli.WithHint(cli.Usagef("custody split: unexpected argument %q", pos[0]), usage)
	case *in == "":
		return cli.WithHint(cli.Usagef("custody split: --in is required"), usage)
	case *out == "":
		return cli.WithHint(cli.Usagef("custody split: --out is required"), usage)
	case *threshold == 0:
		return cli.WithHint(cli.Usagef("custody split: --threshold is required"), usage)
	}
	op, err := custody.SplitRequest{In: *in, Threshold: *threshold, Recipients: rcpts, PluginUI: custodyPluginUI(e),
		Out: *out, CeremonyDir: *ceremony}.Validate()
	if err != nil {
		return custodyHint(err, "split")
	}
	defer op.Close()
	res, err := op.Run()
	if err != nil {
		return custodyHint(err, "split")
	}
	m := res.Manifest
	fp := words.Sum(m.Marshal())
	if *asJSON {
		return cli.PrintJSON(e.stdout, custodySplitJSON{
			Out: *out, SplitID: m.SplitID, Threshold: m.Threshold, Shares: m.Shares,
			ManifestSHA256: fp.Hex(), ManifestWords: fp.Words(), Files: m.Files,
		})
	}
	fmt.Fprintf(e.stdout, "split %d-of-%d into %s\n", m.Threshold, m.Shares, *out)
	fmt.Fprintf(e.stdout, "split id:  %s\n", m.SplitID)
	fmt.Fprintf(e.stdout, "manifest:  sha256 %s\n", fp.Hex())
	fmt.Fprintf(e.stdout, "           %s\n", fp.Short())
	for _, f := range m.Files {
		fmt.Fprintf(e.stdout, "share %-3d  %-18s %-12s %s\n", f.Index, f.File, f.Kind, custodyAbbrev(f.Recipient))
	}
	return nil
}

type custodySplitJSON struct {
	Out            string              `json:"out"`
	SplitID        string              `json:"split_id"`
	Threshold      int                 `json:"threshold"`
	Shares         int                 `json:"shares"`
	ManifestSHA256 string              `json:"manifest_sha256"`
	ManifestWords  string              `json:"manifest_words"`
	Files          []custody.ShareFile `json:"share_files"`
}

// runCustodyCombine implements
//
//	keyrite custody combine --shares DIR --identity FILE [--identity FILE]... --out FILE [--ceremony DIR] [--json]
func runCustodyCombine(e *env, args []string) error {
	fs := flag.NewFlagSet("custody combine", flag.ContinueOnError)
	shares := fs.String("shares", "", "directory written by custody split (manifest.json and share files)")
	var idFiles cli.Strings
	fs.Var(&idFiles, "identity", "a custodian's age identity file or ssh private key (repeat)")
	out := fs.String("out", "", "new file for the recombined secret (written 0600)")
	ceremony := fs.String("ceremony", "", "record the step in this ceremony directory")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	const usage = "usage: keyrite custody combine --shares DIR --identity FILE [--identity FILE]... --out FILE"
	switch {
	case len(pos) > 0:
		return cli.WithHint(cli.Usagef("custody combine: unexpected argument %q", pos[0]), usage)
	case *shares == "":
		return cli.WithHint(cli.Usagef("custody combine: --shares is required"), usage)
	case len(idFiles) == 0:
		return cli.WithHint(cli.Usagef("custody combine: --identity is required"), usage)
	case *out == "":
		return cli.WithHint(cli.Usagef("custody combine: --out is required"), usage)
	}
	pass := func(prompt string) ([]byte, error) {
		return (&secret.Source{Kind: "passphrase"}).Read(prompt)
	}
	op, err := custody.CombineRequest{Shares: *shares, Identities: idFiles, PluginUI: custodyPluginUI(e), Passphrase: pass,
		Out: *out, CeremonyDir: *ceremony}.Validate()
	if err != nil {
		return custodyHint(err, "combine")
	}
	defer op.Close()
	res, err := op.Run()
	if err != nil {
		return custodyHint(err, "combine")
	}
	m := res.Manifest
	fp := words.Sum(m.Marshal())
	if *asJSON {
		return cli.PrintJSON(e.stdout, custodyCombineJSON{
			Out: *out, SplitID: m.SplitID, Threshold: m.Threshold, Shares: m.Shares,
			Opened: res.Opened, Used: res.Used, ManifestSHA256: fp.Hex(), ManifestWords: fp.Words(),
		})
	}
	fmt.Fprintf(e.stdout, "combined split %s (%d-of-%d) from shares %s\n", m.SplitID, m.Threshold, m.Shares, custodyJoinInts(res.Used))
	fmt.Fprintf(e.stdout, "manifest:  sha256 %s\n", fp.Hex())
	fmt.Fprintf(e.stdout, "           %s\n", fp.Short())
	fmt.Fprintf(e.stdout, "wrote the secret to %s (mode 0600); the commitment matched\n", *out)
	return nil
}

type custodyCombineJSON struct {
	Out            string `json:"out"`
	SplitID        string `json:"split_id"`
	Threshold      int    `json:"threshold"`
	Shares         int    `json:"shares"`
	Opened         []int  `json:"opened"`
	Used           []int  `json:"used"`
	ManifestSHA256 string `json:"manifest_sha256"`
	ManifestWords  string `json:"manifest_words"`
}

// custodyHint adds the hint people need to act on a custody error, chosen
// by its type and sentinels; parameters are reworded in the flags' terms
// (usage errors, exit 2). what is "split" or "combine".
func custodyHint(err error, what string) error {
	var pe *custody.SplitParamError
	var hints []string
	switch {
	case errors.As(err, &pe):
		if pe.Recipients < 2 {
			return cli.WithHint(cli.Usagef("custody split: %d --recipient given, need at least 2 (one per share)", pe.Recipients),
				"usage: keyrite custody split --in FILE --threshold M --recipient R [--recipient R]... --out DIR")
		}
		return cli.WithHint(cli.Usagef("custody split: --threshold %d with %d recipients: want 2 ≤ threshold ≤ recipients ≤ %d", pe.Threshold, pe.Recipients, custody.MaxShares),
			"the threshold is how many of the custodians must come together to recombine the secret")
	case errors.Is(err, custody.ErrCeremony):
		hints = append(hints, "nothing was "+map[string]string{"split": "split", "combine": "combined"}[what])
	case errors.Is(err, custody.ErrRecord) && what == "split":
		hints = append(hints, "record the split ID and manifest SHA-256 by hand")
	case errors.Is(err, custody.ErrRecord):
		hints = append(hints, "record the step by hand")
	case errors.Is(err, custody.ErrSecretFile):
		hints = append(hints, "put the secret (e.g. the PIN) in the file; its bytes are split exactly as they are")
	case errors.Is(err, custody.ErrTooFewShares):
		hints = append(hints, "give the identity files of at least threshold custodians with --identity; each identity opens only its own share")
	case errors.Is(err, custody.ErrMixedSplits):
		hints = append(hints, "a share file or the manifest comes from another split; use only the files written together by one 'custody split'")
	case errors.Is(err, custody.ErrShareModified):
		hints = append(hints, "get the original file back from its custodian, or move it out of the directory to combine without it")
	case errors.Is(err, custody.ErrCommitment):
		hints = append(hints, "a share is corrupt or forged; try another quorum of custodians")
	case errors.Is(err, custody.ErrManifest):
		hints = append(hints, "manifest.json must be exactly as 'keyrite custody split' wrote it")
	case errors.Is(err, custody.ErrPluginNotFound):
		hints = append(hints, "install the age plugin on this workstation and put it on PATH, or use another recipient")
	case errors.Is(err, fs.ErrExist):
		hints = append(hints, "choose a new output path: keyrite never overwrites")
	case errors.Is(err, fs.ErrNotExist):
		hints = append(hints, "check the path")
	}
	return cli.WithHint(err, hints...)
}

// custodyPluginUI lets age plugins (e.g. age-plugin-yubikey) talk to the person on
// the terminal, messages going to stderr.
func custodyPluginUI(e *env) *plugin.ClientUI {
	printf := func(format string, v ...any) { fmt.Fprintf(e.stderr, "keyrite: "+format+"\n", v...) }
	warnf := func(format string, v ...any) { fmt.Fprintf(e.stderr, "keyrite: warning: "+format+"\n", v...) }
	return plugin.NewTerminalUI(printf, warnf)
}

func custodyAbbrev(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:40] + "…" + s[len(s)-12:]
}

func custodyJoinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

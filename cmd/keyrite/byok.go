package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/cli"
)

const usageBYOKInspect = "usage: keyrite byok inspect FILE.byok [--kek FILE] [--kid URL] [--json]"

// blobJSON is the --json form of byok inspect.
type blobJSON struct {
	File          string       `json:"file"`
	Kid           string       `json:"kid"`
	Generator     *string      `json:"generator"`
	SHA256        string       `json:"sha256"`
	Words         string       `json:"words"`
	Canonical     bool         `json:"canonical"`
	CiphertextLen int          `json:"ciphertext_len"`
	KEKBits       *int         `json:"kek_bits"`
	Target        *string      `json:"target"`
	Layouts       []layoutJSON `json:"layouts"`
	KEK           *kekJSON     `json:"kek,omitempty"`
	KidMatch      string       `json:"kid_match,omitempty"`
	OK            bool         `json:"ok"`
	Problems      []string     `json:"problems"`
}

type layoutJSON struct {
	KEKBits int      `json:"kek_bits"`
	KWPLen  int      `json:"kwp_len"`
	Targets []string `json:"targets"`
}

func runBYOKInspect(e *env, args []string) error {
	fset := flag.NewFlagSet("byok inspect", flag.ContinueOnError)
	kekPath := fset.String("kek", "", "KEK public key `FILE` to check the blob against")
	kid := fset.String("kid", "", "the KEK's key identifier `URL`, when the KEK file carries none")
	asJSON := fset.Bool("json", false, "print one JSON object")
	pos, err := cli.Parse(fset, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return cli.WithHint(cli.Usagef("byok inspect: missing the .byok file"), usageBYOKInspect)
	case len(pos) > 1:
		return cli.WithHint(cli.Usagef("byok inspect: %d files given; expected one", len(pos)), usageBYOKInspect)
	case *kid != "" && *kekPath == "":
		return cli.WithHint(cli.Usagef("byok inspect: --kid needs --kek"), usageBYOKInspect)
	}
	path := pos[0]
	var kek *byok.KEK
	if *kekPath != "" {
		if kek, err = loadKEK(*kekPath, *kid); err != nil {
			return err
		}
	}
	data, err := readLimited(path, ".byok file", 1<<20)
	if err != nil {
		return cli.WithHint(err, "give the path of a .byok file written by `keyrite byok export` or a vendor BYOK tool")
	}
	b, err := byok.ParseBlob(data)
	if err != nil {
		hint := "a .byok file is {\"schema_version\":\"1.0.0\",\"header\":{\"kid\":...,\"alg\":\"dir\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\"},\"ciphertext\":...,\"generator\":...}"
		if errors.Is(err, byok.ErrKid) {
			hint = "the header's kid must be the KEK's versioned Key Vault or Managed HSM key URL; re-export the key with the right --kid"
		}
		return cli.WithHint(fileErr(path, err), hint)
	}
	d := b.Describe(kek)
	fp := d.Digest
	out := blobJSON{
		File: path, Kid: d.Kid, SHA256: fp.Hex(), Words: fp.Words(),
		Canonical:     bytes.Equal(b.Marshal(), data),
		CiphertextLen: d.CiphertextLen,
		KidMatch:      d.KidMatch,
		Problems:      append([]string{}, d.Problems...),
		Layouts:       []layoutJSON{},
	}
	if b.Generator != "" {
		g := b.Generator
		out.Generator = &g
	}
	for _, l := range d.Layouts {
		out.Layouts = append(out.Layouts, layoutJSON{l.KEKBits, l.KWPLen, l.Targets})
	}
	if len(d.Layouts) == 1 {
		bits := d.Layouts[0].KEKBits
		out.KEKBits = &bits
		if len(d.Layouts[0].Targets) == 1 {
			t := d.Layouts[0].Targets[0]
			out.Target = &t
		}
	}
	if kek != nil {
		kj := describeKEK(*kekPath, kek)
		out.KEK = &kj
	} else if len(d.Layouts) == 0 {
		out.Problems = append(out.Problems, fmt.Sprintf("the ciphertext (%d bytes) fits no supported KEK size (2048, 3072, 4096) and target type", d.CiphertextLen))
	}
	out.OK = len(out.Problems) == 0
	if *asJSON {
		if err := cli.PrintJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		printBlob(e, out)
	}
	if !out.OK {
		hint := "check that this blob was made for this KEK"
		if kek == nil {
			hint = "the blob may be truncated or not made for an Azure KEK; compare its sha256 with the one recorded at export"
		} else if d.KidMatch == "mismatch" {
			hint = "inspect the blob with the KEK it names, or re-export the key under this KEK"
		}
		return cli.WithHint(fmt.Errorf("%s: %s", path, strings.Join(out.Problems, "; ")), hint)
	}
	return nil
}

func printBlob(e *env, o blobJSON) {
	w := e.stdout
	fmt.Fprintf(w, "file:        %s\n", o.File)
	fmt.Fprintf(w, "kid:         %s\n", o.Kid)
	gen := "(absent)"
	if o.Generator != nil {
		gen = *o.Generator
	}
	fmt.Fprintf(w, "generator:   %s\n", gen)
	fmt.Fprintf(w, "sha256:      %s\n", o.SHA256)
	fmt.Fprintf(w, "words:       %s\n", o.Words)
	if !o.Canonical {
		fmt.Fprintf(w, "encoding:    valid, but not in keyrite's canonical form (e.g. base64url padding, spacing, member order)\n")
	}
	fmt.Fprintf(w, "ciphertext:  %d bytes\n", o.CiphertextLen)
	switch len(o.Layouts) {
	case 0:
		fmt.Fprintf(w, "kek size:    unknown (the length fits no supported KEK size and target type)\n")
	case 1:
		l := o.Layouts[0]
		fmt.Fprintf(w, "kek size:    RSA-%d (RSA part %d bytes)\n", l.KEKBits, l.KEKBits/8)
		fmt.Fprintf(w, "target:      %s (AES-KWP part %d bytes)\n", strings.Join(l.Targets, " or "), l.KWPLen)
	default:
		fmt.Fprintf(w, "kek size:    ambiguous without the KEK:\n")
		for _, l := range o.Layouts {
			fmt.Fprintf(w, "             RSA-%d (RSA part %d bytes) and %s (AES-KWP part %d bytes)\n", l.KEKBits, l.KEKBits/8, strings.Join(l.Targets, " or "), l.KWPLen)
		}
	}
	if o.KEK != nil {
		fmt.Fprintf(w, "kek:         %s, RSA-%d, sha256 %s\n", o.KEK.File, o.KEK.Bits, o.KEK.SHA256)
		switch o.KidMatch {
		case "match":
			fmt.Fprintf(w, "kid check:   ok, the blob names this KEK\n")
		case "mismatch":
			fmt.Fprintf(w, "kid check:   FAILED, the blob names another key than the KEK's %s\n", *o.KEK.Kid)
		default:
			fmt.Fprintf(w, "kid check:   not done (the KEK file carries no kid; give --kid URL)\n")
		}
		if len(o.Layouts) > 0 {
			fmt.Fprintf(w, "size check:  ok, fits RSA-%d and a supported target type\n", o.KEK.Bits)
		} else {
			fmt.Fprintf(w, "size check:  FAILED, does not fit RSA-%d and a supported target type\n", o.KEK.Bits)
		}
	}
}

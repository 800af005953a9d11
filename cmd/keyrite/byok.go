package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

const usageBYOKInspect = "usage: keyrite byok inspect FILE.byok [--kek FILE [--kid URL] [--ceremony DIR]] [--json]"

// notProven says what inspect can never show, with or without a KEK:
// printed every time, so that no check it prints reads as more than it is.
func notProven(withKEK bool) []string {
	first := "which KEK the blob was wrapped under (its kid is only what it claims): only the KEK's private key can show it"
	if withKEK {
		first = "that the blob was wrapped under this KEK: only its private key can show it (the service does, on import)"
	}
	return []string{first, "that it holds a valid key of the type its length suggests: only unwrapping can show it"}
}

// blobJSON is the --json form of byok inspect.
//
// layouts, kek_bits and target describe the readings of the ciphertext
// length that remain: every reading without a KEK; with one, the reading
// under its size when only that size fits or the blob names this KEK (kid
// check "match"), else every reading again (the length alone does not say
// which KEK it was made for). readings always lists every reading of the
// length alone; targets every target type consistent with layouts.
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
	Targets       []string     `json:"targets"`
	Layouts       []layoutJSON `json:"layouts"`
	Readings      []layoutJSON `json:"readings"`
	KEK           *kekJSON     `json:"kek,omitempty"`
	KidMatch      string       `json:"kid_match,omitempty"`
	KidSource     string       `json:"kid_source,omitempty"` // "kek" (the file or --kid) or "ceremony"
	RSAPartLen    int          `json:"rsa_oaep_len,omitempty"`
	SizeCheck     string       `json:"size_check,omitempty"`    // "ok", "ambiguous" or "mismatch"
	ModulusCheck  string       `json:"modulus_check,omitempty"` // "ok" or "failed"
	Ceremony      *ceremonyKEK `json:"ceremony,omitempty"`
	NotProven     []string     `json:"not_proven"`
	OK            bool         `json:"ok"`
	Problems      []string     `json:"problems"`
}

type layoutJSON struct {
	KEKBits int      `json:"kek_bits"`
	KWPLen  int      `json:"kwp_len"`
	Targets []string `json:"targets"`
}

// ceremonyKEK is the comparison of the given KEK with the one a ceremony
// transcript recorded for the blob.
type ceremonyKEK struct {
	Dir string `json:"dir"`
	// Match is "match" (the KEK's SPKI SHA-256 is the recorded one),
	// "mismatch", or "not-recorded" (no KEK recorded for this blob).
	Match     string `json:"match"`
	KEKSHA256 string `json:"kek_sha256"` // the given KEK's SPKI SHA-256
	// Recorded lists the KEK records the comparison used: those of the
	// event that wrote this very blob, else those for the blob's kid.
	Recorded []kekRecord `json:"recorded"`
	// BlobEvent is the seq of the event that recorded this blob (same
	// SHA-256) as an output; 0 if none did.
	BlobEvent int64 `json:"blob_event"`
}

// kekRecord is one KEK a transcript event records: a kek_sha256 parameter
// (byok export) or a KEK artifact (SPKI SHA-256 computed from it).
type kekRecord struct {
	Seq    int64  `json:"seq"`
	Line   int64  `json:"line"`
	Step   string `json:"step"`
	Kid    string `json:"kid"`
	SHA256 string `json:"sha256"`
	From   string `json:"from"` // "param kek_sha256" or "artifact NAME"
}

func runBYOKInspect(e *env, args []string) error {
	fset := flag.NewFlagSet("byok inspect", flag.ContinueOnError)
	cli.Positional(fset, "FILE.byok")
	kekPath := fset.String("kek", "", "KEK public key `FILE` to check the blob against")
	kid := fset.String("kid", "", "the KEK's key identifier `URL`, when the KEK file carries none")
	cerDir := fset.String("ceremony", "", "compare the KEK with the one ceremony `DIR` recorded for this blob (read only: nothing is recorded)")
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
	case *cerDir != "" && *kekPath == "":
		return cli.WithHint(cli.Usagef("byok inspect: --ceremony needs --kek (the KEK to compare with the recorded one)"), usageBYOKInspect)
	}
	path := pos[0]
	var kek *byok.KEK
	if *kekPath != "" {
		if kek, err = loadKEK(*kekPath, *kid); err != nil {
			return err
		}
	}
	var rep *transcripts.Report
	if *cerDir != "" {
		if rep, err = readCeremony(*cerDir); err != nil {
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
	var kj *kekJSON
	var cer *ceremonyKEK
	kidSource := ""
	if kek != nil {
		k := describeKEK(*kekPath, kek) // before a recorded kid is lent to it: what the file says
		kj = &k
		if kek.Kid != "" {
			kidSource = "kek"
		}
		if rep != nil {
			var rec *kekRecord
			cer, rec = compareCeremonyKEK(*cerDir, rep, b, kek)
			if kek.Kid == "" && rec != nil && cer.Match == "match" {
				if _, err := byok.ParseKid(rec.Kid); err == nil {
					// The ceremony recorded this very KEK (same SPKI) with
					// this kid: the kid check can be done with it.
					kc := *kek
					kc.Kid, kek, kidSource = rec.Kid, &kc, "ceremony"
				}
			}
		}
	}
	d := b.Describe(kek)
	fp := d.Digest
	out := blobJSON{
		File: path, Kid: d.Kid, SHA256: fp.Hex(), Words: fp.Words(),
		Canonical:     bytes.Equal(b.Marshal(), data),
		CiphertextLen: d.CiphertextLen,
		KEK:           kj,
		KidMatch:      d.KidMatch,
		KidSource:     kidSource,
		SizeCheck:     d.SizeCheck,
		ModulusCheck:  d.ModulusCheck,
		Ceremony:      cer,
		NotProven:     notProven(kek != nil),
		Problems:      append([]string{}, d.Problems...),
		Layouts:       []layoutJSON{},
		Readings:      []layoutJSON{},
		Targets:       []string{},
	}
	if kek != nil {
		out.RSAPartLen = kek.Size()
	}
	if b.Generator != "" {
		g := b.Generator
		out.Generator = &g
	}
	for _, l := range d.Readings {
		out.Readings = append(out.Readings, layoutJSON{l.KEKBits, l.KWPLen, l.Targets})
	}
	// The readings that remain: under the KEK's size only when the length
	// or the blob's kid settles it.
	remain := d.Readings
	if kek != nil && (d.SizeCheck == "ok" || (d.SizeCheck == "ambiguous" && d.KidMatch == "match")) {
		remain = d.Layouts
	}
	seen := map[string]bool{}
	for _, l := range remain {
		out.Layouts = append(out.Layouts, layoutJSON{l.KEKBits, l.KWPLen, l.Targets})
		for _, t := range l.Targets {
			if !seen[t] {
				seen[t] = true
				out.Targets = append(out.Targets, t)
			}
		}
	}
	if len(remain) == 1 {
		bits := remain[0].KEKBits
		out.KEKBits = &bits
	}
	if len(out.Targets) == 1 {
		t := out.Targets[0]
		out.Target = &t
	}
	if len(d.Readings) == 0 && kek == nil {
		out.Problems = append(out.Problems, fmt.Sprintf("the ciphertext (%d bytes) fits no supported KEK size (2048, 3072, 4096) and target type", d.CiphertextLen))
	}
	if cer != nil {
		switch cer.Match {
		case "mismatch":
			r := cer.Recorded[0]
			out.Problems = append(out.Problems, fmt.Sprintf("the KEK's SPKI sha256 %s is not the one ceremony %s recorded for this blob: %s (event %d, %s, kid %s)", cer.KEKSHA256, cer.Dir, r.SHA256, r.Seq, r.Step, r.Kid))
		case "not-recorded":
			out.Problems = append(out.Problems, fmt.Sprintf("ceremony %s records no KEK for this blob (neither the event that wrote it nor any KEK with kid %s)", cer.Dir, b.Kid))
		}
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
		return cli.WithHint(fmt.Errorf("%s: %s", path, strings.Join(out.Problems, "; ")), inspectHints(out, d)...)
	}
	return nil
}

// inspectHints chooses the hints from the checks' outcomes (fields, never
// message text).
func inspectHints(o blobJSON, d byok.Description) []string {
	var hints []string
	switch {
	case o.KEK == nil:
		return []string{"the blob may be truncated or not made for an Azure KEK; compare its sha256 with the one recorded at export"}
	case d.KidMatch == "mismatch":
		hints = append(hints, "inspect the blob with the KEK it names, or re-export the key under this KEK")
	case d.SizeCheck == "mismatch" && len(o.Readings) > 0:
		hints = append(hints, "the blob was made for a KEK of another size: inspect it with the KEK its kid names, or re-export the key under this KEK")
	case d.ModulusCheck == "failed":
		hints = append(hints, "the blob was not wrapped under this KEK: inspect it with the KEK its kid names, or re-export the key under this KEK")
	case d.SizeCheck == "mismatch":
		hints = append(hints, "check that this blob was made for this KEK")
	}
	if c := o.Ceremony; c != nil {
		switch c.Match {
		case "mismatch":
			hints = append(hints, "this is not the KEK the ceremony recorded: compare the KEK file's words (`keyrite kek inspect --kek FILE`) with the ones read aloud at the ceremony, and use the recorded KEK")
		case "not-recorded":
			hints = append(hints, "give the ceremony directory in which this blob was exported (`keyrite byok export --ceremony DIR`)")
		}
	}
	return hints
}

// readCeremony verifies a ceremony directory (no trust file: its records
// are compared, not acted on) and returns its report.
func readCeremony(dir string) (*transcripts.Report, error) {
	rep, err := transcripts.Verify(dir, nil)
	if err == nil {
		return rep, nil
	}
	first := "it cannot be read"
	if len(rep.Problems) > 0 {
		first = rep.Problems[0].String()
	}
	return nil, cli.WithHint(&cli.Reworded{Msg: fmt.Sprintf("--ceremony: %s does not verify: %s", dir, first), Err: err},
		fmt.Sprintf("give the directory of the ceremony that exported the blob; `keyrite transcript verify %s` lists every problem", dir))
}

// kekRecords lists every KEK the ceremony's events record: kek_sha256
// parameters and KEK artifacts (their SPKI SHA-256 computed), each with the
// kid the event records (as transcripts/steps reads them).
func kekRecords(rep *transcripts.Report, e *transcripts.Entry) []kekRecord {
	var out []kekRecord
	claims := steps.ClaimsOf(e)
	kid := claims.KEKKid
	if v := claims.KEKSHA256; v != "" {
		out = append(out, kekRecord{Seq: e.Seq, Line: e.Line, Step: e.Step, Kid: kid, SHA256: strings.ToLower(v), From: "param kek_sha256"})
	}
	for _, a := range append(append([]transcripts.ArtifactRef(nil), e.Inputs...), e.Outputs...) {
		if a.Kind != transcripts.KindKEK {
			continue
		}
		data, err := rep.ReadArtifact(a.Name)
		if err != nil {
			continue
		}
		k, err := byok.ParseKEK(data, "")
		if err != nil {
			continue
		}
		out = append(out, kekRecord{Seq: e.Seq, Line: e.Line, Step: e.Step, Kid: kid, SHA256: k.Fingerprint().Hex(), From: "artifact " + a.Name})
	}
	return out
}

// compareCeremonyKEK compares kek's SPKI SHA-256 with the KEK the ceremony
// recorded for blob b: the KEK of the event that wrote this very blob (same
// SHA-256), else every KEK recorded with the blob's kid. It returns the
// comparison and, on a match, the matching record.
func compareCeremonyKEK(dir string, rep *transcripts.Report, b *byok.Blob, kek *byok.KEK) (*ceremonyKEK, *kekRecord) {
	c := &ceremonyKEK{Dir: dir, KEKSHA256: kek.Fingerprint().Hex(), Recorded: []kekRecord{}}
	blobSum := words.Sum(b.Raw()).Hex()
	for i := range rep.Events {
		e := &rep.Events[i]
		for _, a := range e.Outputs {
			if a.Kind == transcripts.KindBYOK && a.SHA256 == blobSum && c.BlobEvent == 0 {
				c.BlobEvent = e.Seq
				c.Recorded = kekRecords(rep, e)
			}
		}
	}
	if c.BlobEvent == 0 {
		for i := range rep.Events {
			for _, r := range kekRecords(rep, &rep.Events[i]) {
				if r.Kid == b.Kid {
					c.Recorded = append(c.Recorded, r)
				}
			}
		}
	}
	if len(c.Recorded) == 0 {
		c.Match = "not-recorded"
		return c, nil
	}
	for i, r := range c.Recorded {
		if r.SHA256 == c.KEKSHA256 {
			c.Match = "match"
			return c, &c.Recorded[i]
		}
	}
	c.Match = "mismatch"
	return c, nil
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
		if o.KEK == nil {
			fmt.Fprintf(w, "kek size:    ambiguous without the KEK:\n")
		} else {
			fmt.Fprintf(w, "kek size:    ambiguous from the length alone:\n")
		}
		for _, l := range o.Layouts {
			fmt.Fprintf(w, "             RSA-%d (RSA part %d bytes) and %s (AES-KWP part %d bytes)\n", l.KEKBits, l.KEKBits/8, strings.Join(l.Targets, " or "), l.KWPLen)
		}
	}
	if o.KEK != nil {
		k := o.KEK
		fmt.Fprintf(w, "kek:         %s, RSA-%d, sha256 %s\n", k.File, k.Bits, k.SHA256)
		switch {
		case o.KidMatch == "match" && o.KidSource == "ceremony":
			fmt.Fprintf(w, "kid check:   ok, the blob names this KEK (its kid as ceremony %s recorded it for this SPKI)\n", o.Ceremony.Dir)
		case o.KidMatch == "match":
			fmt.Fprintf(w, "kid check:   ok, the blob names this KEK\n")
		case o.KidMatch == "mismatch" && o.KidSource == "ceremony":
			fmt.Fprintf(w, "kid check:   FAILED, the blob names another key than the kid ceremony %s recorded for this KEK\n", o.Ceremony.Dir)
		case o.KidMatch == "mismatch":
			fmt.Fprintf(w, "kid check:   FAILED, the blob names another key than the KEK's %s\n", *k.Kid)
		default:
			fmt.Fprintf(w, "kid check:   not done (the KEK file carries no kid; give --kid URL or --ceremony DIR)\n")
		}
		rsa := fmt.Sprintf("RSA-%d's %d-byte RSA-OAEP part", k.Bits, o.RSAPartLen)
		switch o.SizeCheck {
		case "ok":
			fmt.Fprintf(w, "size check:  ok, the length reads only with %s\n", rsa)
		case "ambiguous":
			if o.KidMatch == "match" {
				fmt.Fprintf(w, "size check:  ok, the length reads with %s (it would also fit another KEK size, but the blob names this KEK)\n", rsa)
			} else {
				fmt.Fprintf(w, "size check:  NOT CONCLUSIVE, the length reads with %s, and also with another KEK size (above): the length alone does not tell which KEK the blob was made for\n", rsa)
			}
		case "mismatch":
			if len(o.Readings) > 0 {
				var sizes []string
				for _, l := range o.Readings {
					sizes = append(sizes, fmt.Sprintf("%d bytes (RSA-%d)", l.KEKBits/8, l.KEKBits))
				}
				fmt.Fprintf(w, "size check:  FAILED, the RSA-OAEP part must be %d bytes for this RSA-%d KEK, but the blob's is %s\n", o.RSAPartLen, k.Bits, strings.Join(sizes, " or "))
			} else {
				fmt.Fprintf(w, "size check:  FAILED, does not fit %s and a supported target type\n", rsa)
			}
		}
		switch o.ModulusCheck {
		case "ok":
			fmt.Fprintf(w, "modulus:     ok, the RSA-OAEP part is below this KEK's modulus, as it must be (random bytes often are too)\n")
		case "failed":
			fmt.Fprintf(w, "modulus:     FAILED, the RSA-OAEP part is not below the KEK's modulus: not wrapped under this KEK\n")
		}
	}
	if c := o.Ceremony; c != nil {
		switch c.Match {
		case "match":
			r := firstMatch(c)
			fmt.Fprintf(w, "ceremony:    ok, the KEK's SPKI sha256 is the one %s recorded (event %d, %s, %s)\n", c.Dir, r.Seq, r.Step, r.From)
		case "mismatch":
			r := c.Recorded[0]
			fmt.Fprintf(w, "ceremony:    FAILED, the KEK's SPKI sha256 is not the one %s recorded: %s (event %d, %s, %s)\n", c.Dir, r.SHA256, r.Seq, r.Step, r.From)
		case "not-recorded":
			fmt.Fprintf(w, "ceremony:    FAILED, %s records no KEK for this blob\n", c.Dir)
		}
		if c.BlobEvent > 0 {
			fmt.Fprintf(w, "             this blob (same sha256) is an output of event %d\n", c.BlobEvent)
		}
	}
	for i, s := range o.NotProven {
		label := "not proven:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "%-12s %s\n", label, s)
	}
}

func firstMatch(c *ceremonyKEK) kekRecord {
	for _, r := range c.Recorded {
		if r.SHA256 == c.KEKSHA256 {
			return r
		}
	}
	return kekRecord{}
}

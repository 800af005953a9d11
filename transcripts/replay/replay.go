// Package replay is the auditor's view of a verified ceremony transcript: it
// renders the recorded events as a numbered, readable script (who did what,
// witnessed and signed by whom, with which artifacts and their word lists)
// and re-checks, offline and deterministically, what each artifact can prove
// about itself:
//
//   - .byok (kind "byok"): parsed with byok.ParseBlob and re-serialised from
//     its fields with Marshal, which must give the recorded bytes (keyrite
//     writes canonical blobs); with the KEK recorded in the same event, the
//     kid must match and the ciphertext length must fit the KEK size and a
//     supported target type (byok Describe); a recorded "target" parameter
//     must be one of the readings of that length.
//   - KEK (kind "kek-public-key"): parsed with byok.ParseKEK; its SPKI SHA-256
//     fingerprint is shown and compared with any fingerprint recorded in the
//     event's parameters (kek_sha256, kek_fingerprint).
//
// What each event claims (a KEK's kid and fingerprint, a target type, a
// quorum) is read with transcripts/steps, the encoding the writers use.
//   - certificates and exchange keys: parsed; their x5t#S256 thumbprints shown.
//   - security domain: parsed with securitydomain.ParseSD; quorum and every
//     share's certificate thumbprint shown, and matched against certificates
//     recorded anywhere in the ceremony; a recorded "quorum" parameter must
//     agree.
//   - restore blob: parsed with securitydomain.ParseRestoreBlob; the exchange
//     key thumbprint it is wrapped to must be that of the exchange key
//     recorded in the same event.
//
// Randomised HSM operations are checked by structure and digest, not re-executed.
package replay

import (
	"fmt"
	"io"
	"strings"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// Check is the outcome of one re-check.
type Check struct {
	Seq      int64  `json:"seq"`
	Artifact string `json:"artifact"`
	What     string `json:"what"`
	OK       bool   `json:"ok"`
	Detail   string `json:"detail"`
}

func (c Check) String() string {
	return fmt.Sprintf("event %d, artifacts/%s: %s: %s", c.Seq, c.Artifact, c.What, c.Detail)
}

// Step is one recorded event as the script shows it.
type Step struct {
	transcripts.Entry
	SignedBy []string `json:"signed_by"` // signers of the first checkpoint covering this event
	Checks   []Check  `json:"checks"`
}

// Script is the replay of a ceremony.
type Script struct {
	Dir         string                         `json:"dir"`
	Origin      string                         `json:"origin"`
	Steps       []Step                         `json:"steps"`
	Checkpoints []transcripts.CheckpointReport `json:"checkpoints"`
	OK          bool                           `json:"ok"` // every re-check passed
}

// Replay builds the script from a verification report. It reads artifacts
// through rep.ReadArtifact (digest re-checked).
func Replay(rep *transcripts.Report) *Script {
	s := &Script{Dir: rep.Dir, Origin: rep.Origin, Checkpoints: rep.Checkpoints, OK: true}
	certs := ceremonyCerts(rep)
	for _, e := range rep.Events {
		st := Step{Entry: e}
		for _, cp := range rep.Checkpoints {
			if cp.Size >= e.Line {
				for _, sig := range cp.Signatures {
					st.SignedBy = append(st.SignedBy, fmt.Sprintf("%s (%s)", sig.Name, sig.Role))
				}
				break
			}
		}
		st.Checks = checkEvent(rep, &e, certs)
		for _, c := range st.Checks {
			s.OK = s.OK && c.OK
		}
		s.Steps = append(s.Steps, st)
	}
	return s
}

// Failed lists the failed re-checks.
func (s *Script) Failed() []Check {
	var out []Check
	for _, st := range s.Steps {
		for _, c := range st.Checks {
			if !c.OK {
				out = append(out, c)
			}
		}
	}
	return out
}

// Render writes the script for people.
func (s *Script) Render(w io.Writer) {
	fmt.Fprintf(w, "Ceremony %s\n", s.Origin)
	fmt.Fprintf(w, "Directory %s\n", s.Dir)
	fmt.Fprintf(w, "Times are the operator workstation's clock, as recorded (not authenticated).\n\n")
	for _, st := range s.Steps {
		e := st.Entry
		fmt.Fprintf(w, "%d. [%s] %s (%s): %s\n", e.Seq, e.OperatorTime, e.Actor.Name, e.Actor.Role, e.Action)
		fmt.Fprintf(w, "   step %s, result %s\n", e.Step, e.Result)
		for _, p := range e.Params {
			fmt.Fprintf(w, "   %s = %s\n", p.Name, p.Value)
		}
		for _, a := range e.Inputs {
			renderArtifact(w, "input ", a)
		}
		for _, a := range e.Outputs {
			renderArtifact(w, "output", a)
		}
		if h := e.HSM; h != nil {
			fmt.Fprintf(w, "   token %q: %s %s, serial %s, firmware %s\n", h.TokenLabel, h.Manufacturer, h.Model, h.Serial, h.Firmware)
			fmt.Fprintf(w, "   module %s (sha256 %s)\n", h.ModulePath, h.ModuleSHA256)
		}
		if e.Mechanism != "" {
			fmt.Fprintf(w, "   mechanism %s\n", e.Mechanism)
		}
		for _, d := range e.Deviations {
			fmt.Fprintf(w, "   DEVIATION: %s\n", d)
		}
		for _, t := range e.Torn {
			fmt.Fprintf(w, "   torn line %d acknowledged (%d bytes, sha256 %s)\n", t.Line, t.Size, t.SHA256)
		}
		if e.ActedOn != nil {
			fmt.Fprintf(w, "   acted on checkpoint size %d, root %s\n", e.ActedOn.Size, e.ActedOn.RootHash)
		}
		fmt.Fprintf(w, "   tool %s %s (%s, %s)\n", e.Tool.Name, e.Tool.Version, e.Tool.Revision, e.Tool.GoVersion)
		if len(st.SignedBy) > 0 {
			fmt.Fprintf(w, "   signed by %s\n", strings.Join(st.SignedBy, ", "))
		} else {
			fmt.Fprintf(w, "   NOT SIGNED by anyone yet\n")
		}
		for _, c := range st.Checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "   check %s %s: %s: %s\n", mark, c.Artifact, c.What, c.Detail)
		}
		fmt.Fprintln(w)
	}
	for _, cp := range s.Checkpoints {
		fmt.Fprintf(w, "Checkpoint at size %d, root %s\n", cp.Size, cp.RootHash)
		fmt.Fprintf(w, "  words: %s\n", cp.Words)
		for _, sig := range cp.Signatures {
			trusted := ""
			if sig.Trusted {
				trusted = ", trusted"
			}
			fmt.Fprintf(w, "  signed by %s as %s (%s, key id %s%s)\n", sig.Name, sig.Role, sig.KeyType, sig.KeyID, trusted)
		}
	}
	if len(s.Checkpoints) == 0 {
		fmt.Fprintln(w, "No checkpoint is signed.")
	}
}

func renderArtifact(w io.Writer, dir string, a transcripts.ArtifactRef) {
	fmt.Fprintf(w, "   %s %s (%s, %d bytes)\n", dir, a.Name, a.Kind, a.Size)
	fmt.Fprintf(w, "          sha256 %s\n", a.SHA256)
	fmt.Fprintf(w, "          words  %s\n", a.Words)
}

// certInfo is a certificate recorded somewhere in the ceremony.
type certInfo struct {
	name  string
	x5t   string
	isExc bool
}

func ceremonyCerts(rep *transcripts.Report) map[string]certInfo {
	out := map[string]certInfo{}
	for _, a := range rep.Artifacts {
		if a.Kind != transcripts.KindCertificate && a.Kind != transcripts.KindExchangeKey {
			continue
		}
		data, err := rep.ReadArtifact(a.Name)
		if err != nil {
			continue
		}
		var x5t string
		if a.Kind == transcripts.KindExchangeKey {
			c, err := securitydomain.ParseExchangeKey(data)
			if err != nil {
				continue
			}
			x5t = securitydomain.X5T256(c)
		} else {
			c, err := securitydomain.ParseCertificate(data)
			if err != nil {
				continue
			}
			x5t = securitydomain.X5T256(c)
		}
		out[x5t] = certInfo{name: a.Name, x5t: x5t, isExc: a.Kind == transcripts.KindExchangeKey}
	}
	return out
}

func checkEvent(rep *transcripts.Report, e *transcripts.Entry, certs map[string]certInfo) []Check {
	var out []Check
	add := func(a, what string, ok bool, format string, args ...any) {
		out = append(out, Check{Seq: e.Seq, Artifact: a, What: what, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	claims := steps.ClaimsOf(e)
	all := append(append([]transcripts.ArtifactRef(nil), e.Inputs...), e.Outputs...)
	var kekRef *transcripts.ArtifactRef
	var excRef *transcripts.ArtifactRef
	for i := range all {
		switch all[i].Kind {
		case transcripts.KindKEK:
			kekRef = &all[i]
		case transcripts.KindExchangeKey:
			excRef = &all[i]
		}
	}
	isOutput := map[string]bool{}
	for _, o := range e.Outputs {
		isOutput[o.Name] = true
	}
	for _, a := range all {
		data, err := rep.ReadArtifact(a.Name)
		if err != nil {
			add(a.Name, "digest", false, "%v", err)
			continue
		}
		switch a.Kind {
		case transcripts.KindKEK:
			kek, err := byok.ParseKEK(data, "")
			if err != nil {
				add(a.Name, "KEK", false, "does not parse: %v", err)
				continue
			}
			fp := kek.Fingerprint()
			add(a.Name, "KEK", true, "RSA-%d, SPKI sha256 %s (%s)", kek.Bits(), fp.Hex(), fp.Short())
			if rec := claims.KEKSHA256; rec != "" {
				add(a.Name, "KEK fingerprint", strings.EqualFold(rec, fp.Hex()), "recorded %s, computed %s", rec, fp.Hex())
			}
		case transcripts.KindBYOK:
			b, err := byok.ParseBlob(data)
			if err != nil {
				add(a.Name, ".byok", false, "does not parse: %v", err)
				continue
			}
			re := b.Marshal()
			same := string(re) == string(data)
			if isOutput[a.Name] {
				add(a.Name, ".byok re-serialised", same, "%s", map[bool]string{true: "Marshal of the parsed fields gives the recorded bytes", false: fmt.Sprintf("Marshal gives %d bytes (sha256 %s), the file has %d", len(re), words.Sum(re).Hex(), len(data))}[same])
			} else {
				add(a.Name, ".byok re-serialised", true, "%s", map[bool]string{true: "Marshal of the parsed fields gives the recorded bytes", false: "input from another tool: parses, serialised differently (allowed for inputs)"}[same])
			}
			if kekRef == nil {
				add(a.Name, ".byok vs KEK", true, "no KEK recorded in this event; kid %s, ciphertext %d bytes", b.Kid, len(b.Ciphertext))
				continue
			}
			kd, err := rep.ReadArtifact(kekRef.Name)
			if err != nil {
				add(a.Name, ".byok vs KEK", false, "%v", err)
				continue
			}
			kek, err := byok.ParseKEK(kd, kidFor(rep, e, kekRef.Name))
			if err != nil {
				add(a.Name, ".byok vs KEK", false, "KEK %s does not parse with the recorded kid: %v", kekRef.Name, err)
				continue
			}
			d := b.Describe(kek)
			var targets []string
			for _, l := range d.Layouts {
				targets = append(targets, l.Targets...)
			}
			ok := len(d.Problems) == 0 && len(d.Layouts) > 0
			add(a.Name, ".byok vs KEK", ok, "kid %s (%s), ciphertext %d bytes fits RSA-%d + %s%s", b.Kid, d.KidMatch, len(b.Ciphertext), kek.Bits(), strings.Join(targets, " or "), problems(d.Problems))
			if t := claims.Target; t != "" && len(targets) > 0 {
				match := false
				for _, x := range targets {
					match = match || x == t
				}
				add(a.Name, ".byok target type", match, "recorded target %q, ciphertext length says %s", t, strings.Join(targets, " or "))
			}
		case transcripts.KindCertificate:
			c, err := securitydomain.ParseCertificate(data)
			if err != nil {
				add(a.Name, "certificate", false, "does not parse: %v", err)
				continue
			}
			add(a.Name, "certificate", true, "subject %q, x5t#S256 %s", c.Subject.String(), securitydomain.X5T256(c))
		case transcripts.KindExchangeKey:
			c, err := securitydomain.ParseExchangeKey(data)
			if err != nil {
				add(a.Name, "exchange key", false, "does not parse: %v", err)
				continue
			}
			add(a.Name, "exchange key", true, "subject %q, x5t#S256 %s", c.Subject.String(), securitydomain.X5T256(c))
		case transcripts.KindSecurityDomain:
			sd, err := securitydomain.ParseSD(data)
			if err != nil {
				add(a.Name, "security domain", false, "does not parse: %v", err)
				continue
			}
			var known, unknown []string
			for _, sh := range sd.Shares {
				if c, ok := certs[sh.X5T256]; ok && !c.isExc {
					known = append(known, c.name)
				} else {
					unknown = append(unknown, sh.X5T256)
				}
			}
			add(a.Name, "security domain", true, "quorum %d of %d; shares for recorded certificates: %s; for certificates not recorded here: %s",
				sd.Required, len(sd.Shares), listOrNone(known), listOrNone(unknown))
			if q := claims.Quorum; q != "" {
				want := fmt.Sprintf("%d of %d", sd.Required, len(sd.Shares))
				add(a.Name, "quorum", strings.HasPrefix(q, want), "recorded %q, the file says %s", q, want)
			}
		case transcripts.KindRestoreBlob:
			rb, err := securitydomain.ParseRestoreBlob(data)
			if err != nil {
				add(a.Name, "restore blob", false, "does not parse: %v", err)
				continue
			}
			if excRef == nil {
				add(a.Name, "restore blob", true, "wrapped to exchange key x5t#S256 %s (no exchange key recorded in this event)", rb.X5T256)
				continue
			}
			ed, err := rep.ReadArtifact(excRef.Name)
			if err != nil {
				add(a.Name, "restore blob", false, "%v", err)
				continue
			}
			c, err := securitydomain.ParseExchangeKey(ed)
			if err != nil {
				add(a.Name, "restore blob", false, "exchange key %s does not parse: %v", excRef.Name, err)
				continue
			}
			want := securitydomain.X5T256(c)
			add(a.Name, "restore blob exchange key", rb.X5T256 == want, "wrapped to x5t#S256 %s; recorded exchange key %s has %s", rb.X5T256, excRef.Name, want)
		}
	}
	return out
}

func problems(p []string) string {
	if len(p) == 0 {
		return ""
	}
	return "; problems: " + strings.Join(p, "; ")
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// kidFor is the kid recorded for the KEK artifact kekName: in event e, else
// in the first event that has the KEK among its artifacts and a kid
// parameter (kek.inspect); "" if none.
func kidFor(rep *transcripts.Report, e *transcripts.Entry, kekName string) string {
	if k := steps.ClaimsOf(e).KEKKid; k != "" {
		return k
	}
	for i := range rep.Events {
		ev := &rep.Events[i]
		for _, a := range append(append([]transcripts.ArtifactRef(nil), ev.Inputs...), ev.Outputs...) {
			if a.Name == kekName && a.Kind == transcripts.KindKEK {
				if k := steps.ClaimsOf(ev).KEKKid; k != "" {
					return k
				}
			}
		}
	}
	return ""
}

package audit

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/transcripts"
)

// page builds the text of a scrollable pane, wrapped to its width.
type page struct {
	m     *Model
	w     int
	lines []string
}

// heading starts a section.
func (p *page) heading(s string) {
	if len(p.lines) > 0 {
		p.lines = append(p.lines, "")
	}
	p.lines = append(p.lines, p.m.st.heading.Render(s))
}

// text adds a paragraph wrapped to the width, continued with indent.
func (p *page) text(indent, s string) {
	for _, l := range strings.Split(wrapIndent(s, p.w-len(indent), "  "), "\n") {
		p.lines = append(p.lines, indent+l)
	}
}

// field adds "  label  value", the value wrapped under itself; a long
// unbreakable value (a digest) is cut into pieces that fit.
func (p *page) field(label, value string) {
	const lw = 10
	vw := p.w - lw - 4
	if vw < 12 || ansi.StringWidth(label) > lw {
		// A long label, or a narrow pane: the label on its own line.
		p.lines = append(p.lines, "  "+p.m.st.dim.Render(label))
		p.text("    ", value)
		return
	}
	label = fit(label, lw)
	for i, l := range strings.Split(wrapValue(value, vw), "\n") {
		if i == 0 {
			p.lines = append(p.lines, "  "+p.m.st.dim.Render(label)+"  "+l)
		} else {
			p.lines = append(p.lines, strings.Repeat(" ", lw+4)+l)
		}
	}
}

// mark adds a line led by a state mark ("ok", "FAIL", ...) in its style.
func (p *page) mark(ok bool, okWord, failWord, s string) {
	m, st := okWord, p.m.st.ok
	if !ok {
		m, st = failWord, p.m.st.fail
	}
	head := fit(m, 4)
	lines := strings.Split(wrapIndent(s, p.w-7, ""), "\n")
	for i, l := range lines {
		if i == 0 {
			p.lines = append(p.lines, "  "+st.Render(head)+" "+l)
		} else {
			p.lines = append(p.lines, "       "+l)
		}
	}
}

func (p *page) String() string { return strings.Join(p.lines, "\n") }

// wrapValue wraps at spaces, and cuts words longer than the width; a hex
// digest too long for a line is cut in groups of 16 digits, so that the
// pieces can be read and compared.
func wrapValue(s string, w int) string {
	if len(s) > w && w >= 16 && isHex(s) {
		n := w / 16 * 16
		var parts []string
		for len(s) > n {
			parts = append(parts, s[:n])
			s = s[n:]
		}
		return strings.Join(append(parts, s), "\n")
	}
	return wrapIndent(s, w, "")
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// artifactWords is the PGP words of an artifact's first digest bytes,
// computed here from its SHA-256 (not taken from the recorded line).
func artifactWords(a transcripts.ArtifactRef) string {
	b, err := hex.DecodeString(a.SHA256)
	if err != nil || len(b) < words.ShortLen {
		return ""
	}
	return words.Of(b[:words.ShortLen])
}

// eventDetail is every recorded field of an event, its re-checks and
// problems.
func (m *Model) eventDetail(rw *row, w int) string {
	e := rw.entry
	p := &page{m: m, w: w}
	p.lines = append(p.lines, m.st.heading.Render(fmt.Sprintf("Event %d", e.Seq))+m.st.dim.Render(fmt.Sprintf("  line %d of %s", e.Line, transcripts.TranscriptFile)))
	p.field("step", e.Step)
	p.field("action", e.Action)
	p.field("actor", fmt.Sprintf("%s (%s)", e.Actor.Name, e.Actor.Role))
	p.field("time", e.OperatorTime+" (operator's clock, not authenticated)")
	p.field("result", e.Result)
	switch rw.sig {
	case sigPolicy:
		if m.rep.SignersChecked {
			p.field("signed", fmt.Sprintf("%s checkpoint at size %d meets the trust policy; %s", markSigned, m.rep.Signed, signers(rw.cp)))
		} else {
			p.field("signed", fmt.Sprintf("%s valid signature at size %d by %s; signers NOT CHECKED (no trust file)", markSigned, rw.cp.Size, signers(rw.cp)))
		}
	case sigValid:
		p.field("signed", fmt.Sprintf("%s at size %d by %s; the trust policy is NOT met by a checkpoint covering it", markPartial, rw.cp.Size, signers(rw.cp)))
	default:
		why := "NOT SIGNED by anyone"
		if e.Actor.Role == transcripts.RoleUploader {
			why += " (the online side's note after the signed state: it carries no authority)"
		}
		p.field("signed", markUnsigned+" "+why)
	}
	p.field("prev", e.Prev)
	if e.Mechanism != "" {
		p.field("mechanism", e.Mechanism)
	}
	artifacts := func(title string, list []transcripts.ArtifactRef) {
		if len(list) == 0 {
			return
		}
		p.heading(title)
		for _, a := range list {
			p.text("  ", fmt.Sprintf("%s (%s, %d bytes)", a.Name, a.Kind, a.Size))
			p.field("  sha256", a.SHA256)
			wds := artifactWords(a)
			p.field("  words", wds)
			if a.Words != wds {
				p.field("  recorded", a.Words+" (differs from the words of the digest)")
			}
		}
	}
	artifacts("Inputs", e.Inputs)
	artifacts("Outputs", e.Outputs)
	if len(e.Params) > 0 {
		p.heading("Parameters")
		for _, pr := range e.Params {
			p.field(pr.Name, pr.Value)
		}
	}
	if h := e.HSM; h != nil {
		p.heading("HSM")
		p.field("module", h.ModulePath)
		if h.ModuleSHA256 != "" {
			p.field("sha256", h.ModuleSHA256)
		}
		p.field("token", fmt.Sprintf("%q", h.TokenLabel))
		if h.Manufacturer != "" || h.Model != "" {
			p.field("model", strings.TrimSpace(h.Manufacturer+" "+h.Model))
		}
		if h.Serial != "" {
			p.field("serial", h.Serial)
		}
		if h.Firmware != "" {
			p.field("firmware", h.Firmware)
		}
	}
	if len(e.Deviations) > 0 {
		p.heading("Deviations")
		for _, d := range e.Deviations {
			p.text("  ", markProblem+" "+d)
		}
	}
	if a := e.ActedOn; a != nil {
		p.heading("Acted on")
		p.field("size", fmt.Sprint(a.Size))
		p.field("root", a.RootHash)
	}
	if len(e.Torn) > 0 {
		p.heading("Torn lines acknowledged")
		for _, t := range e.Torn {
			p.text("  ", fmt.Sprintf("line %d, %d bytes, sha256 %s", t.Line, t.Size, t.SHA256))
		}
	}
	p.heading("Tool")
	p.text("  ", fmt.Sprintf("%s %s (revision %s, %s)", e.Tool.Name, e.Tool.Version, e.Tool.Revision, e.Tool.GoVersion))

	p.heading("Re-checks (replay)")
	if len(rw.checks) == 0 {
		p.text("  ", "none: no artifact of this event is of a kind replay re-checks")
	}
	for _, c := range rw.checks {
		p.mark(c.OK, "ok", "FAIL", fmt.Sprintf("%s: %s: %s", c.Artifact, c.What, c.Detail))
	}
	if len(rw.problems) > 0 {
		p.heading("Problems")
		for _, pr := range rw.problems {
			p.mark(false, "", "FAIL", pr.String())
		}
	}
	return p.String()
}

// signers lists a checkpoint's signers.
func signers(cp *transcripts.CheckpointReport) string {
	if cp == nil {
		return "nobody"
	}
	var s []string
	for _, sig := range cp.Signatures {
		s = append(s, fmt.Sprintf("%s (%s)", sig.Name, sig.Role))
	}
	return strings.Join(s, ", ")
}

// signaturesPage is the checkpoints, who signed them, and the policy.
func (m *Model) signaturesPage(w int) string {
	rep := m.rep
	p := &page{m: m, w: w}
	p.heading("Trust policy")
	switch {
	case !rep.SignersChecked:
		p.text("  ", "signers NOT CHECKED: no trust file was given, so the signatures verify but say nothing about who made them (anyone can make a key named \"operator\"); open with --trust FILE")
	case rep.Policy == nil:
		p.text("  ", "no policy result")
	case rep.Policy.Met:
		p.mark(true, "met", "", fmt.Sprintf("by the checkpoint at size %d", rep.Policy.Checkpoint.Size))
		p.field("required", sortedRoles(rep.Policy.Required, rep.Policy.Required))
		p.field("signed", sortedRoles(rep.Policy.Best, rep.Policy.Required))
	default:
		p.mark(false, "", "NOT", "met by any checkpoint")
		p.field("required", sortedRoles(rep.Policy.Required, rep.Policy.Required))
		p.field("best", sortedRoles(rep.Policy.Best, rep.Policy.Required))
	}
	signed := len(rep.Events) - rep.Unsigned
	p.text("  ", fmt.Sprintf("Signed state: %d of %d lines (%d events); %d event(s) after it are signed by no one.", rep.Signed, rep.Lines, signed, rep.Unsigned))

	if len(rep.Checkpoints) == 0 {
		p.heading("Checkpoints")
		p.text("  ", "No checkpoint is signed.")
	}
	for _, cp := range rep.Checkpoints {
		state := ""
		if rep.SignersChecked {
			state = "  policy NOT met"
			if cp.PolicyMet {
				state = "  policy met"
			}
		}
		p.heading(fmt.Sprintf("Checkpoint at size %d%s", cp.Size, state))
		p.field("root", cp.RootHash)
		p.field("words", cp.Words)
		for _, s := range cp.Signatures {
			var trust string
			switch {
			case !rep.SignersChecked:
				trust = "signer not checked"
			case s.Trusted:
				trust = "trusted"
			case s.TrustedAs != "":
				trust = fmt.Sprintf("NOT trusted under this name: the trust file knows the key as %q", s.TrustedAs)
			default:
				trust = "NOT in the trust file"
			}
			role := s.Role
			if s.ClaimedRole != "" && s.ClaimedRole != s.Role {
				role += " (claimed " + s.ClaimedRole + ")"
			}
			ok := s.Valid && (s.Trusted || !rep.SignersChecked)
			p.mark(ok, markSigned, markPartial, fmt.Sprintf("%s as %s: %s, key ID %s, %s, %s", s.Name, role, s.KeyType, s.KeyID, map[bool]string{true: "valid", false: "INVALID"}[s.Valid], trust))
			p.text("       ", s.NoteFile+", "+s.DSSEFile)
		}
	}
	var bad []transcripts.Problem
	for _, pr := range rep.Problems {
		if strings.HasPrefix(pr.File, transcripts.SignaturesDir) {
			bad = append(bad, pr)
		}
	}
	if len(bad) > 0 {
		p.heading("Signature problems")
		for _, pr := range bad {
			p.mark(false, "", "FAIL", pr.String())
		}
	}
	return p.String()
}

// problemsPage is every problem Verify found and every failed re-check.
func (m *Model) problemsPage(w int) string {
	rep := m.rep
	p := &page{m: m, w: w}
	p.heading(fmt.Sprintf("Verification: %d %s", len(rep.Problems), plural(len(rep.Problems), "problem", "problems")))
	if len(rep.Problems) == 0 {
		p.mark(true, "ok", "", "the transcript, its artifacts and signatures verify")
	}
	for _, pr := range rep.Problems {
		s := pr.String()
		if pr.Interrupted {
			s += " [left by an interrupted step: reopening the ceremony closes it]"
		}
		p.mark(false, "", "FAIL", s)
	}
	if n := int64(len(rep.Events)); n < rep.Lines {
		p.text("  ", fmt.Sprintf("Only the first %d of %d lines verify as events; the list shows those.", n, rep.Lines))
	}
	p.heading(fmt.Sprintf("Re-checks: %d failed", len(m.failedChecks)))
	if len(m.failedChecks) == 0 {
		p.mark(true, "ok", "", "every artifact says what the transcript says")
	}
	for _, c := range m.failedChecks {
		p.mark(false, "", "FAIL", c.String())
	}
	return p.String()
}

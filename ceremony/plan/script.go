package plan

import (
	"fmt"
	"io"
	"strings"
)

// Formats of the printed script.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
)

// WriteScript prints the plan as the numbered script participants follow:
// text for the screen, or markdown for printing, with columns for the
// initials of the people who do and confirm each step and the time. review
// (may be nil) adds the reviewers' signatures.
func (p *Plan) WriteScript(w io.Writer, format string, review *Review) error {
	var b strings.Builder
	switch format {
	case FormatText, "":
		p.text(&b, review)
	case FormatMarkdown:
		p.markdown(&b, review)
	default:
		return fmt.Errorf("format %q: want text or markdown", format)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wordLines splits a word list into lines of n words.
func wordLines(ws string, n int) []string {
	f := strings.Fields(ws)
	var out []string
	for i := 0; i < len(f); i += n {
		out = append(out, strings.Join(f[i:min(i+n, len(f))], " "))
	}
	return out
}

func (p *Plan) title() string {
	return fmt.Sprintf("Ceremony plan %s (%s)", p.Name, p.Kind)
}

func (f Fact) show() string {
	v := f.Value
	if v == "" {
		v = "(known on the day)"
	}
	if f.Words != "" {
		v += " [" + f.Words + "]"
	}
	if f.Aloud {
		v += "; compare aloud"
	}
	return v
}

func reviewLine(r *Review) string {
	if r == nil {
		return ""
	}
	state := "met"
	if !r.Met {
		state = "NOT met"
	}
	s := fmt.Sprintf("review policy %s: %s", r.Policy, state)
	if len(r.Signed) > 0 {
		s += "; signed by " + strings.Join(r.Signed, ", ")
	}
	if len(r.Missing) > 0 {
		s += "; not signed by " + strings.Join(r.Missing, ", ")
	}
	return s
}

func (p *Plan) text(b *strings.Builder, r *Review) {
	fmt.Fprintf(b, "%s\n", p.title())
	for i, l := range strings.Split(strings.TrimSpace(p.Purpose), "\n") {
		if i == 0 {
			fmt.Fprintf(b, "purpose  %s\n", l)
		} else {
			fmt.Fprintf(b, "         %s\n", l)
		}
	}
	fmt.Fprintf(b, "sha256   %s\n", p.Digest.Hex())
	for i, l := range wordLines(p.Digest.Words(), 8) {
		label := "words   "
		if i > 0 {
			label = "        "
		}
		fmt.Fprintf(b, "%s %s\n", label, l)
	}
	if r != nil {
		fmt.Fprintf(b, "review   %s\n", reviewLine(r))
		if r.Stale != "" {
			fmt.Fprintf(b, "         %s\n", r.Stale)
		}
		for _, pr := range r.Problems {
			fmt.Fprintf(b, "         does not count: %s\n", pr)
		}
	}
	b.WriteString("\nPeople\n")
	width := 0
	for _, q := range p.People {
		width = max(width, len(q.Name))
	}
	for _, q := range p.People {
		fmt.Fprintf(b, "  %-*s  %-9s  key %s", width, q.Name, q.Role, keyID(q.Key))
		if q.TokenSerial != "" {
			fmt.Fprintf(b, "  card %s", q.TokenSerial)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nScript\n")
	for _, s := range p.Steps {
		where := ""
		if s.Online {
			where = " (online side)"
		}
		fmt.Fprintf(b, "%2d. [%s]%s %s\n", s.N, strings.Join(s.Who, ", "), where, s.Action)
		if s.Command != "" {
			fmt.Fprintf(b, "      $ %s\n", s.Command)
		}
		fw := 0
		for _, f := range s.Facts {
			fw = max(fw, len(f.Name))
		}
		for _, f := range s.Facts {
			fmt.Fprintf(b, "      %-*s  %s\n", fw, f.Name, f.show())
		}
	}
	fmt.Fprintf(b, "\n%d steps. Each person initials each step they do or confirm.\n", len(p.Steps))
}

// mdCell escapes text for a markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	for _, c := range []string{"*", "_", "`", "<", ">", "[", "]"} {
		s = strings.ReplaceAll(s, c, `\`+c)
	}
	return s
}

func (p *Plan) markdown(b *strings.Builder, r *Review) {
	fmt.Fprintf(b, "# %s\n\n", mdCell(p.title()))
	fmt.Fprintf(b, "**Purpose:** %s\n\n", mdCell(strings.TrimSpace(p.Purpose)))
	fmt.Fprintf(b, "**Plan SHA-256:** `%s`\n\n", p.Digest.Hex())
	fmt.Fprintf(b, "**Words:** %s\n\n", strings.Join(wordLines(p.Digest.Words(), 8), " / "))
	if r != nil {
		fmt.Fprintf(b, "**Review:** %s\n\n", mdCell(reviewLine(r)))
		if r.Stale != "" {
			fmt.Fprintf(b, "**Stale signatures:** %s\n\n", mdCell(r.Stale))
		}
	}
	b.WriteString("## People\n\n| Name | Role | Signing key | Card serial | Initials |\n|---|---|---|---|---|\n")
	for _, q := range p.People {
		fmt.Fprintf(b, "| %s | %s | %s | %s | |\n", mdCell(q.Name), q.Role, keyID(q.Key), mdCell(q.TokenSerial))
	}
	b.WriteString("\n## Script\n\n| # | Who | Step | Expected | Initials | Time |\n|---|---|---|---|---|---|\n")
	for _, s := range p.Steps {
		what := mdCell(s.Action)
		if s.Online {
			what = "**Online side:** " + what
		}
		if s.Command != "" && !strings.Contains(s.Command, "`") {
			what += "<br>`" + strings.ReplaceAll(s.Command, "|", `\|`) + "`"
		} else if s.Command != "" {
			what += "<br>" + mdCell(s.Command)
		}
		var facts []string
		for _, f := range s.Facts {
			facts = append(facts, mdCell(f.Name)+": "+mdCell(f.show()))
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | | |\n", s.N, mdCell(strings.Join(s.Who, ", ")), what, strings.Join(facts, "<br>"))
	}
	fmt.Fprintf(b, "\n%d steps. Each person initials each step they do or confirm.\n", len(p.Steps))
}

package plan

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/keyrite/keyrite/transcripts"
)

// SigSuffix is appended to a plan's path to name its signature file.
const SigSuffix = ".sig"

// NoteOrigin is the first line of the text reviewers sign.
const NoteOrigin = "keyrite.plan/v1"

// Errors of signing.
var (
	ErrNotReviewer   = errors.New("this key is not one the plan's review policy counts")
	ErrStale         = errors.New("the signature file signs another version of the plan")
	ErrAlreadySigned = errors.New("this key already signed this version of the plan")
)

// SigPath names the signature file of the plan at path: path + ".sig".
func SigPath(path string) string { return path + SigSuffix }

// NoteText is what reviewers sign: a C2SP signed-note text binding the
// plan's kind, name and the SHA-256 of its exact bytes,
//
//	keyrite.plan/v1
//	byok contoso-app-keys-2026q1
//	sha256:<64 hex digits>
//
// so that any change to the file, a comment or a space, leaves earlier
// signatures over another digest.
func (p *Plan) NoteText() []byte {
	return fmt.Appendf(nil, "%s\n%s %s\nsha256:%s\n", NoteOrigin, p.Kind, p.Name, p.Digest.Hex())
}

// reviewer returns the person of the plan whose key is s's public key
// and whose role the review policy counts; s must be named as the plan
// names them.
func (p *Plan) reviewer(s *transcripts.Signer) (Person, error) {
	tk, ok := p.review.KeyFor(s.Public())
	if !ok {
		return Person{}, fmt.Errorf("%w: no person of the plan has it", ErrNotReviewer)
	}
	if _, counts := p.Policy.Review[tk.Role]; !counts {
		return Person{}, fmt.Errorf("%w: it is %s's, a %s, and the review policy counts %s", ErrNotReviewer, tk.Name, tk.Role, strings.Join(sortedRoles(p.Policy.Review), ", "))
	}
	if tk.Name != s.Name() {
		return Person{}, fmt.Errorf("%w: the plan names this key %q, not %q", ErrNotReviewer, tk.Name, s.Name())
	}
	q, _ := p.Person(tk.Name)
	return q, nil
}

// ReviewerFor finds the reviewer whose key is pub: the name a signer must
// sign under.
func (p *Plan) ReviewerFor(pub any) (Person, bool) {
	tk, ok := p.review.KeyFor(pub)
	if !ok {
		return Person{}, false
	}
	if _, counts := p.Policy.Review[tk.Role]; !counts {
		return Person{}, false
	}
	return p.Person(tk.Name)
}

// Sign signs the plan with s, which must be the key of a person whose
// role the review policy counts, named as the plan names them. existing is
// the current signature file (nil if there is none): the new signature is
// added to it. It returns the new content of the signature file.
func (p *Plan) Sign(s *transcripts.Signer, existing []byte) ([]byte, error) {
	if _, err := p.reviewer(s); err != nil {
		return nil, err
	}
	text := p.NoteText()
	if existing != nil {
		old, sigs, err := transcripts.ParseNote(existing)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(old, text) {
			return nil, fmt.Errorf("%w (%s)", ErrStale, describeNote(old))
		}
		for _, sig := range sigs {
			if sig.Name == s.Name() && sig.KeyHash == s.KeyHash() {
				return nil, ErrAlreadySigned
			}
		}
	}
	signed, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		return nil, err
	}
	if existing == nil {
		return signed, nil
	}
	return transcripts.MergeNotes(existing, signed)
}

// describeNote says which plan a signed text is over.
func describeNote(text []byte) string {
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	if len(lines) == 3 && lines[0] == NoteOrigin {
		return "it signs " + lines[2] + ", another version of the plan"
	}
	return "it is not a keyrite plan signature"
}

// Review is what a plan's signature file shows.
type Review struct {
	Policy  string   `json:"policy"`            // "reviewer:2"
	Met     bool     `json:"met"`               // the review policy is met by valid signatures over this version
	Signed  []string `json:"signed"`            // people whose valid signature counts, in plan order
	Missing []string `json:"missing,omitempty"` // people the policy counts who have not signed
	// Stale is set when the signature file signs another version of the
	// plan: none of its signatures count.
	Stale string `json:"stale,omitempty"`
	// Problems lists signatures that do not count and why (unknown key,
	// bad signature, a role the policy does not count).
	Problems []string `json:"problems,omitempty"`
	// NoFile: there is no signature file yet.
	NoFile bool `json:"no_file,omitempty"`
}

// CheckReview checks the signature file's content sig (nil: there is
// none) against the plan and its review policy.
func (p *Plan) CheckReview(sig []byte) *Review {
	r := &Review{Policy: policyString(p.Policy.Review)}
	counted := map[string]bool{}
	switch {
	case sig == nil:
		r.NoFile = true
	default:
		text, sigs, err := transcripts.ParseNote(sig)
		switch {
		case err != nil:
			r.Problems = append(r.Problems, err.Error())
		case !bytes.Equal(text, p.NoteText()):
			r.Stale = fmt.Sprintf("%s: the plan changed since, so its %d signature(s) do not count", describeNote(text), len(sigs))
		default:
			for _, s := range sigs {
				q, ok := p.Person(s.Name)
				var v *transcripts.Verifier
				if ok {
					v, _ = transcripts.NewVerifier(q.Key)
				}
				switch {
				case !ok || v == nil || v.KeyHash() != s.KeyHash:
					r.Problems = append(r.Problems, fmt.Sprintf("%s (key %08x): not a key of the plan", s.Name, s.KeyHash))
				case !v.Verify(text, s.Sig):
					r.Problems = append(r.Problems, fmt.Sprintf("%s: the signature does not verify", s.Name))
				case p.Policy.Review[q.Role] == 0:
					r.Problems = append(r.Problems, fmt.Sprintf("%s: signed, but a %s's signature does not count for the review", s.Name, q.Role))
				default:
					counted[s.Name] = true
				}
			}
		}
	}
	perRole := map[string]int{}
	for _, q := range p.People {
		if p.Policy.Review[q.Role] == 0 {
			continue
		}
		if counted[q.Name] {
			r.Signed = append(r.Signed, q.Name)
			perRole[q.Role]++
		} else {
			r.Missing = append(r.Missing, q.Name)
		}
	}
	r.Met = true
	for role, n := range p.Policy.Review {
		if perRole[role] < n {
			r.Met = false
		}
	}
	return r
}

func policyString(pol map[string]int) string {
	var out []string
	for _, r := range sortedRoles(pol) {
		out = append(out, fmt.Sprintf("%s:%d", r, pol[r]))
	}
	return strings.Join(out, " ")
}

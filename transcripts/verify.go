package transcripts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"
)

// ErrVerify is wrapped by the error Verify returns when anything fails.
var ErrVerify = errors.New("transcripts: verification failed")

// ErrPolicyNotMet marks the problem that says no checkpoint has the trusted
// signatures the policy requires: the transcript, its artifacts and its
// signatures may all be intact. (Events recorded after the signed state are
// another problem, not marked so: someone must look at what was added.)
// Match it with errors.Is on [Problem.Err] or on the error Verify returns.
var ErrPolicyNotMet = errors.New("transcripts: trust policy not met")

// ErrInterruptedSign marks what a sign killed part-way leaves: a temporary
// signature file of keyrite's own naming, or a note of the current state
// whose DSSE file was never written. Nothing was tampered with: signing
// again (`keyrite transcript sign`, or Sign) removes the temporary file, and
// the same key signing the same state completes the pair. Match it with
// errors.Is on [Problem.Err].
var ErrInterruptedSign = errors.New("transcripts: left by an interrupted sign")

// ErrSignerName is wrapped by a [SignerNameError].
var ErrSignerName = errors.New("transcripts: signed under another name than the trust file's")

// SignerNameError is a valid signature by a key that the trust file lists
// under another name. A C2SP signature line carries the signer's name, and
// for Ed25519 the key ID covers it, so the signature does not match the
// trust file's verifier key and does not count for the policy; nothing was
// tampered with. Verify reports it (as a problem) when the policy is not met.
type SignerNameError struct {
	File         string // the note file, e.g. "signatures/5-ca35be5d.note"
	Name         string // the name in the signature
	KeyID        string // the signature's key ID
	TrustedName  string // the trust file's name for the same public key
	TrustedKeyID string // the key ID of the trust file's verifier key
	TrustedRole  string // the trust file's role for it
}

func (e *SignerNameError) Error() string { return "transcripts: " + e.message() }

func (e *SignerNameError) message() string {
	return fmt.Sprintf("signed by the key named %q in the signature (key ID %s), but the trust file knows this public key as %q (key ID %s, role %s); a signature counts only under the trust file's name",
		e.Name, e.KeyID, e.TrustedName, e.TrustedKeyID, e.TrustedRole)
}

func (e *SignerNameError) Unwrap() error { return ErrSignerName }

// Problem is one thing that failed verification.
type Problem struct {
	File    string `json:"file"`            // path inside the ceremony directory
	Line    int64  `json:"line,omitempty"`  // transcript line, when it is about one
	Seq     int64  `json:"seq,omitempty"`   // event seq, when known
	Field   string `json:"field,omitempty"` // JSON field or signature part at fault
	Message string `json:"message"`
	// Interrupted marks what an interrupted step leaves (a torn last line,
	// an unbound artifact, a temporary file): reopening the ceremony (any
	// recording command, or `keyrite transcript sign`) closes it with an
	// explicit aborted record.
	Interrupted bool `json:"interrupted,omitempty"`

	err error // a sentinel or typed error saying what kind of problem this is, or nil
}

// Err is the problem's kind for errors.Is and errors.As: [ErrPolicyNotMet],
// a [*SignerNameError], [ErrInterruptedSign], or nil for the others (a
// broken or changed transcript, artifact or signature).
func (p Problem) Err() error { return p.err }

func (p Problem) String() string {
	if p.File != TranscriptFile {
		// Another file, possibly bound by a transcript line.
		s := p.File
		if p.Field != "" && p.Line == 0 {
			s += ", " + p.Field
		}
		s += ": " + p.Message
		if p.Line > 0 {
			s += fmt.Sprintf(" (%s line %d", TranscriptFile, p.Line)
			if p.Field != "" {
				s += ", " + p.Field
			}
			s += ")"
		}
		return s
	}
	s := p.File
	if p.Line > 0 {
		s += fmt.Sprintf(" line %d", p.Line)
	}
	if p.Seq > 0 {
		s += fmt.Sprintf(" (event %d)", p.Seq)
	}
	if p.Field != "" {
		s += ", " + p.Field
	}
	return s + ": " + p.Message
}

// VerifyError lists every problem found.
type VerifyError struct{ Problems []Problem }

func (e *VerifyError) Error() string {
	if len(e.Problems) == 1 {
		return "transcripts: " + e.Problems[0].String()
	}
	return fmt.Sprintf("transcripts: %d problems, first: %s", len(e.Problems), e.Problems[0])
}

// Unwrap gives ErrVerify and the kinds of the problems (see [Problem.Err]).
func (e *VerifyError) Unwrap() []error {
	errs := []error{ErrVerify}
	for _, p := range e.Problems {
		if p.err != nil {
			errs = append(errs, p.err)
		}
	}
	return errs
}

// SignatureReport describes one verified (or failed) signature.
type SignatureReport struct {
	Name        string `json:"name"`
	KeyID       string `json:"key_id"`
	KeyType     string `json:"key_type"`
	VerifierKey string `json:"key"`
	Role        string `json:"role"`         // the trust file's role for a trusted key, else the claimed role
	ClaimedRole string `json:"claimed_role"` // what the signer said when signing (--role)
	Trusted     bool   `json:"trusted"`      // the key is in the trust file
	Valid       bool   `json:"valid"`        // the note and DSSE signatures both verify
	NoteFile    string `json:"note_file"`
	DSSEFile    string `json:"dsse_file"`

	// TrustedAs is set when the key is not trusted under this name, but the
	// trust file lists the same public key under the name TrustedAs (with
	// key ID TrustedAsKeyID): see SignerNameError.
	TrustedAs      string `json:"trusted_as,omitempty"`
	TrustedAsKeyID string `json:"trusted_as_key_id,omitempty"`
}

// CheckpointReport is a signed state of the transcript.
type CheckpointReport struct {
	CheckpointRef
	Text       string            `json:"text"`
	Words      string            `json:"words"` // PGP words of the first 8 bytes of the root hash
	Signatures []SignatureReport `json:"signatures"`
	PolicyMet  bool              `json:"policy_met"`
}

// PolicyReport says whether the trust policy is met.
type PolicyReport struct {
	Required   map[string]int `json:"required"`
	Met        bool           `json:"met"`
	Checkpoint *CheckpointRef `json:"checkpoint,omitempty"` // the latest checkpoint meeting it
	Best       map[string]int `json:"best"`                 // valid trusted signatures per role on the best checkpoint
}

// Report is what Verify found. Events and Artifacts hold exactly what is
// recorded; act only on them after checking the error.
type Report struct {
	Dir         string             `json:"dir"`
	Origin      string             `json:"origin"`
	Lines       int64              `json:"lines"`
	Events      []Entry            `json:"events"` // every verified event, in order (a prefix if the chain breaks)
	Artifacts   []ArtifactRef      `json:"artifacts"`
	Checkpoints []CheckpointReport `json:"checkpoints"`
	Policy      *PolicyReport      `json:"policy,omitempty"`
	// Signed is the number of lines covered by the latest checkpoint that
	// meets the trust policy (with a trust file), or by the latest validly
	// signed checkpoint (without one); 0 if none.
	Signed int64 `json:"signed"`
	// Unsigned is the number of events after the signed state: the
	// uploader's records, which nobody signed. They are notes: they carry
	// no authority and change nothing the uploader acts on.
	Unsigned int `json:"unsigned_events"`
	// SignersChecked is false when no trust file was given: the signatures
	// verify, but say nothing about who made them (anyone can make a key
	// named "operator").
	SignersChecked bool      `json:"signers_checked"`
	Problems       []Problem `json:"problems"`
	OK             bool      `json:"ok"`

	artifacts map[string]ArtifactRef
}

// SignedEvents returns the events covered by Signed: with a trust file,
// exactly the state the required people signed.
func (r *Report) SignedEvents() []Entry {
	var out []Entry
	for _, e := range r.Events {
		if e.Line <= r.Signed {
			out = append(out, e)
		}
	}
	return out
}

// ReadArtifact reads a recorded artifact and checks it again against its
// recorded digest and size (the file is re-read, so a change after Verify is
// caught).
func (r *Report) ReadArtifact(name string) ([]byte, error) {
	ref, ok := r.artifacts[name]
	if !ok {
		return nil, fmt.Errorf("transcripts: no artifact %q is recorded", name)
	}
	data, err := readFile(filepath.Join(r.Dir, ArtifactsDir, name), ref.Size)
	if errors.Is(err, errTooLarge) || errors.Is(err, errNotRegular) {
		return nil, fmt.Errorf("%w: artifacts/%s no longer matches its recorded size %d or is no longer a regular file", ErrVerify, name, ref.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("transcripts: %w", err)
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != ref.Size || hex.EncodeToString(sum[:]) != ref.SHA256 {
		return nil, fmt.Errorf("%w: artifacts/%s no longer matches its recorded sha256 %s", ErrVerify, name, ref.SHA256)
	}
	return data, nil
}

var sigFileRE = regexp.MustCompile(`^([1-9][0-9]{0,17})-([0-9a-f]{8})\.(note|dsse\.json)$`)

// Verify checks a ceremony directory: every line's form and link (seq,
// prev), every artifact's size and digest, that no file is missing or
// unaccounted for, every signature (C2SP signed-note checkpoint and DSSE
// attestation, which must agree), and, with trust, that the policy is met
// by a checkpoint covering every event except the uploader's own later
// records (which must name the checkpoint they acted on).
//
// The Report is returned even when verification fails, with every problem
// found; the error is a *VerifyError (wrapping ErrVerify) then. Verify does
// not lock the directory and writes nothing.
func Verify(dir string, trust *Trust) (*Report, error) {
	r := &Report{Dir: dir, artifacts: map[string]ArtifactRef{}, SignersChecked: trust != nil}
	add := func(p Problem) { r.Problems = append(r.Problems, p) }

	data, err := readFile(filepath.Join(dir, TranscriptFile), MaxTranscriptSize)
	if err != nil {
		add(Problem{File: TranscriptFile, Message: fmt.Sprintf("cannot read it: %v", err)})
		return r, r.finish()
	}
	ch, cerr := parseChain(data)
	r.Origin = ch.origin
	r.Lines = int64(len(ch.lines))
	r.Events = make([]Entry, 0, len(ch.entries))
	for _, e := range ch.entries {
		r.Events = append(r.Events, *e)
	}
	if cerr != nil {
		var le *LineError
		if errors.As(cerr, &le) {
			p := Problem{File: TranscriptFile, Line: le.Line, Seq: le.Seq, Field: le.Field, Message: strings.TrimPrefix(le.Err.Error(), "transcripts: ")}
			// A damaged line that is the last one is what a crash leaves.
			p.Interrupted = le.Line == r.Lines && !bytes.HasSuffix(data, []byte("\n"))
			add(p)
		} else {
			add(Problem{File: TranscriptFile, Message: cerr.Error()})
		}
	}
	for _, t := range ch.torn {
		add(Problem{File: TranscriptFile, Line: t.Line, Interrupted: true,
			Message: fmt.Sprintf("unfinished line (%d bytes) left by an interrupted step; the %d line(s) before it verify; reopening the ceremony closes it with an aborted record", t.Size, t.Line-1)})
	}
	good := int64(len(ch.lines)) - int64(len(ch.torn)) // lines a checkpoint may cover
	if cerr != nil && len(ch.entries) > 0 {
		good = ch.entries[len(ch.entries)-1].Line
	} else if cerr != nil {
		good = 0
	}

	// Artifacts: each name bound to one content, each file present and
	// matching, nothing else in the directory.
	type binding struct {
		ref   ArtifactRef
		seq   int64
		line  int64
		field string
	}
	bound := map[string]binding{}
	var order []string
	for _, e := range ch.entries {
		for _, list := range []struct {
			f    string
			refs []ArtifactRef
		}{{"inputs", e.Inputs}, {"outputs", e.Outputs}} {
			for i, a := range list.refs {
				field := fmt.Sprintf("%s[%d]", list.f, i)
				if b, ok := bound[a.Name]; ok {
					if b.ref != a {
						add(Problem{File: TranscriptFile, Line: e.Line, Seq: e.Seq, Field: field,
							Message: fmt.Sprintf("artifact %q is recorded with sha256 %s (kind %s) by event %d, and here with %s (kind %s)", a.Name, b.ref.SHA256, b.ref.Kind, b.seq, a.SHA256, a.Kind)})
					}
					continue
				}
				bound[a.Name] = binding{a, e.Seq, e.Line, field}
				order = append(order, a.Name)
			}
		}
		if e.ActedOn != nil {
			a := e.ActedOn
			switch {
			case a.Origin != ch.origin:
				add(Problem{File: TranscriptFile, Line: e.Line, Seq: e.Seq, Field: "acted_on.origin", Message: fmt.Sprintf("%q is not this ceremony (%q)", a.Origin, ch.origin)})
			case a.Size >= e.Line:
				add(Problem{File: TranscriptFile, Line: e.Line, Seq: e.Seq, Field: "acted_on.size", Message: fmt.Sprintf("%d does not precede this line", a.Size)})
			case hexHash(rootHash(ch.leaves[:a.Size])) != a.RootHash:
				add(Problem{File: TranscriptFile, Line: e.Line, Seq: e.Seq, Field: "acted_on.root_hash", Message: fmt.Sprintf("%s is not the root hash of the first %d lines", a.RootHash, a.Size)})
			}
		}
	}
	for _, name := range order {
		b := bound[name]
		r.Artifacts = append(r.Artifacts, b.ref)
		r.artifacts[name] = b.ref
		path := filepath.Join(ArtifactsDir, name)
		st, err := os.Lstat(filepath.Join(dir, path))
		if err != nil {
			add(Problem{File: path, Seq: b.seq, Line: b.line, Field: b.field, Message: fmt.Sprintf("recorded by event %d but missing: %v", b.seq, errors.Unwrap(err))})
			continue
		}
		if !st.Mode().IsRegular() {
			add(Problem{File: path, Seq: b.seq, Message: "not a regular file"})
			continue
		}
		if st.Size() != b.ref.Size {
			add(Problem{File: path, Seq: b.seq, Line: b.line, Field: b.field + ".size", Message: fmt.Sprintf("file has %d bytes, event %d recorded %d", st.Size(), b.seq, b.ref.Size)})
			continue
		}
		content, err := readFile(filepath.Join(dir, path), b.ref.Size)
		if err != nil {
			add(Problem{File: path, Message: err.Error()})
			continue
		}
		sum := sha256.Sum256(content)
		if got := hex.EncodeToString(sum[:]); got != b.ref.SHA256 {
			add(Problem{File: path, Seq: b.seq, Line: b.line, Field: b.field + ".sha256", Message: fmt.Sprintf("file has sha256 %s, event %d recorded %s", got, b.seq, b.ref.SHA256)})
			continue
		}
		if b.ref.Kind != KindOrphan {
			if why := secretInData(content); why != "" {
				add(Problem{File: path, Seq: b.seq, Message: "looks like secret material: " + why})
			}
		}
	}
	top, _ := listDir(dir)
	for _, n := range top {
		switch n {
		case TranscriptFile, ArtifactsDir, SignaturesDir:
		default:
			add(Problem{File: n, Interrupted: isTemp(n), Message: unexpected(n)})
		}
	}
	arts, _ := listDir(filepath.Join(dir, ArtifactsDir))
	for _, n := range arts {
		if _, ok := bound[n]; !ok {
			add(Problem{File: filepath.Join(ArtifactsDir, n), Interrupted: true, Message: unexpected(n)})
		}
	}

	// Signatures.
	checkSignatures(r, dir, ch, good, trust, add)

	return r, r.finish()
}

func unexpected(n string) string {
	if isTemp(n) {
		return "temporary file of an interrupted write; reopening the ceremony removes it"
	}
	return "not recorded by any event (left by an interrupted step, or added by hand); reopening the ceremony binds it in an aborted record"
}

func (r *Report) finish() error {
	r.Unsigned = 0
	for _, e := range r.Events {
		if e.Line > r.Signed {
			r.Unsigned++
		}
	}
	// Empty lists, not null, in JSON.
	if r.Events == nil {
		r.Events = []Entry{}
	}
	if r.Artifacts == nil {
		r.Artifacts = []ArtifactRef{}
	}
	if r.Checkpoints == nil {
		r.Checkpoints = []CheckpointReport{}
	}
	if r.Problems == nil {
		r.Problems = []Problem{}
	}
	r.OK = len(r.Problems) == 0
	if r.OK {
		return nil
	}
	return &VerifyError{Problems: r.Problems}
}

func checkSignatures(r *Report, dir string, ch *chain, good int64, trust *Trust, add func(Problem)) {
	names, err := listDir(filepath.Join(dir, SignaturesDir))
	if err != nil {
		add(Problem{File: SignaturesDir, Message: err.Error()})
	}
	type pair struct{ note, dsse string }
	pairs := map[string]*pair{}
	var keys []string
	for _, n := range names {
		path := filepath.Join(SignaturesDir, n)
		m := sigFileRE.FindStringSubmatch(n)
		if m == nil && isSignTemp(n) {
			add(Problem{File: path, Interrupted: true, err: ErrInterruptedSign,
				Message: "temporary file of an interrupted sign (stopped before the signature file was linked into place); signing again removes it"})
			continue
		}
		if m == nil {
			add(Problem{File: path, Message: "not a signature file (want SIZE-KEYID.note or SIZE-KEYID.dsse.json)"})
			continue
		}
		k := m[1] + "-" + m[2]
		p := pairs[k]
		if p == nil {
			p = &pair{}
			pairs[k] = p
			keys = append(keys, k)
		}
		if m[3] == "note" {
			p.note = path
		} else {
			p.dsse = path
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		si, _ := strconv.ParseInt(strings.Split(keys[i], "-")[0], 10, 64)
		sj, _ := strconv.ParseInt(strings.Split(keys[j], "-")[0], 10, 64)
		if si != sj {
			return si < sj
		}
		return keys[i] < keys[j]
	})
	bySize := map[int64]*CheckpointReport{}
	var sizes []int64
	for _, k := range keys {
		p := pairs[k]
		if p.note == "" || p.dsse == "" {
			have, miss := p.note, strings.TrimSuffix(p.note, ".note")+".dsse.json"
			if p.note == "" {
				have, miss = p.dsse, strings.TrimSuffix(p.dsse, ".dsse.json")+".note"
			}
			// Sign writes the note first: a note without its DSSE file,
			// of the state there is now, is completed by signing again.
			size, _ := strconv.ParseInt(strings.Split(k, "-")[0], 10, 64)
			if p.note != "" && size == good && good == int64(len(ch.lines)) {
				add(Problem{File: have, Interrupted: true, err: ErrInterruptedSign,
					Message: fmt.Sprintf("%s is missing: an interrupted sign leaves this; the same key signing again completes it", miss)})
				continue
			}
			add(Problem{File: have, Message: fmt.Sprintf("%s is missing: removed, or left by a sign interrupted at size %d, which signing again cannot complete now that the transcript has changed; ask its signer, then move %s out of %s", miss, size, have, SignaturesDir)})
			continue
		}
		sr, ref, text, prob := checkSignature(dir, p.note, p.dsse, k, ch, good, trust)
		if prob != nil {
			add(*prob)
			continue
		}
		cr := bySize[ref.Size]
		if cr == nil {
			cr = &CheckpointReport{CheckpointRef: ref, Text: string(text), Words: rootWords(ref.RootHash)}
			bySize[ref.Size] = cr
			sizes = append(sizes, ref.Size)
		}
		cr.Signatures = append(cr.Signatures, sr)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	var best map[string]int
	var bestSize int64
	for _, s := range sizes {
		cr := bySize[s]
		if trust == nil {
			r.Signed = s
			r.Checkpoints = append(r.Checkpoints, *cr)
			continue
		}
		counts := map[string]int{}
		seen := map[string]bool{}
		for _, sig := range cr.Signatures {
			if sig.Trusted && sig.Valid && !seen[sig.VerifierKey] {
				seen[sig.VerifierKey] = true
				counts[sig.Role]++
			}
		}
		met := true
		for role, n := range trust.Policy {
			if counts[role] < n {
				met = false
			}
		}
		cr.PolicyMet = met
		r.Checkpoints = append(r.Checkpoints, *cr)
		if met {
			ref := cr.CheckpointRef
			r.Signed = s
			r.Policy = &PolicyReport{Required: trust.Policy, Met: true, Checkpoint: &ref, Best: counts}
		}
		if best == nil || score(counts, trust.Policy) >= score(best, trust.Policy) {
			best, bestSize = counts, s
		}
	}
	if trust == nil {
		return
	}
	if r.Policy == nil {
		if best == nil {
			best = map[string]int{}
		}
		r.Policy = &PolicyReport{Required: trust.Policy, Best: best}
		// A trusted key that signed under another name explains the
		// failure better than the counts do: say so first.
		for _, cp := range r.Checkpoints {
			for _, sig := range cp.Signatures {
				if sig.TrustedAs == "" {
					continue
				}
				tk, _ := trust.byName(sig.TrustedAs)
				e := &SignerNameError{File: sig.NoteFile, Name: sig.Name, KeyID: sig.KeyID,
					TrustedName: sig.TrustedAs, TrustedKeyID: sig.TrustedAsKeyID, TrustedRole: tk.Role}
				add(Problem{File: sig.NoteFile, Field: "signer name", Message: e.message(), err: e})
			}
		}
		var have []string
		for role, n := range trust.Policy {
			have = append(have, fmt.Sprintf("%s %d/%d", role, best[role], n))
		}
		sort.Strings(have)
		where := "no checkpoint is signed by a trusted key"
		if bestSize > 0 {
			where = fmt.Sprintf("the best checkpoint (size %d) has %s", bestSize, strings.Join(have, ", "))
		}
		add(Problem{File: SignaturesDir, Field: "policy", Message: fmt.Sprintf("trust policy %s is not met: %s", trust.PolicyString(), where), err: ErrPolicyNotMet})
		return
	}
	// Everything after the signed state must be the uploader's own records,
	// each naming the checkpoint it acted on.
	for _, e := range ch.entries {
		if e.Line <= r.Signed {
			continue
		}
		if e.Actor.Role == "uploader" && (e.ActedOn != nil || e.Step == StepAborted) {
			continue
		}
		add(Problem{File: TranscriptFile, Line: e.Line, Seq: e.Seq, Field: "signatures",
			Message: fmt.Sprintf("event %d (%s by %s, %s) is not covered by a checkpoint meeting the trust policy (signed up to line %d); sign the current state", e.Seq, e.Step, e.Actor.Name, e.Actor.Role, r.Signed)})
	}
}

func score(counts, policy map[string]int) int {
	s := 0
	for role, n := range policy {
		s += min(counts[role], n)
	}
	return s
}

func rootWords(rootHex string) string {
	b, err := hex.DecodeString(rootHex)
	if err != nil || len(b) < 8 {
		return ""
	}
	return wordsOf(b[:8])
}

// checkSignature verifies one SIZE-KEYID.note / .dsse.json pair.
func checkSignature(dir, notePath, dssePath, key string, ch *chain, good int64, trust *Trust) (SignatureReport, CheckpointRef, []byte, *Problem) {
	fail := func(file, field, format string, args ...any) (SignatureReport, CheckpointRef, []byte, *Problem) {
		return SignatureReport{}, CheckpointRef{}, nil, &Problem{File: file, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	msg, err := readFile(filepath.Join(dir, notePath), MaxTranscriptSize)
	if err != nil {
		return fail(notePath, "", "%v", errors.Unwrap(err))
	}
	text, sigs, err := ParseNote(msg)
	if err != nil {
		return fail(notePath, "", "%s", err.Error())
	}
	if len(sigs) != 1 {
		return fail(notePath, "", "%d signature lines, want exactly 1 per file", len(sigs))
	}
	sig := sigs[0]
	ref, err := ParseCheckpoint(text)
	if err != nil {
		return fail(notePath, "checkpoint", "%s", err.Error())
	}
	if want := fmt.Sprintf("%d-%s", ref.Size, keyIDHex(sig.KeyHash)); want != key {
		return fail(notePath, "", "file name says %s but the note is size %d signed by key ID %s", key, ref.Size, keyIDHex(sig.KeyHash))
	}
	if ref.Origin != ch.origin {
		return fail(notePath, "checkpoint origin", "%q is not this ceremony (%q)", ref.Origin, ch.origin)
	}
	if ref.Size > good {
		return fail(notePath, "checkpoint size", "%d, but only %d lines of %s verify", ref.Size, good, TranscriptFile)
	}
	if got := hexHash(ch.root(ref.Size)); got != ref.RootHash {
		return fail(notePath, "checkpoint root hash", "%s is not the root hash of the first %d lines of %s (%s): the transcript was changed after it was signed", ref.RootHash, ref.Size, TranscriptFile, got)
	}

	envData, err := readFile(filepath.Join(dir, dssePath), MaxTranscriptSize)
	if err != nil {
		return fail(dssePath, "", "%v", errors.Unwrap(err))
	}
	env, payload, err := ParseEnvelope(envData)
	if err != nil {
		return fail(dssePath, "", "%s", err.Error())
	}
	// The signer's key: from the trust file, or else the one the signed
	// payload names (checked below against both signatures).
	var unverified intoto.Statement
	if err := protojson.Unmarshal(payload, &unverified); err != nil {
		return fail(dssePath, "payload", "not an in-toto statement: %v", err)
	}
	_, _, claimedKey := claimedSigner(&unverified)
	var v *Verifier
	var trustedRole string
	if tv, role := trust.lookup(sig.Name, sig.KeyHash); tv != nil {
		v, trustedRole = tv, role
		if claimedKey != tv.VerifierKey() {
			return fail(dssePath, "predicate.signer.key", "names key %q but the trust file has %q for %s", claimedKey, tv.VerifierKey(), sig.Name)
		}
	} else {
		hv, err := NewVerifier(claimedKey)
		if err != nil {
			return fail(dssePath, "predicate.signer.key", "%s", err.Error())
		}
		if hv.Name() != sig.Name || hv.KeyHash() != sig.KeyHash {
			return fail(dssePath, "predicate.signer.key", "key %s+%s does not match the note's signer %s+%s", hv.Name(), hv.KeyID(), sig.Name, keyIDHex(sig.KeyHash))
		}
		v = hv
	}
	if want, _ := dsse.SHA256KeyID(v.publicKey()); env.Signatures[0].KeyID != want {
		return fail(dssePath, "signatures[0].keyid", "%q, want %q (SHA-256 of the signer's public key)", env.Signatures[0].KeyID, want)
	}
	// The note signature, checked by the note package itself.
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil || len(n.Sigs) != 1 {
		return fail(notePath, "signature", "the signature by %s (key ID %s) does not verify", sig.Name, keyIDHex(sig.KeyHash))
	}
	st, err := verifyEnvelope(env, payload, v)
	if err != nil {
		return fail(dssePath, "signature", "%s", err.Error())
	}
	cName, cRole, cKey := claimedSigner(st)
	if cName != sig.Name || cKey != v.VerifierKey() {
		return fail(dssePath, "predicate.signer", "names %s (%s), but the signature is by %s", cName, cKey, v.VerifierKey())
	}
	if !roleRE.MatchString(cRole) {
		return fail(dssePath, "predicate.signer.role", "%q is not a role", cRole)
	}
	want, err := statementFor(ch, ref, sig.Name, cRole, v.VerifierKey())
	if err != nil {
		return fail(dssePath, "", "%v", err)
	}
	if !statementsEqual(st, want) {
		return fail(dssePath, "payload", "the statement does not match the transcript and artifacts at size %d (subjects, digests or checkpoint differ)", ref.Size)
	}
	sr := SignatureReport{
		Name: sig.Name, KeyID: keyIDHex(sig.KeyHash), KeyType: v.KeyType(), VerifierKey: v.VerifierKey(),
		Role: cRole, ClaimedRole: cRole, Trusted: trustedRole != "", Valid: true,
		NoteFile: notePath, DSSEFile: dssePath,
	}
	if trustedRole == "" {
		// Not trusted under this name: is the same public key there
		// under another? (For Ed25519 its key ID then differs too.)
		if tk, ok := trust.byPublic(v.typ, v.pub); ok && tk.Name != sig.Name {
			sr.TrustedAs, sr.TrustedAsKeyID = tk.Name, trust.named[tk.Name].KeyID()
		}
	}
	if trustedRole != "" {
		sr.Role = trustedRole
		if cRole != trustedRole {
			return fail(dssePath, "predicate.signer.role", "%s signed as %q but the trust file makes them %q", sig.Name, cRole, trustedRole)
		}
	}
	return sr, ref, text, nil
}

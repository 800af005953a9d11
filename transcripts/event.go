package transcripts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrite/keyrite/internal/base/words"
)

// FormatVersion is the "v" of every line this package writes. Readers refuse
// other versions rather than guess.
const FormatVersion = 1

// Entry is one line of transcript.jsonl, exactly as recorded. Its JSON
// encoding (encoding/json of this struct: fields in this order, no floats,
// no insignificant whitespace, empty optional fields omitted) is the
// canonical form: a line that does not re-encode to the same bytes is
// rejected.
type Entry struct {
	V            int            `json:"v"`
	Seq          int64          `json:"seq"`           // 1, 2, 3 ... (torn lines take no number)
	Prev         string         `json:"prev"`          // hex SHA-256 of the previous line's bytes (without its newline); 64 zeros for the first
	OperatorTime string         `json:"operator_time"` // the workstation's clock, UTC, as set by the operator; not authenticated
	Step         string         `json:"step"`
	Actor        Actor          `json:"actor"`
	Action       string         `json:"action"`
	Inputs       []ArtifactRef  `json:"inputs,omitempty"`
	Outputs      []ArtifactRef  `json:"outputs,omitempty"`
	Params       []Param        `json:"params,omitempty"`
	Tool         Tool           `json:"tool"`
	HSM          *HSMInfo       `json:"hsm,omitempty"`
	Mechanism    string         `json:"mechanism,omitempty"`
	Result       string         `json:"result"`
	Deviations   []string       `json:"deviations,omitempty"`
	ActedOn      *CheckpointRef `json:"acted_on,omitempty"`
	Torn         []TornLine     `json:"torn,omitempty"` // only in "transcript.aborted" records

	// Line is the 1-based line number in transcript.jsonl. Not encoded.
	Line int64 `json:"-"`
}

// Artifact returns the artifact named name that e binds, as an input or an
// output, and whether e binds one.
func (e *Entry) Artifact(name string) (ArtifactRef, bool) {
	for _, list := range [][]ArtifactRef{e.Inputs, e.Outputs} {
		for _, a := range list {
			if a.Name == name {
				return a, true
			}
		}
	}
	return ArtifactRef{}, false
}

// ArtifactRef binds an artifact file by digest.
type ArtifactRef struct {
	Name   string `json:"name"`   // file name under artifacts/
	Kind   Kind   `json:"kind"`   //
	SHA256 string `json:"sha256"` // hex
	Size   int64  `json:"size"`   // bytes
	Words  string `json:"words"`  // PGP words of the first 8 digest bytes, for reading aloud
}

// Tool is the build that wrote a line.
type Tool struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	GoVersion string `json:"go"`
}

// TornLine is a line a crash left incomplete, acknowledged by the
// "transcript.aborted" record that follows it.
type TornLine struct {
	Line   int64  `json:"line"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// CheckpointRef names a checkpoint: a prefix of the transcript (its first
// Size lines) and the RFC 6962 root hash over them.
type CheckpointRef struct {
	Origin   string `json:"origin"`
	Size     int64  `json:"size"`
	RootHash string `json:"root_hash"` // hex
}

// Limits on what one line may hold.
const (
	MaxLineSize   = 1 << 20
	maxArtifacts  = 256
	maxParams     = 128
	maxDeviations = 64
	maxText       = 4096
)

// Reserved steps, written only by this package.
const (
	StepOpen    = "transcript.open"
	StepAborted = "transcript.aborted"
	// RoleUploader is the online side's role; it records the
	// UploaderStepPrefix steps, after the signed state, and nothing else.
	RoleUploader       = "uploader"
	UploaderStepPrefix = "uploader."
)

// ErrFormat is wrapped by every error about a malformed line.
var ErrFormat = errors.New("transcripts: malformed transcript line")

const timeLayout = "2006-01-02T15:04:05.000Z"

var (
	stepRE   = regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$`)
	roleRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	hexRE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	zeroHash = strings.Repeat("0", 64)
)

// encodeEntry returns the canonical bytes of e (no trailing newline).
func encodeEntry(e *Entry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("transcripts: encoding line: %w", err)
	}
	if len(b) > MaxLineSize {
		return nil, fmt.Errorf("transcripts: line would be %d bytes, more than the %d allowed", len(b), MaxLineSize)
	}
	return b, nil
}

// ParseEntry parses one transcript line (without its newline) strictly: it
// must be the canonical encoding of a valid Entry. It does not check the
// chain (seq, prev); Verify does.
func ParseEntry(line []byte) (*Entry, error) {
	if len(line) > MaxLineSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrFormat, len(line), MaxLineSize)
	}
	if fe, ok := fastDecode(line); ok {
		if err := checkEntry(fe); err != nil {
			return nil, err
		}
		return fe, nil
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrFormat)
	}
	re, err := json.Marshal(&e)
	if err != nil || !bytes.Equal(re, line) {
		return nil, fmt.Errorf("%w: not in canonical form (field order, spacing, escaping or an empty optional field)", ErrFormat)
	}
	if err := checkEntry(&e); err != nil {
		return nil, err
	}
	return &e, nil
}

// checkEntry validates a decoded entry's fields (not the chain).
func checkEntry(e *Entry) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: field %s: %s", ErrFormat, field, fmt.Sprintf(format, args...))
	}
	if e.V != FormatVersion {
		return bad("v", "version %d, want %d", e.V, FormatVersion)
	}
	if e.Seq < 1 {
		return bad("seq", "%d, want 1 or more", e.Seq)
	}
	if !isHex64(e.Prev) {
		return bad("prev", "want 64 lowercase hex digits")
	}
	if !isTimeShape(e.OperatorTime) {
		return bad("operator_time", "%q, want UTC like 2026-01-02T15:04:05.000Z", e.OperatorTime)
	}
	if _, err := time.Parse(timeLayout, e.OperatorTime); err != nil {
		return bad("operator_time", "%q is not a valid time", e.OperatorTime)
	}
	ev := Event{
		Step: e.Step, Action: e.Action, Actor: e.Actor, Params: e.Params, HSM: e.HSM,
		Mechanism: e.Mechanism, Result: e.Result, Deviations: e.Deviations, ActedOn: e.ActedOn,
	}
	internal := e.Step == StepOpen || e.Step == StepAborted
	if err := checkEventFields(&ev, internal); err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if ev.Actor != e.Actor || ev.Result != e.Result {
		return bad("actor", "empty name, role or result")
	}
	for _, list := range []struct {
		field string
		refs  []ArtifactRef
	}{{"inputs", e.Inputs}, {"outputs", e.Outputs}} {
		if len(list.refs) > maxArtifacts {
			return bad(list.field, "%d artifacts, more than %d", len(list.refs), maxArtifacts)
		}
		for i, r := range list.refs {
			f := fmt.Sprintf("%s[%d]", list.field, i)
			if err := checkName(r.Name); err != nil {
				return bad(f+".name", "%v", err)
			}
			if !publicKinds[r.Kind] && !(r.Kind == KindOrphan && e.Step == StepAborted) {
				return bad(f+".kind", "%q is not a public artifact kind", r.Kind)
			}
			if !isHex64(r.SHA256) {
				return bad(f+".sha256", "want 64 lowercase hex digits")
			}
			if r.Size < 1 || r.Size > MaxArtifactSize {
				return bad(f+".size", "%d out of range", r.Size)
			}
			d, _ := hex.DecodeString(r.SHA256)
			if r.Words != words.Of(d[:words.ShortLen]) {
				return bad(f+".words", "do not match the digest")
			}
		}
	}
	if err := checkToolCached(e.Tool); err != nil {
		return bad("tool", "%v", err)
	}
	if len(e.Torn) > 0 && e.Step != StepAborted {
		return bad("torn", "only a %s record may acknowledge torn lines", StepAborted)
	}
	for i, t := range e.Torn {
		if t.Line < 1 || !hexRE.MatchString(t.SHA256) || t.Size < 0 || t.Size > MaxLineSize+1 {
			return bad(fmt.Sprintf("torn[%d]", i), "malformed")
		}
	}
	return nil
}

var (
	matched      sync.Map // regexp+"\x00"+string -> bool
	paramChecked sync.Map // name -> error (errOK for nil)
	memoEntries  atomic.Int64
)

// memoLimit bounds the memo maps, so that a transcript full of distinct
// names cannot grow a long-running process's memory.
const memoLimit = 4096

func memoStore(m *sync.Map, k, v any) {
	if memoEntries.Load() < memoLimit {
		memoEntries.Add(1)
		m.Store(k, v)
	}
}

// matchCached memoises re.MatchString for the few distinct step and role
// names a transcript repeats on every line.
func matchCached(re *regexp.Regexp, s string) bool {
	if len(s) > 64 {
		return re.MatchString(s)
	}
	k := re.String() + "\x00" + s
	if v, ok := matched.Load(k); ok {
		return v.(bool)
	}
	m := re.MatchString(s)
	memoStore(&matched, k, m)
	return m
}

func checkParamNameCached(name string) error {
	if len(name) > 64 {
		return checkParamName(name)
	}
	if v, ok := paramChecked.Load(name); ok {
		if v.(error) == errOK {
			return nil
		}
		return v.(error)
	}
	err := checkParamName(name)
	if err == nil {
		memoStore(&paramChecked, name, errOK)
	} else {
		memoStore(&paramChecked, name, err)
	}
	return err
}

var toolChecked sync.Map // Tool -> error (nil stored as errOK)

var errOK = errors.New("ok")

// checkToolCached checks a tool description once per distinct value (every
// line of a transcript carries the same few).
func checkToolCached(t Tool) error {
	if v, ok := toolChecked.Load(t); ok {
		if v.(error) == errOK {
			return nil
		}
		return v.(error)
	}
	err := checkToolText(t)
	if err == nil {
		memoStore(&toolChecked, t, errOK)
	} else {
		memoStore(&toolChecked, t, err)
	}
	return err
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isTimeShape matches 2006-01-02T15:04:05.000Z by shape.
func isTimeShape(s string) bool {
	const shape = "dddd-dd-ddTdd:dd:dd.dddZ"
	if len(s) != len(shape) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if shape[i] == 'd' {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		} else if s[i] != shape[i] {
			return false
		}
	}
	return true
}

func checkToolText(t Tool) error {
	for _, s := range []string{t.Name, t.Version, t.Revision, t.GoVersion} {
		if err := checkText("tool", s, 256); err != nil {
			return err
		}
	}
	if t.Name == "" || t.Version == "" {
		return errors.New("name and version are required")
	}
	return nil
}

// checkEvent validates a caller's event and fills in defaults (role
// "operator", result "ok"). internal allows the package's reserved steps.
func checkEvent(ev *Event, internal bool) error {
	if ev.Actor.Role == "" {
		ev.Actor.Role = "operator"
	}
	if ev.Result == "" {
		ev.Result = "ok"
	}
	if ev.Actor.Name == "" {
		ev.Actor.Name = defaultActorName()
	}
	if err := checkEventFields(ev, internal); err != nil {
		return err
	}
	if len(ev.Inputs) > maxArtifacts || len(ev.Outputs) > maxArtifacts {
		return fmt.Errorf("transcripts: step %s: more than %d inputs or outputs", ev.Step, maxArtifacts)
	}
	for _, a := range append(append([]Artifact(nil), ev.Inputs...), ev.Outputs...) {
		if a.Kind == KindOrphan && internal {
			continue
		}
		if err := CheckArtifact(a); err != nil {
			return err
		}
	}
	return nil
}

// checkEventFields checks the fields an Event and an Entry share.
func checkEventFields(ev *Event, internal bool) error {
	if !matchCached(stepRE, ev.Step) || len(ev.Step) > 64 {
		return fmt.Errorf("transcripts: step %q: want a lowercase dotted name like \"byok.export\"", ev.Step)
	}
	if !internal && strings.HasPrefix(ev.Step, "transcript.") {
		return fmt.Errorf("transcripts: step %q: the transcript.* steps are reserved", ev.Step)
	}
	if ev.Action == "" {
		return fmt.Errorf("transcripts: step %s: the action (one sentence for people) is empty", ev.Step)
	}
	if err := checkText("action", ev.Action, maxText); err != nil {
		return err
	}
	if ev.Actor.Name == "" {
		return fmt.Errorf("transcripts: step %s: actor name is empty", ev.Step)
	}
	if err := checkText("actor name", ev.Actor.Name, 128); err != nil {
		return err
	}
	if !matchCached(roleRE, ev.Actor.Role) {
		return fmt.Errorf("transcripts: step %s: actor role %q: want a lowercase word like \"operator\" or \"witness\"", ev.Step, ev.Actor.Role)
	}
	// The online side records only its own steps, and only it records
	// them: a ceremony step recorded as the uploader (which signs nothing)
	// would pass for part of the ceremony.
	if !internal && (ev.Actor.Role == RoleUploader) != strings.HasPrefix(ev.Step, UploaderStepPrefix) {
		return fmt.Errorf("transcripts: step %s by role %s: the %s role records exactly the %s* steps", ev.Step, ev.Actor.Role, RoleUploader, UploaderStepPrefix)
	}
	if ev.Result == "" {
		return fmt.Errorf("transcripts: step %s: result is empty", ev.Step)
	}
	if err := checkText("result", ev.Result, maxText); err != nil {
		return err
	}
	if len(ev.Params) > maxParams {
		return fmt.Errorf("transcripts: step %s: %d parameters, more than %d", ev.Step, len(ev.Params), maxParams)
	}
	for _, p := range ev.Params {
		if err := checkParamNameCached(p.Name); err != nil {
			return err
		}
		if err := checkText("parameter "+p.Name, p.Value, maxText); err != nil {
			return err
		}
	}
	if ev.HSM != nil {
		h := ev.HSM
		for _, f := range []struct{ n, v string }{
			{"hsm module_path", h.ModulePath}, {"hsm token_label", h.TokenLabel},
			{"hsm manufacturer", h.Manufacturer}, {"hsm model", h.Model},
			{"hsm serial", h.Serial}, {"hsm firmware", h.Firmware},
		} {
			if err := checkText(f.n, f.v, 1024); err != nil {
				return err
			}
		}
		if h.ModuleSHA256 != "" && !hexRE.MatchString(h.ModuleSHA256) {
			return fmt.Errorf("transcripts: step %s: hsm module_sha256: want 64 lowercase hex digits", ev.Step)
		}
	}
	if err := checkText("mechanism", ev.Mechanism, 256); err != nil {
		return err
	}
	if len(ev.Deviations) > maxDeviations {
		return fmt.Errorf("transcripts: step %s: %d deviations, more than %d", ev.Step, len(ev.Deviations), maxDeviations)
	}
	for _, d := range ev.Deviations {
		if d == "" {
			return fmt.Errorf("transcripts: step %s: empty deviation", ev.Step)
		}
		if err := checkText("deviation", d, maxText); err != nil {
			return err
		}
	}
	if ev.ActedOn != nil {
		a := ev.ActedOn
		if err := checkText("acted_on origin", a.Origin, 256); err != nil {
			return err
		}
		if a.Origin == "" || a.Size < 1 || !hexRE.MatchString(a.RootHash) {
			return fmt.Errorf("transcripts: step %s: acted_on: want an origin, a size of 1 or more and a hex root hash", ev.Step)
		}
	}
	return nil
}

// lineHash is the chain hash of a line: SHA-256 of its bytes without the
// newline.
func lineHash(line []byte) string {
	h := sha256.Sum256(line)
	return hex.EncodeToString(h[:])
}

func refOf(a Artifact) ArtifactRef {
	fp := words.Sum(a.Data)
	return ArtifactRef{Name: a.Name, Kind: a.Kind, SHA256: fp.Hex(), Size: int64(len(a.Data)), Words: fp.Short()}
}

func wordsOf(b []byte) string { return words.Of(b) }

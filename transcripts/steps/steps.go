package steps

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/transcripts"
)

// Step names, as transcripts record them.
const (
	StepBYOKExport              = "byok.export"
	StepBYOKExportCleanup       = "byok.export.cleanup"
	StepSDKeygen                = "sd.keygen"
	StepSDRestore               = "sd.restore"
	StepSDVerify                = "sd.verify"
	StepCustodySplit            = "custody.split"
	StepCustodyCombine          = "custody.combine"
	StepUploaderImport          = "uploader.byok.import"
	StepUploaderSDUpload        = "uploader.sd.upload"
	StepUploaderSDStatus        = "uploader.sd.status"
	StepUploaderTrustOnFirstUse = "uploader.trust-on-first-use"
)

// Step is a typed transcript event.
type Step interface {
	// Step is the step's name ("byok.export", ...).
	Step() string
	// Event is the event that records the step.
	Event() transcripts.Event
}

// Common is what every step records beside its own content, as
// [transcripts.Event] has it. Event copies it; decoding fills it from the
// entry.
type Common struct {
	Seq        int64                // set by decoding: the event's seq; Event ignores it
	Actor      transcripts.Actor    // empty fields are filled by the ceremony (operator, the login name); uploader steps default to the uploader role
	HSM        *transcripts.HSMInfo // the PKCS#11 module and token used, if any
	Mechanism  string
	Result     string // "ok" (the default when recording), or what failed
	Deviations []string
	ActedOn    *transcripts.CheckpointRef // the signed checkpoint an uploader step acted on
}

func (c Common) event(step, action string) transcripts.Event {
	return transcripts.Event{
		Step: step, Action: action, Actor: c.Actor, HSM: c.HSM, Mechanism: c.Mechanism,
		Result: c.Result, Deviations: c.Deviations, ActedOn: c.ActedOn,
	}
}

func commonOf(e *transcripts.Entry) Common {
	return Common{Seq: e.Seq, Actor: e.Actor, HSM: e.HSM, Mechanism: e.Mechanism, Result: e.Result, Deviations: e.Deviations, ActedOn: e.ActedOn}
}

// uploaderEvent is c.event for the online side's steps, whose role is
// always the uploader's.
func (c Common) uploaderEvent(step, action string) transcripts.Event {
	if c.Actor.Role == "" {
		c.Actor.Role = transcripts.RoleUploader
	}
	return c.event(step, action)
}

// File is an artifact of a step. To record a step, give its Name (a plain
// file name, see [transcripts.CheckArtifactName]) and Data; the kind is the
// step's to say. A step parsed from a transcript has the Name and the hex
// SHA256 recorded, and no Data: read it with the report or ceremony's
// ReadArtifact, which checks it against that digest.
type File struct {
	Name   string
	Data   []byte
	SHA256 string // set by decoding; Event ignores it
}

func (f File) artifact(kind transcripts.Kind) transcripts.Artifact {
	return transcripts.NewArtifact(f.Name, kind, f.Data)
}

func fileOf(r transcripts.ArtifactRef) File { return File{Name: r.Name, SHA256: r.SHA256} }

// Digest is the hex SHA-256 of f: of its Data when it has any, else the
// one recorded.
func (f File) Digest() string {
	if f.Data == nil {
		return f.SHA256
	}
	s := sha256.Sum256(f.Data)
	return hex.EncodeToString(s[:])
}

// An EntryError is a recorded event that cannot be read as the step its
// name says. Its message names the event rather than this package: it is
// about a line of a transcript, and readers put it into their own message
// as is.
type EntryError struct {
	Step    string
	Seq     int64
	Problem string
}

func (e *EntryError) Error() string { return fmt.Sprintf("%s event %d: %s", e.Step, e.Seq, e.Problem) }

func entryErr(e *transcripts.Entry, format string, args ...any) error {
	return &EntryError{Step: e.Step, Seq: e.Seq, Problem: fmt.Sprintf(format, args...)}
}

func checkStep(e *transcripts.Entry, step string) error {
	if e.Step != step {
		return entryErr(e, "not a %s event", step)
	}
	return nil
}

// Parse reads e as the typed step its name says. A step of a kind this
// package does not know is no error: Parse returns nil, nil.
func Parse(e *transcripts.Entry) (Step, error) {
	var s Step
	var err error
	switch e.Step {
	case StepBYOKExport:
		s, err = nonNil(ParseBYOKExport(e))
	case StepBYOKExportCleanup:
		s, err = nonNil(ParseBYOKExportCleanup(e))
	case StepSDKeygen:
		s, err = nonNil(ParseSDKeygen(e))
	case StepSDRestore:
		s, err = nonNil(ParseSDRestore(e))
	case StepSDVerify:
		s, err = nonNil(ParseSDVerify(e))
	case StepCustodySplit:
		s, err = nonNil(ParseCustodySplit(e))
	case StepCustodyCombine:
		s, err = nonNil(ParseCustodyCombine(e))
	case StepUploaderImport:
		s, err = nonNil(ParseUploaderImport(e))
	case StepUploaderSDUpload:
		s, err = nonNil(ParseUploaderSDUpload(e))
	case StepUploaderSDStatus:
		s, err = nonNil(ParseUploaderSDStatus(e))
	case StepUploaderTrustOnFirstUse:
		s, err = nonNil(ParseUploaderTrustOnFirstUse(e))
	}
	return s, err
}

// nonNil keeps a nil *T from becoming a non-nil Step.
func nonNil[T interface {
	*E
	Step
}, E any](s T, err error) (Step, error) {
	if s == nil {
		return nil, err
	}
	return s, err
}

// params builds an event's parameters in order.
type params []transcripts.Param

func (p *params) add(name, value string) {
	*p = append(*p, transcripts.Param{Name: name, Value: value})
}

func (p *params) addInt(name string, v int64) { p.add(name, strconv.FormatInt(v, 10)) }

// recorded reads an entry's parameters.
type recorded struct{ e *transcripts.Entry }

// get returns the value of the first of names that is recorded (a name
// before its old spellings), and whether one is.
func (r recorded) get(names ...string) (string, bool) {
	for _, n := range names {
		for _, p := range r.e.Params {
			if p.Name == n {
				return p.Value, true
			}
		}
	}
	return "", false
}

func (r recorded) str(names ...string) string {
	v, _ := r.get(names...)
	return v
}

// num reads an integer parameter; 0 when it is absent or not a number.
func (r recorded) num(name string) int64 {
	n, _ := strconv.ParseInt(r.str(name), 10, 64)
	return n
}

// indexed returns the parameters named prefix+N (N a decimal number), in
// recorded order, with their N.
func (r recorded) indexed(prefix string) []indexedParam {
	var out []indexedParam
	for _, p := range r.e.Params {
		rest, ok := strings.CutPrefix(p.Name, prefix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || strconv.Itoa(n) != rest {
			continue
		}
		out = append(out, indexedParam{n, p.Value})
	}
	return out
}

type indexedParam struct {
	n     int
	value string
}

// split reads a list recorded as one value joined with sep; nil for "".
func split(v, sep string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, sep)
}

// artifacts of kind in refs.
func filesOf(refs []transcripts.ArtifactRef, kind transcripts.Kind) []File {
	var out []File
	for _, r := range refs {
		if r.Kind == kind {
			out = append(out, fileOf(r))
		}
	}
	return out
}

// firstFile returns the first artifact of kind in refs, and whether there
// is one.
func firstFile(refs []transcripts.ArtifactRef, kind transcripts.Kind) (File, bool) {
	if fs := filesOf(refs, kind); len(fs) > 0 {
		return fs[0], true
	}
	return File{}, false
}

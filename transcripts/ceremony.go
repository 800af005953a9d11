package transcripts

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sys/unix"

	"github.com/keyrite/keyrite/internal/base/buildinfo"
	"github.com/keyrite/keyrite/internal/base/fsx"
)

// File and directory names inside a ceremony directory.
const (
	TranscriptFile = "transcript.jsonl"
	ArtifactsDir   = "artifacts"
	SignaturesDir  = "signatures"
)

// Errors callers may match.
var (
	// ErrArtifactConflict: an artifact name is already bound to other content.
	ErrArtifactConflict = errors.New("transcripts: artifact name already recorded with different content")
	// ErrBusy: another process holds the ceremony directory.
	ErrBusy = errors.New("transcripts: ceremony directory is in use by another process")
	// ErrCorrupt: the transcript cannot be appended to (broken chain, damaged
	// line before the end, missing files). Verify says exactly what.
	ErrCorrupt = errors.New("transcripts: transcript is damaged")
	// ErrNotCeremony: the directory exists, is not empty and holds no transcript.
	ErrNotCeremony = errors.New("transcripts: not a ceremony directory")
	// ErrClosed: the Ceremony was closed.
	ErrClosed = errors.New("transcripts: ceremony is closed")
)

// Options adjust Open for tests and special callers. The zero value is what
// commands use.
type Options struct {
	Now      func() time.Time // the operator's clock (default time.Now)
	Rand     io.Reader        // for the ceremony id (default crypto/rand)
	Tool     *Tool            // the build recorded in each line (default: this binary's)
	Operator string           // actor name when an event leaves it empty (default: the login name)
	Role     string           // role of the package's own open/aborted records (default "operator"; the uploader passes "uploader")
	SelfTest string           // the start-up known-answer tests this process passed, added to each event as the param self_test (default: internal/base/buildinfo's, with the default Tool)

	signing bool // Sign's own open: Sign removes and reports what an interrupted sign left (see removeSignTemps)
}

// Recovery says what Open found and closed after a crash.
type Recovery struct {
	Torn        []TornLine // incomplete lines acknowledged by the aborted record
	Orphans     []string   // artifacts no event bound, renamed NAME.orphan-SEQ and bound by the aborted record
	RemovedTemp []string   // temporary files of interrupted atomic writes, removed
	AbortedSeq  int64      // seq of the aborted record
}

func (r *Recovery) String() string {
	var parts []string
	for _, t := range r.Torn {
		parts = append(parts, fmt.Sprintf("torn line %d (%d bytes)", t.Line, t.Size))
	}
	if len(r.Orphans) > 0 {
		parts = append(parts, fmt.Sprintf("unbound artifacts kept as %s", strings.Join(r.Orphans, ", ")))
	}
	if len(r.RemovedTemp) > 0 {
		parts = append(parts, fmt.Sprintf("%d unfinished temporary file(s) removed", len(r.RemovedTemp)))
	}
	return fmt.Sprintf("the previous step did not complete: %s; closed with aborted record %d", strings.Join(parts, "; "), r.AbortedSeq)
}

// Ceremony is an open ceremony directory, locked against other processes
// until Close.
type Ceremony struct {
	dir       string
	opts      Options
	lock      *os.File
	f         *os.File
	lines     int64
	seq       int64
	prev      string
	leaves    []tlog.Hash
	origin    string
	artifacts map[string]ArtifactRef
	recovery  *Recovery

	// Every event, and for each artifact name the event that first bound
	// it: what a step resuming an interrupted one asks about (Recorded,
	// BoundBy), kept from the one read of the transcript in Open.
	entries []*Entry
	boundBy map[string]*Entry
}

// transcriptReads counts the reads of a whole transcript.jsonl by Open, for
// the tests that check a batch reads it once, not once per event.
var transcriptReads atomic.Int64

// testFault, when set by tests, is called at every step boundary of an
// append: "artifact:NAME" before an artifact is written, "line" before the
// line is written (the hook may write part of it to f and exit), "synced"
// after the line is durable.
var testFault func(stage string, f *os.File, data []byte)

func fault(stage string, f *os.File, data []byte) {
	if testFault != nil {
		testFault(stage, f, data)
	}
}

// Open opens the ceremony directory dir for appending, creating it on first
// use. If the last line of the transcript was torn by a crash, Open reports it
// and appends an explicit "aborted" record before anything else.
func Open(dir string) (*Ceremony, error) { return OpenWith(dir, Options{}) }

// OpenWith is Open with options.
func OpenWith(dir string, opts Options) (*Ceremony, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Tool == nil {
		bi := buildinfo.Read()
		opts.Tool = &Tool{Name: "keyrite", Version: bi.Version, Revision: bi.Revision, GoVersion: bi.GoVersion}
		if opts.SelfTest == "" {
			opts.SelfTest = buildinfo.SelfTest()
		}
	}
	if opts.Operator == "" {
		opts.Operator = defaultActorName()
	}
	if opts.Role == "" {
		opts.Role = "operator"
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("transcripts: creating the ceremony directory: %w", err)
	}
	if err := fsx.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return nil, fmt.Errorf("transcripts: %w", err)
	}
	lock, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("transcripts: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrBusy, dir)
		}
		return nil, fmt.Errorf("transcripts: locking %s: %w", dir, err)
	}
	c := &Ceremony{dir: dir, opts: opts, lock: lock, artifacts: map[string]ArtifactRef{}, boundBy: map[string]*Entry{}}
	if err := c.load(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.checkWritable(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// checkWritable refuses, at Open, a ceremony whose artifacts could not be
// written (a read-only mount, a directory without write permission): a step
// finds out before it does any work, not when it records what it did.
func (c *Ceremony) checkWritable() error {
	for _, d := range []string{c.dir, filepath.Join(c.dir, ArtifactsDir)} {
		if err := unix.Access(d, unix.W_OK|unix.X_OK); err != nil {
			return fmt.Errorf("transcripts: the ceremony directory cannot be written: %w", &fs.PathError{Op: "access", Path: d, Err: err})
		}
	}
	return nil
}

// Dir is the ceremony directory.
func (c *Ceremony) Dir() string { return c.dir }

// Recovered returns what Open found and closed after a crash, or nil.
func (c *Ceremony) Recovered() *Recovery { return c.recovery }

// Size is the number of lines in the transcript (the tree size).
func (c *Ceremony) Size() int64 { return c.lines }

// Origin is the checkpoint origin line of this ceremony.
func (c *Ceremony) Origin() string { return c.origin }

// Checkpoint returns the current state: origin, size and root hash.
func (c *Ceremony) Checkpoint() CheckpointRef {
	return CheckpointRef{Origin: c.origin, Size: c.lines, RootHash: hexHash(rootHash(c.leaves))}
}

func (c *Ceremony) load() error {
	path := filepath.Join(c.dir, TranscriptFile)
	transcriptReads.Add(1)
	data, err := readFile(path, MaxTranscriptSize)
	if errors.Is(err, fs.ErrNotExist) {
		// Only an empty directory (or one holding just the artifacts
		// directory a crashed first Open made) becomes a ceremony: a
		// mistyped --ceremony pointing at a home directory must not.
		// The temporary file of a first Open killed while it wrote the
		// opening record is its own leftover, removed.
		if err := removeCreateTemps(c.dir); err != nil {
			return err
		}
		if names, _ := listDir(c.dir); !(len(names) == 0 || len(names) == 1 && names[0] == ArtifactsDir) {
			return fmt.Errorf("%w: %s has no %s and is not empty; give a new or empty directory for a new ceremony", ErrNotCeremony, c.dir, TranscriptFile)
		}
		if names, _ := listDir(filepath.Join(c.dir, ArtifactsDir)); len(names) > 0 {
			return fmt.Errorf("%w: %s has artifacts but no %s", ErrNotCeremony, c.dir, TranscriptFile)
		}
		if err := c.create(path); err != nil {
			return err
		}
		data, err = readFile(path, MaxTranscriptSize)
	}
	if err != nil {
		return fmt.Errorf("transcripts: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(c.dir, ArtifactsDir), 0o750); err != nil {
		return fmt.Errorf("transcripts: %w", err)
	}
	if err := fsx.SyncDir(c.dir); err != nil {
		return fmt.Errorf("transcripts: %w", err)
	}
	ch, err := parseChain(data)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	c.lines = int64(len(ch.lines))
	c.leaves = ch.leaves
	c.origin = ch.origin
	if n := len(ch.entries); n > 0 {
		c.seq = ch.entries[n-1].Seq
	}
	if len(ch.lines) > 0 {
		c.prev = lineHash(ch.lines[len(ch.lines)-1])
	}
	c.entries = ch.entries
	for _, e := range ch.entries {
		c.bind(e)
	}
	c.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("transcripts: %w", err)
	}
	return c.recover(ch)
}

// create writes a new transcript holding only the opening record,
// atomically (so the first line can never be torn).
func (c *Ceremony) create(path string) error {
	var id [16]byte
	if _, err := io.ReadFull(c.opts.Rand, id[:]); err != nil {
		return fmt.Errorf("transcripts: ceremony id: %w", err)
	}
	e := c.entry(Event{
		Step:   StepOpen,
		Action: "opened the ceremony transcript",
		Actor:  Actor{Name: c.opts.Operator, Role: c.opts.Role},
		Result: "ok",
		Params: []Param{
			{Name: "format", Value: "keyrite-transcript/v1"},
			{Name: "ceremony_id", Value: hex.EncodeToString(id[:])},
		},
	}, 1, zeroHash)
	line, err := encodeEntry(e)
	if err != nil {
		return err
	}
	if err := fsx.WriteNew(path, append(line, '\n'), 0o640); err != nil {
		return fmt.Errorf("transcripts: creating %s: %w", path, err)
	}
	return nil
}

// recover closes whatever a crash left: torn trailing lines, artifacts no
// event binds, and temporary files of interrupted atomic writes.
func (c *Ceremony) recover(ch *chain) error {
	rec := &Recovery{Torn: ch.torn}
	adir := filepath.Join(c.dir, ArtifactsDir)
	names, err := listDir(adir)
	if err != nil {
		return err
	}
	var orphans []string
	for _, n := range names {
		if isTemp(n) {
			if err := os.Remove(filepath.Join(adir, n)); err != nil {
				return fmt.Errorf("transcripts: removing an unfinished temporary file: %w", err)
			}
			rec.RemovedTemp = append(rec.RemovedTemp, filepath.Join(ArtifactsDir, n))
			continue
		}
		if _, ok := c.artifacts[n]; !ok {
			orphans = append(orphans, n)
		}
	}
	top, err := listDir(c.dir)
	if err != nil {
		return err
	}
	for _, n := range top {
		if isTemp(n) {
			if err := os.Remove(filepath.Join(c.dir, n)); err != nil {
				return fmt.Errorf("transcripts: removing an unfinished temporary file: %w", err)
			}
			rec.RemovedTemp = append(rec.RemovedTemp, n)
		}
	}
	if !c.opts.signing {
		signTemps, err := removeSignTemps(c.dir)
		if err != nil {
			return err
		}
		rec.RemovedTemp = append(rec.RemovedTemp, signTemps...)
	}
	if len(rec.Torn) == 0 && len(orphans) == 0 && len(rec.RemovedTemp) == 0 {
		return nil
	}
	seq := c.seq + 1
	var outs []Artifact
	for _, n := range orphans {
		data, err := readFile(filepath.Join(adir, n), MaxArtifactSize)
		if errors.Is(err, errTooLarge) || errors.Is(err, errNotRegular) {
			return fmt.Errorf("%w: %s holds a file no event recorded and it cannot be kept (%v); remove it by hand after checking what it is", ErrCorrupt, filepath.Join(adir, n), errors.Unwrap(err))
		}
		if err != nil {
			return fmt.Errorf("transcripts: %w", err)
		}
		if why := secretInData(data); why != "" || len(data) == 0 || len(data) > MaxArtifactSize {
			return fmt.Errorf("%w: %s holds a file no event recorded and it cannot be kept (%s); remove it by hand after checking what it is", ErrCorrupt, filepath.Join(adir, n), orDefault(why, "empty or too large"))
		}
		newName := fmt.Sprintf("%s.orphan-%d", n, seq)
		if len(newName) > 128 {
			newName = fmt.Sprintf("orphan-%d-%s", seq, n[len(n)-100:])
		}
		if err := fsx.WriteNew(filepath.Join(adir, newName), data, 0o444); err != nil {
			return fmt.Errorf("transcripts: keeping an orphan artifact: %w", err)
		}
		if err := os.Remove(filepath.Join(adir, n)); err != nil {
			return fmt.Errorf("transcripts: %w", err)
		}
		if err := fsx.SyncDir(adir); err != nil {
			return fmt.Errorf("transcripts: %w", err)
		}
		outs = append(outs, Artifact{Name: newName, Kind: KindOrphan, Data: data})
		rec.Orphans = append(rec.Orphans, newName)
	}
	var dev []string
	for _, t := range rec.Torn {
		dev = append(dev, fmt.Sprintf("line %d is incomplete (%d bytes, sha256 %s): a step was interrupted while it was being recorded", t.Line, t.Size, t.SHA256))
	}
	for _, o := range rec.Orphans {
		dev = append(dev, fmt.Sprintf("artifact %s was written by an interrupted step that never recorded it", o))
	}
	for _, t := range rec.RemovedTemp {
		dev = append(dev, fmt.Sprintf("unfinished temporary file %s was removed", t))
	}
	ev := Event{
		Step:       StepAborted,
		Action:     "closed an interrupted step found when the transcript was reopened",
		Actor:      Actor{Name: c.opts.Operator, Role: c.opts.Role},
		Outputs:    outs,
		Result:     "aborted",
		Deviations: dev,
	}
	if err := c.append(ev, rec.Torn); err != nil {
		return err
	}
	rec.AbortedSeq = c.seq
	c.recovery = rec
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// createTempRE matches the temporary file fsx.WriteNew makes while a
// first Open writes the transcript.
var createTempRE = regexp.MustCompile(`^\.` + regexp.QuoteMeta(TranscriptFile) + `\.tmp-[0-9]+$`)

// removeCreateTemps removes what a first Open killed before its transcript
// was in place left: only its own temporary file.
func removeCreateTemps(dir string) error {
	names, err := listDir(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if createTempRE.MatchString(n) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return fmt.Errorf("transcripts: removing an unfinished temporary file: %w", err)
			}
		}
	}
	return nil
}

func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
}

func listDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("transcripts: %w", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// Record appends ev to the transcript, storing its artifacts, durably (the
// line and the directory are fsynced before Record returns). Artifacts are
// written (atomically, never overwritten) before the line that binds them;
// an artifact whose name is already recorded must have the same content.
func (c *Ceremony) Record(ev Event) error {
	if c.f == nil {
		return ErrClosed
	}
	if ev.Actor.Name == "" {
		ev.Actor.Name = c.opts.Operator
	}
	if c.opts.SelfTest != "" {
		ev.Params = append(slices.Clip(ev.Params), Param{Name: "self_test", Value: c.opts.SelfTest})
	}
	if err := checkEvent(&ev, false); err != nil {
		return err
	}
	if ev.ActedOn != nil {
		if err := c.checkActedOn(*ev.ActedOn); err != nil {
			return err
		}
	}
	return c.append(ev, nil)
}

func (c *Ceremony) checkActedOn(a CheckpointRef) error {
	if a.Origin != c.origin {
		return fmt.Errorf("transcripts: acted_on names origin %q, this ceremony is %q", a.Origin, c.origin)
	}
	if a.Size > c.lines {
		return fmt.Errorf("transcripts: acted_on names size %d, the transcript has %d lines", a.Size, c.lines)
	}
	if got := hexHash(rootHash(c.leaves[:a.Size])); got != a.RootHash {
		return fmt.Errorf("transcripts: acted_on root hash %s does not match this transcript's %s at size %d", a.RootHash, got, a.Size)
	}
	return nil
}

func (c *Ceremony) append(ev Event, torn []TornLine) error {
	// Bind each name once per event; refuse one name with two contents.
	seen := map[string]ArtifactRef{}
	var toWrite []Artifact
	for _, a := range append(append([]Artifact(nil), ev.Inputs...), ev.Outputs...) {
		ref := refOf(a)
		if prev, ok := seen[a.Name]; ok {
			if prev.SHA256 != ref.SHA256 {
				return fmt.Errorf("%w: %q appears twice in step %s with different content", ErrArtifactConflict, a.Name, ev.Step)
			}
			continue
		}
		seen[a.Name] = ref
		if prev, ok := c.artifacts[a.Name]; ok {
			if prev.SHA256 != ref.SHA256 {
				return fmt.Errorf("%w: %q is recorded with sha256 %s, this step has %s", ErrArtifactConflict, a.Name, prev.SHA256, ref.SHA256)
			}
			if prev.Kind != a.Kind {
				return fmt.Errorf("%w: %q is recorded as a %s, this step calls it a %s", ErrArtifactConflict, a.Name, prev.Kind, a.Kind)
			}
			continue
		}
		toWrite = append(toWrite, a)
	}
	adir := filepath.Join(c.dir, ArtifactsDir)
	for _, a := range toWrite {
		fault("artifact:"+a.Name, c.f, a.Data)
		path := filepath.Join(adir, a.Name)
		if err := fsx.WriteNew(path, a.Data, 0o444); err != nil {
			if errors.Is(err, fs.ErrExist) {
				// Present but unbound: only possible if someone put it there.
				old, rerr := readFile(path, MaxArtifactSize)
				if rerr == nil && bytes.Equal(old, a.Data) {
					continue
				}
				return fmt.Errorf("%w: %s exists and no event records it", ErrArtifactConflict, path)
			}
			return fmt.Errorf("transcripts: writing artifact %s: %w", a.Name, err)
		}
	}
	e := c.entry(ev, c.seq+1, c.prev)
	e.Torn = torn
	line, err := encodeEntry(e)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, len(line)+2)
	if len(torn) > 0 && !c.endsWithNewline() {
		buf = append(buf, '\n')
	}
	buf = append(buf, line...)
	buf = append(buf, '\n')
	fault("line", c.f, buf)
	// After a failed write or sync the file's tail is unknown: stop
	// appending (ErrClosed); the next Open sees and closes the damage.
	if _, err := c.f.Write(buf); err != nil {
		c.Close()
		return fmt.Errorf("transcripts: appending to %s: %w", TranscriptFile, err)
	}
	// The file's fsync makes the line durable; its directory entry does
	// not change (create and Open fsynced it), so no directory fsync.
	if err := c.f.Sync(); err != nil {
		c.Close()
		return fmt.Errorf("transcripts: syncing %s: %w", TranscriptFile, err)
	}
	fault("synced", c.f, nil)
	c.seq++
	c.lines++
	c.prev = lineHash(line)
	c.leaves = append(c.leaves, tlog.RecordHash(line))
	e.Line = c.lines
	c.entries = append(c.entries, e)
	c.bind(e)
	return nil
}

// bind notes the artifacts e records.
func (c *Ceremony) bind(e *Entry) {
	for _, list := range [][]ArtifactRef{e.Inputs, e.Outputs} {
		for _, r := range list {
			c.artifacts[r.Name] = r
			if _, ok := c.boundBy[r.Name]; !ok {
				c.boundBy[r.Name] = e
			}
		}
	}
}

// Recorded returns the events recorded with the given step, oldest first:
// what a step asks before it acts, to resume an interrupted run of itself
// rather than record its work twice. They are read from the transcript Open
// read (and what was recorded since), not read again.
func (c *Ceremony) Recorded(step string) []Entry {
	var out []Entry
	for _, e := range c.entries {
		if e.Step == step {
			out = append(out, *e)
		}
	}
	return out
}

// BoundBy returns the event that first recorded an artifact named name, as
// an input or an output, and whether there is one.
func (c *Ceremony) BoundBy(name string) (Entry, bool) {
	e, ok := c.boundBy[name]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// ReadArtifact reads a recorded artifact, checking it against the size and
// SHA-256 its event recorded.
func (c *Ceremony) ReadArtifact(name string) ([]byte, error) {
	ref, ok := c.artifacts[name]
	if !ok {
		return nil, fmt.Errorf("transcripts: no artifact %q is recorded", name)
	}
	path := filepath.Join(c.dir, ArtifactsDir, name)
	data, err := readFile(path, ref.Size)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, errors.Unwrap(err))
	}
	if sum := sha256.Sum256(data); int64(len(data)) != ref.Size || hex.EncodeToString(sum[:]) != ref.SHA256 {
		return nil, fmt.Errorf("%w: %s no longer matches its recorded sha256 %s", ErrCorrupt, path, ref.SHA256)
	}
	return data, nil
}

// CheckEvent checks ev as Record does, without recording it: a step that
// must be refused before it does any work (an output name the transcript
// would refuse, a parameter it cannot keep) checks the event it will record,
// with placeholder artifact contents where the real ones are not made yet.
func CheckEvent(ev Event) error { return checkEvent(&ev, false) }

// CheckArtifactName checks a name as Record checks an artifact's: a plain
// file name of 1 to 128 characters from A-Z a-z 0-9 . _ -, not starting
// with a dot.
func CheckArtifactName(name string) error { return checkName(name) }

func (c *Ceremony) endsWithNewline() bool {
	st, err := c.f.Stat()
	if err != nil || st.Size() == 0 {
		return true
	}
	r, err := os.Open(c.f.Name())
	if err != nil {
		return true
	}
	defer r.Close()
	b := make([]byte, 1)
	if _, err := r.ReadAt(b, st.Size()-1); err != nil {
		return true
	}
	return b[0] == '\n'
}

func (c *Ceremony) entry(ev Event, seq int64, prev string) *Entry {
	e := &Entry{
		V:            FormatVersion,
		Seq:          seq,
		Prev:         prev,
		OperatorTime: c.opts.Now().UTC().Format(timeLayout),
		Step:         ev.Step,
		Actor:        ev.Actor,
		Action:       ev.Action,
		Params:       ev.Params,
		Tool:         *c.opts.Tool,
		HSM:          ev.HSM,
		Mechanism:    ev.Mechanism,
		Result:       ev.Result,
		Deviations:   ev.Deviations,
		ActedOn:      ev.ActedOn,
	}
	for _, a := range ev.Inputs {
		e.Inputs = append(e.Inputs, refOf(a))
	}
	for _, a := range ev.Outputs {
		e.Outputs = append(e.Outputs, refOf(a))
	}
	if e.Actor.Name == "" {
		e.Actor.Name = c.opts.Operator
	}
	return e
}

// Close releases the ceremony directory.
func (c *Ceremony) Close() error {
	var err error
	if c.f != nil {
		err = c.f.Close()
		c.f = nil
	}
	if c.lock != nil {
		unix.Flock(int(c.lock.Fd()), unix.LOCK_UN)
		c.lock.Close()
		c.lock = nil
	}
	return err
}

func defaultActorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	return "operator"
}

package transcripts

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"regexp"
	"runtime"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// chain is a parsed transcript.jsonl.
type chain struct {
	lines   [][]byte    // every line without its newline, including a final unterminated fragment
	leaves  []tlog.Hash // RFC 6962 leaf hash of each line
	entries []*Entry    // the valid events, in order
	torn    []TornLine  // trailing lines that are incomplete or unparsable, not yet acknowledged
	origin  string

	prefix map[int64]string    // memo: hex SHA-256 of the first n lines with their newlines
	roots  map[int64]tlog.Hash // memo: tree root at size n
}

// prefixSHA256 is the hex SHA-256 of the first n lines with their newlines.
func (ch *chain) prefixSHA256(n int64) string {
	if d, ok := ch.prefix[n]; ok {
		return d
	}
	h := sha256.New()
	for _, l := range ch.lines[:n] {
		h.Write(l)
		h.Write([]byte{'\n'})
	}
	d := fmt.Sprintf("%x", h.Sum(nil))
	if ch.prefix == nil {
		ch.prefix = map[int64]string{}
	}
	ch.prefix[n] = d
	return d
}

// root is the tree root over the first n lines.
func (ch *chain) root(n int64) tlog.Hash {
	if r, ok := ch.roots[n]; ok {
		return r
	}
	r := rootHash(ch.leaves[:n])
	if ch.roots == nil {
		ch.roots = map[int64]tlog.Hash{}
	}
	ch.roots[n] = r
	return r
}

// LineError locates a problem in transcript.jsonl.
type LineError struct {
	Line  int64  // 1-based line number
	Seq   int64  // the event's seq when known (0 otherwise)
	Field string // the JSON field at fault, when known
	Err   error
}

func (e *LineError) Error() string {
	s := fmt.Sprintf("%s line %d", TranscriptFile, e.Line)
	if e.Seq > 0 {
		s += fmt.Sprintf(" (event %d)", e.Seq)
	}
	if e.Field != "" {
		s += ", field " + e.Field
	}
	return s + ": " + e.Err.Error()
}

func (e *LineError) Unwrap() error { return e.Err }

var fieldInErr = regexp.MustCompile(`field ([a-z_]+(\[\d+\])?(\.[a-z0-9_]+)?)`)

// parseChain parses and links every line. On error it returns the chain
// verified so far (entries before the bad line) with a *LineError.
func parseChain(data []byte) (*chain, error) {
	ch := &chain{lines: make([][]byte, 0, bytes.Count(data, []byte{'\n'})+1)}
	rest := data
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			ch.lines = append(ch.lines, rest)
			break
		}
		ch.lines = append(ch.lines, rest[:i])
		rest = rest[i+1:]
	}
	complete := len(ch.lines)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		complete--
	}
	if len(ch.lines) == 0 {
		return ch, &LineError{Line: 1, Err: fmt.Errorf("%w: the transcript is empty", ErrFormat)}
	}
	parsed := parseAll(ch.lines)
	ch.leaves = make([]tlog.Hash, len(ch.lines))
	for i := range parsed {
		ch.leaves[i] = parsed[i].leaf
	}
	ch.entries = make([]*Entry, 0, len(parsed))
	var pending []TornLine // unparsable lines waiting for an aborted record
	var pendingErr *LineError
	var seq int64
	for i, line := range ch.lines {
		n := int64(i + 1)
		var e *Entry
		var err error
		if i < complete {
			e, err = parsed[i].e, parsed[i].err
		} else {
			err = fmt.Errorf("%w: incomplete last line (no newline)", ErrFormat)
		}
		if err != nil {
			if i == 0 {
				return ch, lineErr(n, 0, err)
			}
			sum := sha256.Sum256(line)
			pending = append(pending, TornLine{Line: n, SHA256: fmt.Sprintf("%x", sum), Size: int64(len(line))})
			if pendingErr == nil {
				pendingErr = lineErr(n, 0, err)
			}
			continue
		}
		e.Line = n
		if len(pending) > 0 {
			if e.Step != StepAborted || !sameTorn(e.Torn, pending) {
				return ch, pendingErr
			}
			pending, pendingErr = nil, nil
		} else if len(e.Torn) > 0 {
			return ch, &LineError{Line: n, Seq: e.Seq, Field: "torn", Err: fmt.Errorf("%w: acknowledges torn lines that are not there", ErrFormat)}
		}
		if e.Seq != seq+1 {
			return ch, &LineError{Line: n, Seq: e.Seq, Field: "seq", Err: fmt.Errorf("%w: %d, want %d (events removed, inserted or reordered)", ErrFormat, e.Seq, seq+1)}
		}
		want := zeroHash
		if i > 0 {
			want = parsed[i-1].hash
		}
		if e.Prev != want {
			return ch, &LineError{Line: n, Seq: e.Seq, Field: "prev", Err: fmt.Errorf("%w: %s is not the SHA-256 of line %d (%s)", ErrFormat, e.Prev, n-1, want)}
		}
		if i == 0 {
			origin, err := genesisOrigin(e)
			if err != nil {
				return ch, &LineError{Line: n, Seq: e.Seq, Field: "params", Err: err}
			}
			ch.origin = origin
		} else if e.Step == StepOpen {
			return ch, &LineError{Line: n, Seq: e.Seq, Field: "step", Err: fmt.Errorf("%w: %s only as the first event", ErrFormat, StepOpen)}
		}
		seq = e.Seq
		ch.entries = append(ch.entries, e)
	}
	ch.torn = pending
	return ch, nil
}

type parseResult struct {
	e    *Entry
	err  error
	hash string    // hex SHA-256 of the line (the next line's prev)
	leaf tlog.Hash // RFC 6962 leaf hash
}

func (r *parseResult) do(line []byte, parse bool) {
	if parse {
		r.e, r.err = ParseEntry(line)
	}
	r.hash = lineHash(line)
	r.leaf = tlog.RecordHash(line)
}

// parseAll parses and hashes lines on every CPU: this is independent per
// line and dominates verification time; linking stays sequential. (An
// unterminated last line is parsed too; parseChain ignores the result.)
func parseAll(lines [][]byte) []parseResult {
	out := make([]parseResult, len(lines))
	workers := runtime.GOMAXPROCS(0)
	if len(lines) < 256 || workers < 2 {
		for i, l := range lines {
			out[i].do(l, true)
		}
		return out
	}
	var wg sync.WaitGroup
	chunk := (len(lines) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(lines))
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i].do(lines[i], true)
			}
		}()
	}
	wg.Wait()
	return out
}

func lineErr(n, seq int64, err error) *LineError {
	le := &LineError{Line: n, Seq: seq, Err: err}
	if m := fieldInErr.FindStringSubmatch(err.Error()); m != nil {
		le.Field = m[1]
	}
	return le
}

func sameTorn(a, b []TornLine) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var idRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// OriginPrefix starts every ceremony's checkpoint origin; the ceremony id
// (128 random bits recorded in the opening event) follows.
const OriginPrefix = "keyrite.ceremony/"

func genesisOrigin(e *Entry) (string, error) {
	if e.Step != StepOpen {
		return "", fmt.Errorf("%w: the first event must be %s, found %q", ErrFormat, StepOpen, e.Step)
	}
	if len(e.Params) != 2 || e.Params[0] != (Param{"format", "keyrite-transcript/v1"}) ||
		e.Params[1].Name != "ceremony_id" || !idRE.MatchString(e.Params[1].Value) {
		return "", fmt.Errorf("%w: the opening event must have params format=keyrite-transcript/v1 and a 32-hex-digit ceremony_id", ErrFormat)
	}
	return OriginPrefix + e.Params[1].Value, nil
}

// rootHash is the RFC 6962 Merkle tree hash over leaf hashes, with tlog's
// node hashing (tlog.NodeHash, the 0x01 prefix). The empty tree hashes to
// SHA-256 of the empty string.
func rootHash(leaves []tlog.Hash) tlog.Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(rootHash(leaves[:k]), rootHash(leaves[k:]))
}

func hexHash(h tlog.Hash) string { return fmt.Sprintf("%x", h[:]) }

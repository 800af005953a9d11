package transcripts

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// fastDecode decodes a line that is in the canonical form of an Entry,
// walking the fixed field order instead of going through encoding/json's
// reflection (five times faster; verification of long transcripts is
// dominated by decoding). It accepts exactly the canonical encoding: the
// keys in order, optional (omitempty) fields only when non-empty, integers
// as strconv.FormatInt writes them, and every string as json.Marshal writes
// it (HTML-escaped, valid UTF-8, no raw control characters). So fastDecode
// succeeding means json.Marshal of the result is the line; FuzzParseEntry
// checks that. ParseEntry falls back to encoding/json (and its error
// messages) whenever it fails.
func fastDecode(b []byte) (*Entry, bool) {
	d := &fdec{b: b}
	e := &Entry{}
	d.lit(`{"v":`)
	e.V = int(d.int())
	d.lit(`,"seq":`)
	e.Seq = d.int()
	d.lit(`,"prev":`)
	e.Prev = d.str()
	d.lit(`,"operator_time":`)
	e.OperatorTime = d.str()
	d.lit(`,"step":`)
	e.Step = d.str()
	d.lit(`,"actor":{"name":`)
	e.Actor.Name = d.str()
	d.lit(`,"role":`)
	e.Actor.Role = d.str()
	d.lit(`},"action":`)
	e.Action = d.str()
	if d.opt(`,"inputs":`) {
		e.Inputs = d.refs()
	}
	if d.opt(`,"outputs":`) {
		e.Outputs = d.refs()
	}
	if d.opt(`,"params":`) {
		d.array(func() {
			var p Param
			d.lit(`{"name":`)
			p.Name = d.str()
			d.lit(`,"value":`)
			p.Value = d.str()
			d.lit(`}`)
			e.Params = append(e.Params, p)
		})
	}
	d.lit(`,"tool":{"name":`)
	e.Tool.Name = d.str()
	d.lit(`,"version":`)
	e.Tool.Version = d.str()
	d.lit(`,"revision":`)
	e.Tool.Revision = d.str()
	d.lit(`,"go":`)
	e.Tool.GoVersion = d.str()
	d.lit(`}`)
	if d.opt(`,"hsm":{"module_path":`) {
		h := &HSMInfo{}
		h.ModulePath = d.str()
		if d.opt(`,"module_sha256":`) {
			h.ModuleSHA256 = d.nonEmpty(d.str())
		}
		if d.opt(`,"token_label":`) {
			h.TokenLabel = d.nonEmpty(d.str())
		}
		if d.opt(`,"manufacturer":`) {
			h.Manufacturer = d.nonEmpty(d.str())
		}
		if d.opt(`,"model":`) {
			h.Model = d.nonEmpty(d.str())
		}
		if d.opt(`,"serial":`) {
			h.Serial = d.nonEmpty(d.str())
		}
		if d.opt(`,"firmware":`) {
			h.Firmware = d.nonEmpty(d.str())
		}
		d.lit(`}`)
		e.HSM = h
	}
	if d.opt(`,"mechanism":`) {
		e.Mechanism = d.nonEmpty(d.str())
	}
	d.lit(`,"result":`)
	e.Result = d.str()
	if d.opt(`,"deviations":`) {
		d.array(func() { e.Deviations = append(e.Deviations, d.str()) })
	}
	if d.opt(`,"acted_on":{"origin":`) {
		a := &CheckpointRef{}
		a.Origin = d.str()
		d.lit(`,"size":`)
		a.Size = d.int()
		d.lit(`,"root_hash":`)
		a.RootHash = d.str()
		d.lit(`}`)
		e.ActedOn = a
	}
	if d.opt(`,"torn":`) {
		d.array(func() {
			var t TornLine
			d.lit(`{"line":`)
			t.Line = d.int()
			d.lit(`,"sha256":`)
			t.SHA256 = d.str()
			d.lit(`,"size":`)
			t.Size = d.int()
			d.lit(`}`)
			e.Torn = append(e.Torn, t)
		})
	}
	d.lit(`}`)
	if d.err != nil || d.i != len(b) {
		return nil, false
	}
	return e, true
}

var errFast = errors.New("not canonical")

type fdec struct {
	b   []byte
	i   int
	err error
}

func (d *fdec) lit(s string) {
	if d.err != nil {
		return
	}
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		d.err = errFast
		return
	}
	d.i += len(s)
}

func (d *fdec) opt(s string) bool {
	if d.err != nil || len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

func (d *fdec) int() int64 {
	if d.err != nil {
		return 0
	}
	j := d.i
	if j < len(d.b) && d.b[j] == '-' {
		j++
	}
	for j < len(d.b) && d.b[j] >= '0' && d.b[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(d.b[d.i:j]), 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != string(d.b[d.i:j]) {
		d.err = errFast
		return 0
	}
	d.i = j
	return n
}

func (d *fdec) str() string {
	if d.err != nil {
		return ""
	}
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		d.err = errFast
		return ""
	}
	escaped := false
	for j := d.i + 1; j < len(d.b); j++ {
		switch d.b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			raw := d.b[d.i : j+1]
			d.i = j + 1
			if !escaped {
				body := raw[1 : len(raw)-1]
				if !marshalsAsIs(body) {
					d.err = errFast
				}
				return string(body)
			}
			var s string
			if json.Unmarshal(raw, &s) != nil {
				d.err = errFast
				return ""
			}
			// Escapes must be exactly json.Marshal's.
			if re, err := json.Marshal(s); err != nil || string(re) != string(raw) {
				d.err = errFast
			}
			return s
		}
	}
	d.err = errFast
	return ""
}

// nonEmpty rejects an empty value where the field is omitempty.
func (d *fdec) nonEmpty(s string) string {
	if s == "" {
		d.err = errFast
	}
	return s
}

// marshalsAsIs reports whether json.Marshal writes the string s between its
// quotes unchanged: valid UTF-8, no control characters, no '"' or '\\', none
// of the HTML characters < > & and no U+2028 or U+2029.
func marshalsAsIs(s []byte) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}

// array parses a non-empty array (every array of an Entry is omitempty).
func (d *fdec) array(elem func()) {
	d.lit(`[`)
	if d.opt(`]`) {
		d.err = errFast
		return
	}
	for d.err == nil {
		elem()
		if d.opt(`]`) {
			return
		}
		d.lit(`,`)
	}
}

func (d *fdec) refs() []ArtifactRef {
	var out []ArtifactRef
	d.array(func() {
		var r ArtifactRef
		d.lit(`{"name":`)
		r.Name = d.str()
		d.lit(`,"kind":`)
		r.Kind = Kind(d.str())
		d.lit(`,"sha256":`)
		r.SHA256 = d.str()
		d.lit(`,"size":`)
		r.Size = d.int()
		d.lit(`,"words":`)
		r.Words = d.str()
		d.lit(`}`)
		out = append(out, r)
	})
	return out
}

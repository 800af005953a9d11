package custody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrManifest is returned (wrapped) for a manifest that is not valid.
var ErrManifest = errors.New("custody: invalid manifest")

// ManifestFile is the manifest's name inside a split directory.
const ManifestFile = "manifest.json"

// Manifest formats and algorithms.
const (
	ManifestFormat = "keyrite-custody-manifest/v1"
	CommitmentAlg  = "HMAC-SHA256(K, split-id || secret), K shared with the secret"
)

// A Manifest describes a split publicly: it holds no secret, and may be kept
// in a ceremony transcript. It is written as indented JSON (two spaces,
// fields in this order, a final newline); [ParseManifest] accepts only that
// exact form.
type Manifest struct {
	Format     string      `json:"format"`
	SplitID    string      `json:"split_id"`  // 32 lowercase hex digits
	Threshold  int         `json:"threshold"` // M
	Shares     int         `json:"shares"`    // N
	Commitment Commitment  `json:"commitment"`
	Generator  string      `json:"generator"`
	Files      []ShareFile `json:"share_files"` // N entries, index 1..N in order
}

// Commitment lets Combine confirm the secret without revealing it; see the
// package documentation.
type Commitment struct {
	Alg   string `json:"alg"`   // CommitmentAlg
	Value string `json:"value"` // 64 lowercase hex digits
}

// ShareFile is one share's public description.
type ShareFile struct {
	Index     int    `json:"index"`
	File      string `json:"file"`      // ShareFileName(Index, N)
	Recipient string `json:"recipient"` // canonical recipient string
	Kind      string `json:"kind"`      // x25519, hybrid, ssh-ed25519, ssh-rsa, plugin:NAME
	Label     string `json:"label,omitempty"`
	SHA256    string `json:"sha256"` // of the .age file
}

// ShareFileName is the name of share i of n.
func ShareFileName(i, n int) string { return fmt.Sprintf("share-%d-of-%d.age", i, n) }

// Marshal returns the canonical encoding of m.
func (m *Manifest) Marshal() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		// Only strings, ints and slices of them: cannot fail.
		panic("custody: encoding manifest: " + err.Error())
	}
	return b.Bytes()
}

// maxManifest bounds the manifest size: 255 entries with long ssh-rsa keys.
const maxManifest = 1 << 21

// ParseManifest parses and validates a manifest: the format string, the split
// ID and commitment encodings, 2 ≤ threshold ≤ shares ≤ 255, exactly N share
// entries numbered 1..N with the standard file names, well-formed SHA-256
// values, and distinct, printable recipients. Anything that would not
// re-encode to the same bytes is rejected.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > maxManifest {
		return nil, fmt.Errorf("%w: %d bytes is too large", ErrManifest, len(b))
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrManifest)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	m := new(Manifest)
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrManifest)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if !bytes.Equal(m.Marshal(), b) {
		return nil, fmt.Errorf("%w: not in canonical form (was it edited by hand?)", ErrManifest)
	}
	return m, nil
}

// Validate checks m's fields; see ParseManifest.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrManifest, fmt.Sprintf(format, args...))
	}
	if m.Format != ManifestFormat {
		return bad("format is %q, want %q", m.Format, ManifestFormat)
	}
	var id [16]byte
	if err := decodeHex(id[:], m.SplitID); err != nil {
		return bad("split_id: %v", err)
	}
	if m.Threshold < MinThreshold || m.Threshold > m.Shares || m.Shares > MaxShares {
		return bad("threshold %d of %d shares: want 2 ≤ threshold ≤ shares ≤ %d", m.Threshold, m.Shares, MaxShares)
	}
	if m.Commitment.Alg != CommitmentAlg {
		return bad("commitment.alg is %q, want %q", m.Commitment.Alg, CommitmentAlg)
	}
	var c [32]byte
	if err := decodeHex(c[:], m.Commitment.Value); err != nil {
		return bad("commitment.value: %v", err)
	}
	if !printable(m.Generator) {
		return bad("generator contains control characters")
	}
	if len(m.Files) != m.Shares {
		return bad("%d share_files entries for %d shares", len(m.Files), m.Shares)
	}
	seen := make(map[string]int)
	for i, f := range m.Files {
		if f.Index != i+1 {
			return bad("share_files[%d].index is %d, want %d", i, f.Index, i+1)
		}
		if want := ShareFileName(i+1, m.Shares); f.File != want {
			return bad("share_files[%d].file is %q, want %q", i, f.File, want)
		}
		if f.Recipient == "" || !printable(f.Recipient) || !printable(f.Label) || !printable(f.Kind) || f.Kind == "" {
			return bad("share_files[%d]: empty or unprintable recipient, kind or label", i)
		}
		if j, dup := seen[f.Recipient]; dup {
			return bad("share_files[%d] and [%d] have the same recipient", j, i)
		}
		seen[f.Recipient] = i
		var h [32]byte
		if err := decodeHex(h[:], f.SHA256); err != nil {
			return bad("share_files[%d].sha256: %v", i, err)
		}
	}
	return nil
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)
	})
}

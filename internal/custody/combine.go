package custody

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/hashicorp/vault/shamir"
)

// Errors Combine returns (wrapped), for callers to match.
var (
	// ErrTooFewShares: the identities opened fewer shares than the threshold.
	ErrTooFewShares = errors.New("custody: too few shares")
	// ErrMixedSplits: a share belongs to another split, or to another index.
	ErrMixedSplits = errors.New("custody: share from another split")
	// ErrShareModified: a share file does not match its SHA-256 in the manifest.
	ErrShareModified = errors.New("custody: share file does not match the manifest")
	// ErrCommitment: the combined value is not the committed secret.
	ErrCommitment = errors.New("custody: combined secret does not match the commitment")
)

// maxShareFile bounds a share file: the largest share plaintext plus room
// for the age header's recipient stanzas.
const maxShareFile = 2*maxPayload + 1<<20

// CombineResult says which shares Combine used and why others were not.
type CombineResult struct {
	Manifest *Manifest
	Opened   []int // indices of the shares the identities opened, ascending
	Used     []int // the first Threshold of Opened, which were combined
	Unopened []int // share files present that no identity opened
	Missing  []int // share files not in the directory
}

// Combine recombines the secret split into dir, using the shares that ids
// open. See the package documentation for the checks it makes. The caller
// owns the returned secret and should clear it after use.
func Combine(dir string, ids []age.Identity) ([]byte, *CombineResult, error) {
	if len(ids) == 0 {
		return nil, nil, errors.New("custody: no identity given")
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, nil, err
	}
	var splitID [16]byte
	var commitment [32]byte
	decodeHex(splitID[:], m.SplitID)
	decodeHex(commitment[:], m.Commitment.Value)

	res := &CombineResult{Manifest: m}
	var shares []*Share
	defer func() {
		for _, s := range shares {
			clear(s.Value)
		}
	}()
	for _, f := range m.Files {
		path := filepath.Join(dir, f.File)
		ct, err := readSmallFile(path, maxShareFile)
		if errors.Is(err, fs.ErrNotExist) {
			res.Missing = append(res.Missing, f.Index)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("custody: %w", err)
		}
		sum := sha256.Sum256(ct)
		modified := hex.EncodeToString(sum[:]) != f.SHA256
		sh, err := openShare(ct, ids)
		var nomatch *age.NoIdentityMatchError
		switch {
		case err == nil && sh.SplitID != splitID:
			clear(sh.Value)
			return nil, nil, fmt.Errorf("%w: %s belongs to split %x, the manifest is for split %s", ErrMixedSplits, f.File, sh.SplitID, m.SplitID)
		case modified:
			// Whether or not it opens, a file that is not the one the split
			// wrote is refused, with the reason people can act on.
			if err == nil {
				clear(sh.Value)
			}
			return nil, nil, fmt.Errorf("%w: %s: its SHA-256 is %x, the manifest says %s", ErrShareModified, f.File, sum, f.SHA256)
		case errors.As(err, &nomatch):
			res.Unopened = append(res.Unopened, f.Index)
			continue
		case err != nil:
			return nil, nil, fmt.Errorf("custody: %s: %w", f.File, err)
		}
		shares = append(shares, sh)
		if sh.Index != f.Index || sh.Threshold != m.Threshold || sh.Total != m.Shares {
			return nil, nil, fmt.Errorf("%w: %s holds share %d of a %d-of-%d split, the manifest expects share %d of %d-of-%d",
				ErrMixedSplits, f.File, sh.Index, sh.Threshold, sh.Total, f.Index, m.Threshold, m.Shares)
		}
		if sh.Commitment != commitment {
			return nil, nil, fmt.Errorf("%w: %s carries another commitment than the manifest", ErrMixedSplits, f.File)
		}
		if len(shares) > 1 && len(sh.Value) != len(shares[0].Value) {
			return nil, nil, fmt.Errorf("%w: %s has a share of another length than share %d", ErrMixedSplits, f.File, shares[0].Index)
		}
		res.Opened = append(res.Opened, f.Index)
	}
	if len(shares) < m.Threshold {
		return nil, res, fmt.Errorf("%w: opened %d of the %d needed (%s)", ErrTooFewShares, len(shares), m.Threshold, res.describe())
	}
	// Any M shares determine the polynomial; more add work, not certainty
	// (the commitment is what confirms the result).
	parts := make([][]byte, m.Threshold)
	for i, s := range shares[:m.Threshold] {
		parts[i] = s.Value
	}
	res.Used = res.Opened[:m.Threshold]
	payload, err := shamir.Combine(parts)
	if err != nil {
		return nil, res, fmt.Errorf("%w: combining: %v", ErrCommitment, err)
	}
	defer clear(payload)
	secret, err := openPayload(payload, splitID, commitment)
	if err != nil {
		return nil, res, err
	}
	return secret, res, nil
}

// describe says which shares were opened, present but not opened, and missing.
func (r *CombineResult) describe() string {
	var parts []string
	add := func(what string, idx []int) {
		if len(idx) > 0 {
			parts = append(parts, what+" "+joinInts(idx))
		}
	}
	add("opened share", r.Opened)
	add("no identity opens share", r.Unopened)
	add("missing share file", r.Missing)
	return strings.Join(parts, "; ")
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// openShare decrypts one share file; a *age.NoIdentityMatchError means none
// of ids is its recipient.
func openShare(ct []byte, ids []age.Identity) (*Share, error) {
	r, err := age.Decrypt(bytes.NewReader(ct), ids...)
	if err != nil {
		return nil, err
	}
	pt, err := io.ReadAll(io.LimitReader(r, 2*maxPayload+4096))
	if err != nil {
		clear(pt)
		return nil, fmt.Errorf("decrypting: %w", err)
	}
	defer clear(pt)
	sh, err := ParseShare(pt)
	if err != nil {
		return nil, err
	}
	return sh, nil
}

// openPayload checks the payload's length field, padding and commitment and
// returns a copy of the secret.
func openPayload(p []byte, splitID [16]byte, commitment [32]byte) ([]byte, error) {
	if len(p) < commitKeySize+lenSize || len(p)%PayloadBlock != 0 {
		return nil, fmt.Errorf("%w: combined payload has the wrong size", ErrCommitment)
	}
	n := binary.BigEndian.Uint32(p[commitKeySize:])
	body := p[commitKeySize+lenSize:]
	if n == 0 || uint64(n) > uint64(len(body)) || uint64(len(body))-uint64(n) >= PayloadBlock {
		return nil, fmt.Errorf("%w: combined payload has an invalid length field", ErrCommitment)
	}
	secret, pad := body[:n], body[n:]
	var nz byte
	for _, b := range pad {
		nz |= b
	}
	c := commit(p[:commitKeySize], splitID, secret)
	if nz != 0 || !hmac.Equal(c[:], commitment[:]) {
		return nil, ErrCommitment
	}
	out := make([]byte, n)
	copy(out, secret)
	return out, nil
}

// ReadManifest reads and parses dir's manifest.
func ReadManifest(dir string) (*Manifest, error) {
	mb, err := readSmallFile(filepath.Join(dir, ManifestFile), maxManifest)
	if err != nil {
		return nil, fmt.Errorf("custody: reading the manifest: %w", err)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	return m, nil
}

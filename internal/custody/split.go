package custody

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"filippo.io/age"
	"github.com/hashicorp/vault/shamir"

	"github.com/keyrite/keyrite/internal/base/buildinfo"
	"github.com/keyrite/keyrite/internal/base/fsx"
)

// Limits.
const (
	MinThreshold  = 2        // M ≥ 2: a 1-of-N split is N copies of the secret
	MaxShares     = 255      // GF(2^8) has 255 non-zero x coordinates
	MaxSecretSize = 16 << 10 // 16 KiB: PINs, passphrases, PEM keys (an RSA-4096 PEM is 3.3 KB); Shamir cost grows with size × N × M
	// PayloadBlock is the padding granularity of the shared payload.
	PayloadBlock = 64

	commitKeySize = 32
	lenSize       = 4
	maxPayload    = (commitKeySize + lenSize + MaxSecretSize + PayloadBlock - 1) / PayloadBlock * PayloadBlock
)

// ErrInvalidSplit is returned (wrapped) when Split's arguments are refused.
var ErrInvalidSplit = errors.New("custody: invalid split")

// A File is one output file of a split.
type File struct {
	Name string
	Data []byte
}

// Result is a split ready to be written: the manifest and one age file per
// share, in index order. Nothing in it is secret in the clear.
type Result struct {
	Manifest *Manifest
	Shares   []File
}

// Split splits secret threshold-of-len(recipients) and encrypts share i to
// recipients[i-1]; see the package documentation for the construction and
// the validation rules. It does not modify secret.
func Split(secret []byte, threshold int, recipients []*Recipient) (*Result, error) {
	n := len(recipients)
	switch {
	case len(secret) == 0:
		return nil, fmt.Errorf("%w: the secret is empty", ErrInvalidSplit)
	case len(secret) > MaxSecretSize:
		return nil, fmt.Errorf("%w: the secret is %d bytes, more than the %d allowed", ErrInvalidSplit, len(secret), MaxSecretSize)
	case threshold < MinThreshold:
		return nil, fmt.Errorf("%w: threshold %d: want at least %d", ErrInvalidSplit, threshold, MinThreshold)
	case n < threshold:
		return nil, fmt.Errorf("%w: threshold %d but only %d recipients: want threshold ≤ recipients", ErrInvalidSplit, threshold, n)
	case n > MaxShares:
		return nil, fmt.Errorf("%w: %d recipients: at most %d", ErrInvalidSplit, n, MaxShares)
	}
	seen := make(map[string]int)
	for i, r := range recipients {
		if r == nil || r.Recipient == nil || r.String == "" {
			return nil, fmt.Errorf("%w: recipient %d is missing", ErrInvalidSplit, i+1)
		}
		if j, dup := seen[r.String]; dup {
			return nil, fmt.Errorf("%w: recipients %d and %d are the same key: each share needs its own custodian", ErrInvalidSplit, j+1, i+1)
		}
		seen[r.String] = i
	}

	var splitID [16]byte
	rand.Read(splitID[:])
	payload, commitment := makePayload(splitID, secret)
	defer clear(payload)

	parts, err := shamir.Split(payload, n, threshold)
	if err != nil {
		return nil, fmt.Errorf("custody: splitting: %w", err)
	}
	defer func() {
		for _, p := range parts {
			clear(p)
		}
	}()
	// Self-test: two different quorums must give the payload back.
	for _, q := range [][][]byte{parts[:threshold], parts[n-threshold:]} {
		got, err := shamir.Combine(q)
		ok := err == nil && bytes.Equal(got, payload)
		clear(got)
		if !ok {
			return nil, errors.New("custody: self-test failed: a quorum of fresh shares does not recombine")
		}
	}

	m := &Manifest{
		Format:     ManifestFormat,
		SplitID:    hex.EncodeToString(splitID[:]),
		Threshold:  threshold,
		Shares:     n,
		Commitment: Commitment{Alg: CommitmentAlg, Value: hex.EncodeToString(commitment[:])},
		Generator:  buildinfo.Generator(),
	}
	res := &Result{Manifest: m}
	for i, r := range recipients {
		sh := &Share{SplitID: splitID, Threshold: threshold, Total: n, Index: i + 1, Commitment: commitment, Value: parts[i]}
		pt := sh.Marshal()
		ct, err := encrypt(pt, r)
		clear(pt)
		if err != nil {
			return nil, fmt.Errorf("custody: encrypting share %d to %s recipient: %w", i+1, r.Kind, err)
		}
		name := ShareFileName(i+1, n)
		sum := sha256.Sum256(ct)
		res.Shares = append(res.Shares, File{Name: name, Data: ct})
		m.Files = append(m.Files, ShareFile{
			Index: i + 1, File: name, Recipient: r.String, Kind: r.Kind, Label: printableOrEmpty(r.Label),
			SHA256: hex.EncodeToString(sum[:]),
		})
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("custody: internal error: %w", err)
	}
	return res, nil
}

func printableOrEmpty(s string) string {
	if printable(s) {
		return s
	}
	return ""
}

func encrypt(pt []byte, r *Recipient) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r.Recipient)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(pt); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// makePayload returns K || BE32(len) || secret || zero padding, and the
// commitment HMAC-SHA256(K, splitID || secret).
func makePayload(splitID [16]byte, secret []byte) ([]byte, [32]byte) {
	size := (commitKeySize + lenSize + len(secret) + PayloadBlock - 1) / PayloadBlock * PayloadBlock
	p := make([]byte, size)
	rand.Read(p[:commitKeySize])
	binary.BigEndian.PutUint32(p[commitKeySize:], uint32(len(secret)))
	copy(p[commitKeySize+lenSize:], secret)
	return p, commit(p[:commitKeySize], splitID, secret)
}

func commit(key []byte, splitID [16]byte, secret []byte) [32]byte {
	h := hmac.New(sha256.New, key)
	h.Write(splitID[:])
	h.Write(secret)
	var c [32]byte
	h.Sum(c[:0])
	return c
}

// WriteDir writes r into the new directory dir, all or nothing: the files go
// to a temporary directory beside dir, are read back and checked against the
// manifest, and the directory is then renamed into place. It fails, wrapping
// fs.ErrExist, if dir exists.
func WriteDir(dir string, r *Result) (err error) {
	tmp, err := fsx.TempDirFor(dir)
	if err != nil {
		return fmt.Errorf("custody: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	for _, f := range r.Shares {
		if err := fsx.WriteNew(filepath.Join(tmp, f.Name), f.Data, 0o600); err != nil {
			return fmt.Errorf("custody: writing %s: %w", f.Name, fsx.UnwrapPathErr(err))
		}
	}
	mb := r.Manifest.Marshal()
	if err := fsx.WriteNew(filepath.Join(tmp, ManifestFile), mb, 0o644); err != nil {
		return fmt.Errorf("custody: writing %s: %w", ManifestFile, fsx.UnwrapPathErr(err))
	}
	// Read back what was written before committing it.
	if err := checkWritten(tmp, mb); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("custody: %w", err)
	}
	if err := fsx.CommitDir(tmp, dir); err != nil {
		return fmt.Errorf("custody: %w", err)
	}
	return nil
}

func checkWritten(dir string, manifest []byte) error {
	got, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return fmt.Errorf("custody: reading back the manifest: %w", err)
	}
	m, err := ParseManifest(got)
	if err != nil || !bytes.Equal(got, manifest) {
		return fmt.Errorf("custody: the manifest read back differs from the one written")
	}
	for _, f := range m.Files {
		data, err := readSmallFile(filepath.Join(dir, f.File), maxShareFile)
		if err != nil {
			return fmt.Errorf("custody: reading back %s: %w", f.File, err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 {
			return fmt.Errorf("custody: %s read back does not match its SHA-256", f.File)
		}
	}
	return nil
}

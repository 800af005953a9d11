package custody

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrShareFormat is returned (wrapped) for a share plaintext that is not in
// the exact form [Share.Marshal] writes.
var ErrShareFormat = errors.New("custody: malformed share")

// shareHeader is the first line of every share plaintext.
const shareHeader = "keyrite-custody-share v1"

// A Share is the plaintext inside one share-I-of-N.age file. It is secret:
// it holds one Shamir share of the payload. Its text form is
//
//	keyrite-custody-share v1
//	split-id: <32 lowercase hex digits>
//	threshold: <M>
//	shares: <N>
//	index: <I>
//	commitment: <64 lowercase hex digits>
//	share: <standard base64 of the Shamir share>
//
// each line ending in "\n", numbers in decimal without leading zeros. The
// metadata lets [Combine] detect shares of two different splits mixed
// together, and ones moved to another index.
type Share struct {
	SplitID    [16]byte
	Threshold  int
	Total      int
	Index      int // 1..Total
	Commitment [32]byte
	Value      []byte // the Shamir share: payload-length y bytes then the x byte
}

// Marshal returns the text form of s.
func (s *Share) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nsplit-id: %x\nthreshold: %d\nshares: %d\nindex: %d\ncommitment: %x\nshare: %s\n",
		shareHeader, s.SplitID[:], s.Threshold, s.Total, s.Index, s.Commitment[:],
		base64.StdEncoding.EncodeToString(s.Value))
	return b.Bytes()
}

// ParseShare parses and validates a share plaintext. Only the exact form
// that Marshal writes is accepted.
func ParseShare(b []byte) (*Share, error) {
	lines := strings.Split(string(b), "\n")
	if len(lines) != 8 || lines[7] != "" {
		return nil, fmt.Errorf("%w: want 7 lines each ending in a newline", ErrShareFormat)
	}
	if lines[0] != shareHeader {
		return nil, fmt.Errorf("%w: first line is not %q", ErrShareFormat, shareHeader)
	}
	field := func(i int, name string) (string, error) {
		v, ok := strings.CutPrefix(lines[i], name+": ")
		if !ok {
			return "", fmt.Errorf("%w: line %d: want the %q field", ErrShareFormat, i+1, name)
		}
		return v, nil
	}
	num := func(i int, name string) (int, error) {
		v, err := field(i, name)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxShares || strconv.Itoa(n) != v {
			return 0, fmt.Errorf("%w: %s: want a number from 1 to %d", ErrShareFormat, name, MaxShares)
		}
		return n, nil
	}
	s := new(Share)
	v, err := field(1, "split-id")
	if err != nil {
		return nil, err
	}
	if err := decodeHex(s.SplitID[:], v); err != nil {
		return nil, fmt.Errorf("%w: split-id: %v", ErrShareFormat, err)
	}
	if s.Threshold, err = num(2, "threshold"); err != nil {
		return nil, err
	}
	if s.Total, err = num(3, "shares"); err != nil {
		return nil, err
	}
	if s.Index, err = num(4, "index"); err != nil {
		return nil, err
	}
	if v, err = field(5, "commitment"); err != nil {
		return nil, err
	}
	if err := decodeHex(s.Commitment[:], v); err != nil {
		return nil, fmt.Errorf("%w: commitment: %v", ErrShareFormat, err)
	}
	if v, err = field(6, "share"); err != nil {
		return nil, err
	}
	s.Value, err = base64.StdEncoding.Strict().DecodeString(v)
	if err != nil || base64.StdEncoding.EncodeToString(s.Value) != v {
		return nil, fmt.Errorf("%w: share: not canonical standard base64", ErrShareFormat)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Share) validate() error {
	if s.Threshold < MinThreshold || s.Threshold > s.Total || s.Total > MaxShares {
		return fmt.Errorf("%w: threshold %d of %d shares: want 2 ≤ threshold ≤ shares ≤ %d", ErrShareFormat, s.Threshold, s.Total, MaxShares)
	}
	if s.Index < 1 || s.Index > s.Total {
		return fmt.Errorf("%w: index %d is not between 1 and %d", ErrShareFormat, s.Index, s.Total)
	}
	// A payload is at least one block; the share adds the x coordinate.
	if len(s.Value) < PayloadBlock+1 || (len(s.Value)-1)%PayloadBlock != 0 || len(s.Value)-1 > maxPayload {
		return fmt.Errorf("%w: share value is %d bytes, not a whole number of %d-byte blocks plus one", ErrShareFormat, len(s.Value), PayloadBlock)
	}
	if s.Value[len(s.Value)-1] == 0 {
		return fmt.Errorf("%w: share x coordinate is zero", ErrShareFormat)
	}
	return nil
}

// decodeHex decodes exactly len(dst) bytes of lowercase hex.
func decodeHex(dst []byte, s string) error {
	if len(s) != 2*len(dst) || strings.ToLower(s) != s {
		return fmt.Errorf("want %d lowercase hex digits", 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("want %d lowercase hex digits", 2*len(dst))
	}
	return nil
}

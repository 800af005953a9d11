package transcripts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/keyrite/keyrite/internal/fsx"
)

// SignResult describes a signature Sign added.
type SignResult struct {
	Checkpoint  CheckpointRef `json:"checkpoint"`
	Text        string        `json:"text"`  // the checkpoint body
	Words       string        `json:"words"` // PGP words of the root hash's first 8 bytes, to read aloud
	Signer      string        `json:"signer"`
	Role        string        `json:"role"`
	KeyID       string        `json:"key_id"`
	KeyType     string        `json:"key_type"`
	VerifierKey string        `json:"key"`
	NoteFile    string        `json:"note_file"`
	DSSEFile    string        `json:"dsse_file"`
	Recovered   *Recovery     `json:"recovered,omitempty"` // set if opening closed an interrupted step first
}

// ErrAlreadySigned: this key already signed this state.
var ErrAlreadySigned = errors.New("transcripts: this key already signed this state")

// Sign signs the current state of the ceremony in dir with s, claiming role
// (e.g. "operator", "witness", "custodian"; the trust file decides what a key
// counts as). It opens the ceremony (closing an interrupted step with an
// aborted record first), refuses a directory that does not verify, then
// writes signatures/SIZE-KEYID.note (a C2SP signed note over the
// tlog-checkpoint) and signatures/SIZE-KEYID.dsse.json (a DSSE envelope over
// the in-toto statement for the same state), each atomically.
func Sign(dir string, s *Signer, role string) (*SignResult, error) {
	return SignWith(dir, s, role, Options{})
}

// SignWith is Sign with Open options.
func SignWith(dir string, s *Signer, role string, opts Options) (*SignResult, error) {
	if !roleRE.MatchString(role) {
		return nil, fmt.Errorf("transcripts: role %q: want a lowercase word like \"operator\" or \"witness\"", role)
	}
	if _, err := os.Stat(filepath.Join(dir, TranscriptFile)); err != nil {
		return nil, fmt.Errorf("transcripts: %s is not a ceremony directory: %w", dir, err)
	}
	c, err := OpenWith(dir, opts)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	base := fmt.Sprintf("%d-%s", c.Size(), keyIDHex(s.KeyHash()))
	notePath := filepath.Join(SignaturesDir, base+".note")
	dssePath := filepath.Join(SignaturesDir, base+".dsse.json")
	if rep, err := Verify(dir, nil); err != nil {
		// The one problem Sign repairs: its own interrupted signature.
		for _, p := range rep.Problems {
			if p.File != notePath {
				return nil, fmt.Errorf("transcripts: refusing to sign a ceremony that does not verify: %w", err)
			}
		}
	}
	data, err := readFile(filepath.Join(dir, TranscriptFile), MaxTranscriptSize)
	if err != nil {
		return nil, fmt.Errorf("transcripts: %w", err)
	}
	ch, err := parseChain(data)
	if err != nil || len(ch.torn) > 0 {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	ref := CheckpointRef{Origin: ch.origin, Size: int64(len(ch.lines)), RootHash: hexHash(rootHash(ch.leaves))}
	if ref != c.Checkpoint() {
		return nil, fmt.Errorf("%w: the transcript changed while it was being signed", ErrCorrupt)
	}
	text, err := CheckpointText(ref)
	if err != nil {
		return nil, err
	}
	sdir := filepath.Join(dir, SignaturesDir)
	if err := os.MkdirAll(sdir, 0o750); err != nil {
		return nil, fmt.Errorf("transcripts: %w", err)
	}
	_, noteErr := os.Lstat(filepath.Join(dir, notePath))
	_, dsseErr := os.Lstat(filepath.Join(dir, dssePath))
	if noteErr == nil && dsseErr == nil {
		return nil, fmt.Errorf("%w: %s (size %d)", ErrAlreadySigned, s.Name(), ref.Size)
	}
	if noteErr != nil {
		sig, err := s.Sign(text)
		if err != nil {
			return nil, err
		}
		msg := encodeNote(text, []NoteSig{{Name: s.Name(), KeyHash: s.KeyHash(), Sig: sig}})
		if err := fsx.WriteNew(filepath.Join(dir, notePath), msg, 0o444); err != nil {
			return nil, fmt.Errorf("transcripts: writing %s: %w", notePath, err)
		}
	}
	if !errors.Is(dsseErr, fs.ErrNotExist) && dsseErr != nil {
		return nil, fmt.Errorf("transcripts: %w", dsseErr)
	}
	if dsseErr != nil {
		st, err := statementFor(ch, ref, s.Name(), role, s.VerifierKey())
		if err != nil {
			return nil, err
		}
		env, err := signEnvelope(s, st)
		if err != nil {
			return nil, err
		}
		if err := fsx.WriteNew(filepath.Join(dir, dssePath), env, 0o444); err != nil {
			return nil, fmt.Errorf("transcripts: writing %s: %w", dssePath, err)
		}
	}
	// Read back what was written and check it verifies.
	if rep, _ := Verify(dir, nil); !signedBy(rep, ref.Size, s.VerifierKey()) {
		return nil, fmt.Errorf("transcripts: the signature just written by %s does not verify; check %s and %s", s.Name(), notePath, dssePath)
	}
	return &SignResult{
		Checkpoint: ref, Text: string(text), Words: rootWords(ref.RootHash),
		Signer: s.Name(), Role: role, KeyID: keyIDHex(s.KeyHash()), KeyType: s.KeyType(), VerifierKey: s.VerifierKey(),
		NoteFile: notePath, DSSEFile: dssePath, Recovered: c.Recovered(),
	}, nil
}

func signedBy(r *Report, size int64, vkey string) bool {
	if r == nil {
		return false
	}
	for _, cp := range r.Checkpoints {
		if cp.Size != size {
			continue
		}
		for _, sig := range cp.Signatures {
			if sig.VerifierKey == vkey && sig.Valid {
				return true
			}
		}
	}
	return false
}

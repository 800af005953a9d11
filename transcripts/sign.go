package transcripts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/keyrite/keyrite/internal/base/fsx"
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
	// RemovedTemp lists the temporary files an interrupted sign left in
	// signatures/, removed before signing. A signature file is not part of
	// the transcript, so this is reported, not recorded: an aborted record
	// would change the state every co-signer has to sign.
	RemovedTemp []string `json:"removed_temp,omitempty"`
}

// ErrAlreadySigned: this key already signed this state.
var ErrAlreadySigned = errors.New("transcripts: this key already signed this state")

// Sign signs the current state of the ceremony in dir with s, claiming role
// (e.g. "operator", "witness", "custodian"; the trust file decides what a key
// counts as). It opens the ceremony (closing an interrupted step with an
// aborted record first), removes what an interrupted sign left (temporary
// files of keyrite's own naming in signatures/, listed in RemovedTemp),
// refuses a directory that does not verify, then writes
// signatures/SIZE-KEYID.note (a C2SP signed note over the tlog-checkpoint)
// and signatures/SIZE-KEYID.dsse.json (a DSSE envelope over the in-toto
// statement for the same state), each atomically. A note whose DSSE file an
// interrupted sign never wrote is completed by the same key signing the same
// state again.
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
	opts.signing = true
	c, err := OpenWith(dir, opts)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// Under the ceremony's lock no other sign is writing: any temporary
	// signature file is a leftover.
	removed, err := removeSignTemps(dir)
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("%d-%s", c.Size(), keyIDHex(s.KeyHash()))
	notePath := filepath.Join(SignaturesDir, base+".note")
	dssePath := filepath.Join(SignaturesDir, base+".dsse.json")
	if rep, err := Verify(dir, nil); err != nil {
		// What Sign signs over: its own interrupted signature (completed
		// below), and what other signers' interrupted signs left (theirs to
		// complete); nothing else.
		for _, p := range rep.Problems {
			if p.File != notePath && !errors.Is(p.Err(), ErrInterruptedSign) {
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
		NoteFile: notePath, DSSEFile: dssePath, Recovered: c.Recovered(), RemovedTemp: removed,
	}, nil
}

// signTempRE matches the temporary files fsx.WriteNew makes beside Sign's
// outputs: "." + SIZE-KEYID.note or SIZE-KEYID.dsse.json + ".tmp-" +
// os.CreateTemp's random digits. Only these are removed as leftovers.
var signTempRE = regexp.MustCompile(`^\.[1-9][0-9]{0,17}-[0-9a-f]{8}\.(note|dsse\.json)\.tmp-[0-9]+$`)

func isSignTemp(name string) bool { return signTempRE.MatchString(name) }

// removeSignTemps removes from dir's signatures directory the temporary
// files a sign killed part-way left (between writing a signature file and
// linking it into place), and returns their paths inside dir. The caller
// holds the ceremony's lock, so no sign is writing them now. Only regular
// files of keyrite's own naming are removed; anything else is left for
// Verify to report.
func removeSignTemps(dir string) ([]string, error) {
	sdir := filepath.Join(dir, SignaturesDir)
	names, err := listDir(sdir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range names {
		if !isSignTemp(n) {
			continue
		}
		if st, err := os.Lstat(filepath.Join(sdir, n)); err != nil || !st.Mode().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(sdir, n)); err != nil {
			return nil, fmt.Errorf("transcripts: removing what an interrupted sign left: %w", err)
		}
		removed = append(removed, filepath.Join(SignaturesDir, n))
	}
	if len(removed) > 0 {
		if err := fsx.SyncDir(sdir); err != nil {
			return nil, fmt.Errorf("transcripts: %w", err)
		}
	}
	return removed, nil
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

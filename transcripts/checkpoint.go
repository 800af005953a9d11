package transcripts

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrNote is wrapped by errors about malformed checkpoints and signed notes.
var ErrNote = errors.New("transcripts: malformed signed checkpoint")

// CheckpointText is the C2SP tlog-checkpoint body for ref:
//
//	<origin>
//	<size, decimal>
//	<root hash, standard base64>
//
// with no extension lines.
func CheckpointText(ref CheckpointRef) ([]byte, error) {
	root, err := hex.DecodeString(ref.RootHash)
	if err != nil || len(root) != 32 {
		return nil, fmt.Errorf("%w: root hash %q", ErrNote, ref.RootHash)
	}
	return fmt.Appendf(nil, "%s\n%d\n%s\n", ref.Origin, ref.Size, base64.StdEncoding.EncodeToString(root)), nil
}

// ParseCheckpoint parses a checkpoint body strictly (it must re-encode to
// the same bytes).
func ParseCheckpoint(text []byte) (CheckpointRef, error) {
	lines := strings.Split(string(text), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return CheckpointRef{}, fmt.Errorf("%w: want exactly three lines (origin, size, root hash)", ErrNote)
	}
	if !strings.HasPrefix(lines[0], OriginPrefix) {
		return CheckpointRef{}, fmt.Errorf("%w: origin %q is not a keyrite ceremony", ErrNote, lines[0])
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 1 {
		return CheckpointRef{}, fmt.Errorf("%w: size %q", ErrNote, lines[1])
	}
	root, err := decodeStd(lines[2])
	if err != nil || len(root) != 32 {
		return CheckpointRef{}, fmt.Errorf("%w: root hash %q", ErrNote, lines[2])
	}
	ref := CheckpointRef{Origin: lines[0], Size: size, RootHash: hex.EncodeToString(root)}
	if re, _ := CheckpointText(ref); !bytes.Equal(re, text) {
		return CheckpointRef{}, fmt.Errorf("%w: not in canonical form", ErrNote)
	}
	return ref, nil
}

// NoteSig is one signature line of a signed note.
type NoteSig struct {
	Name    string
	KeyHash uint32
	Sig     []byte // the signature without the 4-byte key ID
}

// maxNoteSigs bounds signatures per note (C2SP asks verifiers to accept at
// least 16).
const maxNoteSigs = 64

// ParseNote splits a C2SP signed note into its text (ending in a newline)
// and signature lines, strictly: valid UTF-8, no control characters but
// newlines, at least one signature line "— name base64(keyid||sig)", and
// re-encoding gives the same bytes. It verifies nothing.
func ParseNote(msg []byte) ([]byte, []NoteSig, error) {
	if len(msg) > 64<<10 {
		return nil, nil, fmt.Errorf("%w: note too large", ErrNote)
	}
	if !utf8.Valid(msg) {
		return nil, nil, fmt.Errorf("%w: not valid UTF-8", ErrNote)
	}
	for _, c := range msg {
		if c < 0x20 && c != '\n' || c == 0x7f {
			return nil, nil, fmt.Errorf("%w: control character 0x%02x", ErrNote, c)
		}
	}
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return nil, nil, fmt.Errorf("%w: no blank line before the signatures", ErrNote)
	}
	text, sigText := msg[:split+1], msg[split+2:]
	if len(sigText) == 0 || sigText[len(sigText)-1] != '\n' {
		return nil, nil, fmt.Errorf("%w: signature block must end with a newline", ErrNote)
	}
	var sigs []NoteSig
	for _, line := range strings.Split(string(sigText[:len(sigText)-1]), "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			return nil, nil, fmt.Errorf("%w: signature line %q does not start with an em dash and a space", ErrNote, line)
		}
		name, b64, ok := strings.Cut(rest, " ")
		if !ok || name == "" || strings.ContainsAny(name, "+ ") || strings.ContainsAny(b64, " ") {
			return nil, nil, fmt.Errorf("%w: signature line %q: want \"— name signature\"", ErrNote, line)
		}
		raw, err := decodeStd(b64)
		if err != nil || len(raw) < 5 {
			return nil, nil, fmt.Errorf("%w: signature of %s: bad base64", ErrNote, name)
		}
		sigs = append(sigs, NoteSig{Name: name, KeyHash: binary.BigEndian.Uint32(raw), Sig: raw[4:]})
		if len(sigs) > maxNoteSigs {
			return nil, nil, fmt.Errorf("%w: more than %d signatures", ErrNote, maxNoteSigs)
		}
	}
	if !bytes.Equal(encodeNote(text, sigs), msg) {
		return nil, nil, fmt.Errorf("%w: not in canonical form", ErrNote)
	}
	return text, sigs, nil
}

func encodeNote(text []byte, sigs []NoteSig) []byte {
	var b bytes.Buffer
	b.Write(text)
	b.WriteByte('\n')
	for _, s := range sigs {
		var id [4]byte
		binary.BigEndian.PutUint32(id[:], s.KeyHash)
		fmt.Fprintf(&b, "— %s %s\n", s.Name, base64.StdEncoding.EncodeToString(append(id[:], s.Sig...)))
	}
	return b.Bytes()
}

// MergeNotes combines signed notes over the same text into one note carrying
// every distinct signature: the cosigned checkpoint C2SP tools read.
func MergeNotes(notes ...[]byte) ([]byte, error) {
	var text []byte
	var all []NoteSig
	seen := map[string]bool{}
	for _, n := range notes {
		t, sigs, err := ParseNote(n)
		if err != nil {
			return nil, err
		}
		if text == nil {
			text = t
		} else if !bytes.Equal(text, t) {
			return nil, fmt.Errorf("%w: notes over different texts cannot be merged", ErrNote)
		}
		for _, s := range sigs {
			k := fmt.Sprintf("%s+%08x", s.Name, s.KeyHash)
			if !seen[k] {
				seen[k] = true
				all = append(all, s)
			}
		}
	}
	if text == nil {
		return nil, fmt.Errorf("%w: no notes", ErrNote)
	}
	return encodeNote(text, all), nil
}

package transcripts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// In-toto and DSSE constants.
const (
	PayloadType   = "application/vnd.in-toto+json"
	PredicateType = "https://github.com/keyrite/keyrite/transcripts/checkpoint/v1"
)

// ErrAttestation is wrapped by errors about a DSSE attestation file.
var ErrAttestation = errors.New("transcripts: invalid attestation")

// statementFor builds the in-toto Statement v1 a signer signs for the first
// size lines of a transcript: subjects are the transcript prefix
// ("transcript.jsonl", SHA-256 of its first size lines with their newlines)
// and every output artifact recorded in those lines ("artifacts/NAME"); the
// predicate carries the checkpoint and the signer.
func statementFor(ch *chain, ref CheckpointRef, signerName, role, vkey string) (*intoto.Statement, error) {
	subjects := []*intoto.ResourceDescriptor{{
		Name:   TranscriptFile,
		Digest: map[string]string{"sha256": ch.prefixSHA256(ref.Size)},
	}}
	seen := map[string]bool{}
	for _, e := range ch.entries {
		if e.Line > ref.Size {
			break
		}
		for _, o := range e.Outputs {
			if seen[o.Name] {
				continue
			}
			seen[o.Name] = true
			subjects = append(subjects, &intoto.ResourceDescriptor{
				Name:   ArtifactsDir + "/" + o.Name,
				Digest: map[string]string{"sha256": o.SHA256},
			})
		}
	}
	text, err := CheckpointText(ref)
	if err != nil {
		return nil, err
	}
	pred, err := structpb.NewStruct(map[string]any{
		"origin":     ref.Origin,
		"size":       fmt.Sprint(ref.Size), // a string: JSON numbers here would be floats
		"root_hash":  ref.RootHash,
		"checkpoint": string(text),
		"signer":     map[string]any{"name": signerName, "role": role, "key": vkey},
	})
	if err != nil {
		return nil, fmt.Errorf("transcripts: building the statement: %w", err)
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       subjects,
		PredicateType: PredicateType,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("transcripts: building the statement: %w", err)
	}
	return st, nil
}

// marshalStatement is protojson with its deliberately unstable whitespace
// removed, so that the same state always gives the same payload bytes.
func marshalStatement(st *intoto.Statement) ([]byte, error) {
	b, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("transcripts: encoding the statement: %w", err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, fmt.Errorf("transcripts: encoding the statement: %w", err)
	}
	return out.Bytes(), nil
}

// signEnvelope signs the statement as a DSSE envelope with one signature
// whose keyid is go-securesystemslib's SHA256KeyID of the signer's key (an
// unauthenticated hint, as DSSE defines keyid; the signed predicate names
// the full verifier key).
func signEnvelope(s *Signer, st *intoto.Statement) ([]byte, error) {
	payload, err := marshalStatement(st)
	if err != nil {
		return nil, err
	}
	es, err := dsse.NewEnvelopeSigner(dsseSigner{s})
	if err != nil {
		return nil, fmt.Errorf("transcripts: %w", err)
	}
	env, err := es.SignPayload(context.Background(), PayloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("transcripts: signing the attestation: %w", err)
	}
	return encodeEnvelope(env)
}

func encodeEnvelope(env *dsse.Envelope) ([]byte, error) {
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("transcripts: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseEnvelope parses an attestation file strictly: the canonical JSON of
// a DSSE envelope (payloadType, payload, signatures, in that order, standard
// base64, one line ending in a newline) with exactly one signature.
func ParseEnvelope(data []byte) (*dsse.Envelope, []byte, error) {
	if len(data) > 4<<20 {
		return nil, nil, fmt.Errorf("%w: larger than 4 MiB", ErrAttestation)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var env dsse.Envelope
	if err := dec.Decode(&env); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrAttestation, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("%w: data after the JSON object", ErrAttestation)
	}
	if re, err := encodeEnvelope(&env); err != nil || !bytes.Equal(re, data) {
		return nil, nil, fmt.Errorf("%w: not in canonical form", ErrAttestation)
	}
	if env.PayloadType != PayloadType {
		return nil, nil, fmt.Errorf("%w: payloadType %q, want %q", ErrAttestation, env.PayloadType, PayloadType)
	}
	if len(env.Signatures) != 1 {
		return nil, nil, fmt.Errorf("%w: %d signatures, want exactly 1", ErrAttestation, len(env.Signatures))
	}
	payload, err := decodeStd(env.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: payload is not standard base64", ErrAttestation)
	}
	if _, err := decodeStd(env.Signatures[0].Sig); err != nil {
		return nil, nil, fmt.Errorf("%w: signature is not standard base64", ErrAttestation)
	}
	return &env, payload, nil
}

// verifyEnvelope checks env's signature with v (through the DSSE library's
// verifier, PAE and all) and returns the statement.
func verifyEnvelope(env *dsse.Envelope, payload []byte, v *Verifier) (*intoto.Statement, error) {
	ev, err := dsse.NewEnvelopeVerifier(dsseVerifier{v})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAttestation, err)
	}
	if _, err := ev.Verify(context.Background(), env); err != nil {
		return nil, fmt.Errorf("%w: DSSE signature by %s does not verify", ErrAttestation, v.Name())
	}
	var st intoto.Statement
	if err := protojson.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("%w: payload is not an in-toto statement: %v", ErrAttestation, err)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%w: statement: %v", ErrAttestation, err)
	}
	return &st, nil
}

// claimedSigner reads predicate.signer from a statement.
func claimedSigner(st *intoto.Statement) (name, role, key string) {
	s := st.GetPredicate().GetFields()["signer"].GetStructValue().GetFields()
	return s["name"].GetStringValue(), s["role"].GetStringValue(), s["key"].GetStringValue()
}

func statementsEqual(a, b *intoto.Statement) bool { return proto.Equal(a, b) }

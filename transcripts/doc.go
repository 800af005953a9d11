// Package transcripts records key ceremonies so that the people in the room
// can confirm what happened aloud, auditors can replay it years later with
// nothing but the directory and pinned keys, and the online uploader acts
// only on what was recorded and signed (docs/specs/transcripts.md).
//
// # Ceremony directory
//
//	DIR/transcript.jsonl              one event per line, hash-chained
//	DIR/artifacts/NAME                public inputs and outputs, bound by SHA-256
//	DIR/signatures/SIZE-KEYID.note    C2SP signed note over a tlog-checkpoint
//	DIR/signatures/SIZE-KEYID.dsse.json  DSSE envelope, in-toto Statement v1, same state
//
// Nothing else may be in the directory: Verify reports any other file.
//
// # Events
//
// Each line is the canonical JSON of an [Entry]: encoding/json of the struct
// (fixed field order, no insignificant white space, HTML-escaped, empty
// optional fields omitted), integers only, UTF-8, at most [MaxLineSize]
// bytes. A line that does not re-encode to the same bytes is rejected, so
// one event has exactly one encoding. Fields:
//
//   - v: format version (1); seq: 1, 2, 3...; prev: hex SHA-256 of the
//     previous line's bytes (64 zeros for the first line).
//   - operator_time: the workstation clock in UTC with milliseconds, as the
//     operator set it. It is recorded, not authenticated: the order of
//     events is proved by the chain, not by the clock.
//   - step (machine name), actor {name, role}, action (one sentence),
//     result ("ok", "aborted" or what failed), deviations.
//   - inputs/outputs: {name, kind, sha256, size, words}, words being the PGP
//     word list of the first 8 digest bytes (internal/base/words), to be read aloud.
//   - params: non-secret name/value pairs.
//   - tool {name, version, revision, go}: the build (internal/base/buildinfo).
//   - hsm {module_path, module_sha256, token_label, manufacturer, model,
//     serial, firmware} and mechanism, when a token was used.
//   - acted_on {origin, size, root_hash}: the checkpoint a later step (the
//     uploader's) acted on; torn: lines an aborted record acknowledges.
//
// The first line is always a "transcript.open" event carrying the format
// and a random 128-bit ceremony_id; the checkpoint origin is
// "keyrite.ceremony/" + ceremony_id, so that a signature over one ceremony
// can never be presented for another. "transcript.*" steps are reserved.
//
// # No secrets, by construction
//
// Events carry artifacts only of the public kinds declared here (KEK,
// .byok, certificates, security domain, restore blob, public keys,
// reports, ...). [CheckArtifact] refuses data that looks like private or
// secret key material (PEM private keys, DER PKCS#8/PKCS#1/SEC 1 anywhere,
// raw or base64, JWKs with private members, age identities, RFC 7512
// pin-value, bare AES-key-sized binaries). Parameter names are refused when
// they name a secret (pin, so_pin, password, passphrase, secret, private,
// seed, mnemonic, credential, share values, ... in any case or separator);
// every text field is scanned for the same markers and for control
// characters. Verify applies the same rules to what it reads. These checks
// back up the callers' discipline; callers never pass secrets.
//
// # Appending, durably, and crashes
//
// [Open] locks the directory (flock; a second process gets [ErrBusy]),
// creates it on first use with the opening record written atomically, and
// checks the whole chain before anything is appended. [Ceremony.Record]
// writes the step's artifacts first (internal/base/fsx: temp file, fsync, link,
// directory fsync; an existing name must have identical content, else
// [ErrArtifactConflict]), then appends the line with one write, fsyncs the
// file and the directory, and only then returns.
//
// A crash can leave a torn last line, artifacts no line binds, or temporary
// files. [Verify] reports them (marked Interrupted) and still verifies
// every complete event before them. The next [Open] closes the interruption
// explicitly: it terminates the torn line, removes temporary files, renames
// unbound artifacts to NAME.orphan-SEQ (kind "orphan", so that the retried
// step can reuse the name), and appends one "transcript.aborted" record that
// binds the torn lines by line number, size and SHA-256 and the orphans by
// digest. Nothing is ever truncated or silently dropped; an unparsable line
// is accepted only when the aborted record right after it names it.
//
// A sign killed part-way can leave a temporary signature file
// (signatures/.SIZE-KEYID.note.tmp-N, or .dsse.json), or a note without its
// DSSE file. [Verify] reports these as [ErrInterruptedSign], not tampering.
// The next [Sign] removes the temporary files (keyrite's own naming only)
// and reports them without recording anything, since a signature is not
// part of the transcript and an aborted record would change the state that
// co-signers sign; the same key signing the same state again completes the
// note's pair. Any other [Open] removes them too, in its aborted record.
//
// # Checkpoints and signatures
//
// Every line (torn ones included) is a leaf of an RFC 6962 Merkle tree
// (golang.org/x/mod/sumdb/tlog hashing). A checkpoint is the C2SP
// tlog-checkpoint body
//
//	keyrite.ceremony/<ceremony_id>
//	<number of lines>
//	<base64 root hash>
//
// and `keyrite transcript sign` ([Sign]) adds one signature per signer over
// the current state, as a C2SP signed note in its own file: operator,
// witnesses and custodians cosign the same text, so the files merge into one
// cosigned note ([MergeNotes]) and the root's words, read aloud, bind
// everyone to the same state. Files are never rewritten (each signer adds
// files; no read-modify-write of a shared file, no lost signature when two
// people sign at once).
//
// Key types. Ed25519 signatures use C2SP signature type 0x01, exactly what
// golang.org/x/mod/sumdb/note verifies, so any note tooling checks them.
// Smartcards and HSMs mostly sign with ECDSA P-256, which the note package
// cannot verify; rather than invent a format or move everything to DSSE,
// those use the C2SP-assigned type 0x02 (ECDSA as implemented by
// transparency-dev/witness: key ID = first 4 bytes of SHA-256 of the SPKI
// DER, signature = ASN.1 DER ECDSA over SHA-256 of the note text). Both
// kinds go through note.Open with this package's [Verifier], which
// implements note.Verifier. A verifier key is written
// "name+keyid+base64(type||key)" (for Ed25519 the standard vkey form);
// `keyrite transcript sign --key SRC --print-key` prints it.
//
// # Attestation (DSSE + in-toto)
//
// With each note, Sign writes a DSSE envelope (payloadType
// application/vnd.in-toto+json, one signature, keyid = hex SHA-256 of the
// signer's PKIX public key, as go-securesystemslib's SHA256KeyID computes
// and its verifiers match) around an in-toto Statement v1 marshalled with protojson
// (white space removed, so the same state gives the same bytes):
//
//   - subject "transcript.jsonl" with the SHA-256 of the transcript's first
//     SIZE lines (the file itself, until later steps append to it), and
//     "artifacts/NAME" for every output recorded in those lines;
//   - predicateType https://github.com/keyrite/keyrite/transcripts/checkpoint/v1,
//     predicate {origin, size (a string), root_hash, checkpoint (the note
//     text), signer {name, role, key}}.
//
// To check one with standard tooling: decode the envelope, verify the
// signature over PAE(payloadType, payload) (DSSE v1) with the signer's key
// (Ed25519 over the PAE bytes; ECDSA P-256 ASN.1 over SHA-256 of them),
// then check each subject's sha256 against the files (for transcript.jsonl,
// against its first SIZE lines). keyrite verify additionally rebuilds the
// statement from the transcript and requires it to be equal.
//
// # Trust files and the policy
//
// A [Trust] lists keys (name, role, verifier key) and a policy such as
// {"operator":1,"witness":1}; see [Trust] for the format and rules. The
// policy is met by a checkpoint signed (note and DSSE both valid) by at
// least that many distinct trusted keys of each role, the DSSE's claimed
// role agreeing with the trust file. Everything after the latest such
// checkpoint must be the uploader's own records naming the checkpoint they
// acted on (acted_on) or its aborted records; any other later event fails
// verification until the new state is signed. Signatures by keys not in
// the trust file are verified against the key they carry and reported, but
// never count. A key is trusted under its name: a signature by a listed
// public key under another name (the name is in the signature line and, for
// Ed25519, in the key ID) does not count either; when the policy is then not
// met, Verify reports it as a [SignerNameError] rather than as a broken
// signature, and [Trust.KeyFor] gives a signer the trust file's name.
//
// # Verifying, replaying, and the uploader
//
// [Verify] (`keyrite transcript verify`) checks everything above and returns
// a [Report] listing each problem with file, line, event seq and field. The
// uploader calls Verify with the trust file, acts only on
// [Report.SignedEvents] and reads artifacts through [Report.ReadArtifact]
// (digest re-checked), then records its own steps with [OpenWith]
// (Options.Role "uploader") and Event.ActedOn set to
// Report.Policy.Checkpoint. Package transcripts/replay renders the script
// and re-checks artifacts (`keyrite transcript show`).
//
// Verification time is linear: about one second of CPU for 100,000 events
// (BenchmarkVerify100k), parsing spread over all CPUs.
package transcripts

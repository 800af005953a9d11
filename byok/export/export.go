// Package export is the BYOK export ceremony step: it turns target keys
// (on a PKCS#11 HSM or in soft-form key files) into .byok files wrapped
// under a Key Exchange Key, and records the step in a ceremony transcript.
// `keyrite byok export` and the guided ceremony both call [Run]; neither
// has an export path of its own.
//
// # What Run does
//
// Validate everything, then act: [Run] checks the request, refuses
// outputs that exist, reads and parses every soft-form key file, checks
// every key's vault name, key_ops and destination (AES goes to Managed HSM
// only), and only then opens one PKCS#11 session, with one login, for all
// the HSM keys (they must share one module and token). In that session it
// finds every object and checks every target before the first wrap; then
// it exports each key with [HSMExporter] (whose pre-flight check runs
// once per key type). Soft-form keys are wrapped in software with
// [byok.Wrap], and their plaintext wiped (best effort) after.
//
// Each .byok file is written by a writer goroutine while the HSM works on
// the next key, and read back: the bytes compared, the file parsed, its
// kid, ciphertext and generator compared with what was meant, and its
// ciphertext length checked against the KEK size and the target type
// ([byok.CheckCiphertextLen]). Files go into a staging directory beside
// the output (".OUT.tmp-N", locked while the run lives) and are published
// only when every key is done: a batch directory whole (fsx.CommitDir), a
// single Request.Out moved into place the same way. A failed or killed run
// publishes nothing.
//
// # The ceremony
//
// With Request.CeremonyDir set, one "byok.export" event per key is
// recorded (specs/transcripts.md): the KEK as input; the .byok and, for RSA
// and EC keys, the target's public key (so the uploader can check that the
// service imported this key) as outputs; the mechanism, pre-flight result,
// deviations and the HSM's module and token.
//
// The ceremony is opened once per run, and locked, before any HSM session
// or wrap: a second run into the same ceremony is refused at once
// ([transcripts.ErrBusy]), having done nothing. Every event's names and
// parameters are checked as the transcript will check them before any key
// is wrapped (an output name with a space, a non-ASCII letter or a leading
// dot is refused then, not after the export), and so is that the ceremony
// can be written. Each key is recorded as soon as its file is read back,
// and the output is published after the last event: whenever a run is
// killed, every published .byok is recorded, and the ceremony verifies
// (what a kill leaves inside it, a torn last line or an artifact no event
// binds, is what the next Open closes with an aborted record).
//
// Running the same export again resumes it: a key whose .byok name the
// ceremony records for the same source, KEK, name and key_ops (and, for a
// key file, the same public key or KCV) is not wrapped again; its recorded
// .byok goes into the output. The others are exported and recorded. If the
// output exists and holds exactly the recorded files of every key, there
// is nothing to do. An output name the ceremony records for anything else
// is refused before any work. Staging directories that killed runs left
// for the same output are removed first (a live run's lock keeps its own),
// reported through Request.Notify and recorded as a "byok.export.cleanup"
// event saying how many of their files the ceremony records.
//
// # Key check values
//
// For an AES key there is no public key; the export computes its key check
// value (KCV) instead: the first 3 bytes of AES-ECB(K, 16 zero bytes), as
// every HSM vendor's tools show it. A key file's KCV is computed in
// software before the key is wrapped; a token key's by the HSM
// (C_Encrypt with CKM_AES_ECB of one zero block), only when its
// CKA_ENCRYPT is true: the export never changes a key's attributes, and
// otherwise records "not available: the key does not allow CKA_ENCRYPT".
// A KCV that cannot be had never stops the export. It is recorded as the
// byok.export param "kcv" (6 lowercase hex digits; never more than 3
// bytes, which is why it is public by convention), or "kcv_note" saying
// why there is none; the uploader has the service encrypt the same block
// after the import and compares.
//
// # Errors
//
// Errors are [*Error] values worded for people, naming the key source and
// the request field as the `keyrite byok export` flag that sets it, with
// hints; errors.Is finds the hsm and byok sentinels beneath them.
//
// The facts this relies on are in specs/byok.md.
package export

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/transcripts"
)

// A Request is one export run: one or more keys, all wrapped under one KEK.
type Request struct {
	// KEK is the Key Exchange Key; its Kid must be set.
	KEK *byok.KEK
	// Keys are the key sources: a PKCS#11 URI (RFC 7512) with module-path
	// naming one object, or the path of a soft-form key file (PEM private
	// key, or raw AES key bytes; see [byok.ParseTargetFile]). Every URI must
	// name the same module and token. A URI must not carry pin-value; its
	// pin-source is read when PINEarly is false.
	Keys []string
	// Out is the .byok file for a single key, or OutDir the directory (which
	// must not exist) for a batch, with one NAME.byok per key. Exactly one
	// is set; with several keys, OutDir.
	Out, OutDir string
	// Name is the key's name in the vault (one key only). Empty: the
	// object's label, or the key file's base name without extension.
	Name string
	// Ops are the imported key's key_ops. Nil: all its type supports
	// ([DefaultOps]).
	Ops []string
	// Options tune the HSM wrap.
	Options Options
	// PIN returns the token's PIN; it is called at most once per run, and
	// only when there are PKCS#11 keys. Unless PINEarly, it is called once
	// the token is found, with a prompt naming it (`PIN for token "LABEL": `).
	// Run wipes the returned slice (best effort). An error it returns is
	// returned as it is.
	PIN func(prompt string) ([]byte, error)
	// PINEarly asks for the PIN before the module is loaded, with an empty
	// prompt: for a PIN from a file or the environment, so that a missing
	// one is found before anything touches the HSM.
	PINEarly bool
	// Login says how the login treats the token's PIN counter (see
	// [hsm.LoginOptions]): the token's flags are read before the PIN is
	// asked for at the terminal (and before any PIN is tried), a locked
	// PIN is refused, the final try needs Login.FinalTry (`--final-pin-try`)
	// or a yes from Login.ConfirmFinalTry, and warnings (a wrong PIN
	// entered earlier) go to Login.Warn.
	Login hsm.LoginOptions
	// CeremonyDir, when set, is the ceremony directory the step is recorded
	// in (created on first use).
	CeremonyDir string
	// Actor is recorded with each step (zero: the transcript's default,
	// the operator).
	Actor transcripts.Actor
	// Progress, when set, is called after each key is wrapped, with the
	// number wrapped (or resumed from the ceremony) so far and the total.
	Progress func(done, total int)
	// Notify, when set, is called with what the run found and did before
	// it began: an interrupted step the ceremony closed, an interrupted
	// run's staging directory removed, an output already complete.
	Notify func(note string)
	// Rand is the randomness for software wraps (nil: crypto/rand.Reader).
	// An HSM wrap uses the HSM's.
	Rand io.Reader
}

// Options tune the HSM path; they mean what [HSMOptions] says.
type Options struct {
	// TwoStep uses the two-step wrap even if the HSM offers
	// CKM_RSA_AES_KEY_WRAP.
	TwoStep bool
	// KWPMechanism is the padded AES key wrap mechanism of the two-step path
	// (0: byok's default).
	KWPMechanism uint
	// Rehearsal proceeds when the pre-flight check fails, recording a
	// deviation (rehearsals only).
	Rehearsal bool
}

// A Result is what a run produced: one KeyResult per key, in request order.
type Result struct {
	Kid  string
	Keys []KeyResult
	// HSM is the module and token used, or nil when no key was on an HSM
	// (or every HSM key was resumed from the ceremony).
	HSM *HSMInfo
	// AlreadyDone reports that the output already held exactly the
	// recorded .byok of every key: nothing was done.
	AlreadyDone bool
	// Notes are what Request.Notify was called with.
	Notes []string
}

// A KeyResult describes one exported key and its .byok file. Its JSON form
// is what `keyrite byok export --json` prints.
type KeyResult struct {
	Out           string      `json:"out"`
	Source        string      `json:"source"` // "pkcs11" or "file"
	Key           string      `json:"key"`    // the key source as given (a URI or file path; no secrets)
	Kid           string      `json:"kid"`
	Name          string      `json:"name"`
	Ops           []string    `json:"ops"`
	Kty           string      `json:"kty"`
	Crv           string      `json:"crv,omitempty"`
	Target        string      `json:"target"` // e.g. "RSA-2048"
	Mechanism     string      `json:"mechanism"`
	Generator     string      `json:"generator"`
	SHA256        string      `json:"sha256"` // of the .byok file
	Words         string      `json:"words"`  // the same as PGP words
	CiphertextLen int         `json:"ciphertext_len"`
	Preflight     *Preflight  `json:"preflight"`
	Deviations    []string    `json:"deviations"` // never nil
	HSM           *HSMInfo    `json:"hsm"`
	Attributes    *Attributes `json:"attributes,omitempty"`
	// KCV is an AES key's check value: the first 3 bytes of AES-ECB(K, 16
	// zero bytes) as 6 lowercase hex digits, computed in software for a
	// key file and by the HSM (CKM_AES_ECB) for a token key. Empty when
	// it could not be had; KCVNote then says why ("not available: the key
	// does not allow CKA_ENCRYPT"). Both are empty for RSA and EC keys.
	KCV     string `json:"kcv,omitempty"`
	KCVNote string `json:"kcv_note,omitempty"`
	// Seq is the seq of the byok.export event recording the key, with a
	// ceremony. Resumed says that an earlier, interrupted run of the same
	// export recorded it: it was not wrapped again, and Blob is the
	// recorded .byok (Preflight and Attributes are then nil).
	Seq     int64 `json:"seq,omitempty"`
	Resumed bool  `json:"resumed,omitempty"`

	// Blob is the .byok file as written.
	Blob []byte `json:"-"`
	// PublicKey is the SPKI DER of the target's public key (nil for AES,
	// or when it could not be had: PublicKeyNote says why).
	PublicKey     []byte `json:"-"`
	PublicKeyNote string `json:"-"`
}

// HSMInfo names the PKCS#11 module and token a run used.
type HSMInfo struct {
	ModulePath   string          `json:"module_path"`
	ModuleSHA256 string          `json:"module_sha256"`
	Token        hsm.TokenInfo   `json:"token"`
	Library      hsm.LibraryInfo `json:"library"`
}

// Attributes are the exported PKCS#11 object's attributes.
type Attributes struct {
	Label            string `json:"label"`
	ID               string `json:"id"`
	Extractable      bool   `json:"extractable"`
	Sensitive        bool   `json:"sensitive"`
	NeverExtractable bool   `json:"never_extractable"`
	WrapWithTrusted  bool   `json:"wrap_with_trusted"`
}

// Run exports the request's keys: it validates everything, opens the
// ceremony, wraps every key not already recorded, writes, reads back and
// records every .byok file, and publishes them. On error nothing is
// published; with a ceremony, the keys recorded before the error stay
// recorded, and running the same request again resumes from them.
func Run(req Request) (*Result, error) {
	r := &run{req: req}
	defer r.wipe()
	if err := r.plan(); err != nil {
		return nil, err
	}
	defer r.end()
	if err := r.begin(); err != nil {
		return nil, err
	}
	if !r.complete {
		if err := r.exportAll(); err != nil {
			return nil, r.resumable(err)
		}
	}
	res := r.result()
	res.Notes = r.notes
	return res, nil
}

// resumable adds to an error after keys were recorded that a re-run
// resumes.
func (r *run) resumable(err error) error {
	n := r.recorded.Load()
	if n == 0 {
		return err
	}
	hint := fmt.Sprintf("%d key(s) were recorded in ceremony %s before this failed; nothing was published: once the cause is fixed, run the same command again to export the rest", n, r.req.CeremonyDir)
	var e *Error
	if errors.As(err, &e) {
		if !slices.Contains(e.Hint, hint) {
			e.Hint = append(e.Hint, hint)
		}
		return e
	}
	return &Error{Msg: err.Error(), Hint: []string{hint}, Err: err}
}

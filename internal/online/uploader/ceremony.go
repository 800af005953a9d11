package uploader

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// Steps the uploader records in a ceremony's transcript (their encoding is
// transcripts/steps').
const (
	StepImport   = steps.StepUploaderImport
	StepSDUpload = steps.StepUploaderSDUpload
	// StepSDStatus records a later look at an upload's status
	// (keyrite-uploader sd upload --resume).
	StepSDStatus = steps.StepUploaderSDStatus
	roleUploader = transcripts.RoleUploader
)

// ErrCeremony is returned (wrapped) when a ceremony directory cannot be
// acted on: it does not verify, is not signed, or records nothing to do.
var ErrCeremony = errors.New("uploader: ceremony")

// ErrNoTrust is returned when a ceremony would be acted on without a trust
// file: its signatures then say only that someone signed it, not who (anyone
// can make keys named "operator" and "witness"). Give a trust file, or set
// Config.TrustOnFirstUse to act on whoever signed it, which is recorded.
var ErrNoTrust = errors.New("uploader: no trust file: the ceremony's signer identities cannot be checked")

// StepTrustOnFirstUse records the decision to act on a ceremony without a
// trust file, naming the keys that signed the checkpoint acted on.
const StepTrustOnFirstUse = steps.StepUploaderTrustOnFirstUse

// checkTrust refuses to act on v without a trust file unless the client
// trusts on first use; then it records that decision and the signers it
// trusted in the ceremony (once per checkpoint acted on).
func (c *Client) checkTrust(v *Verified, trust *transcripts.Trust, cer *transcripts.Ceremony) error {
	if trust != nil {
		return nil
	}
	if !c.cfg.TrustOnFirstUse {
		return ErrNoTrust
	}
	for _, e := range v.later() {
		if e.Step == StepTrustOnFirstUse && e.ActedOn != nil && *e.ActedOn == v.Checkpoint {
			return nil
		}
	}
	x := steps.UploaderTrustOnFirstUse{Common: steps.Common{Actor: transcripts.Actor{Role: roleUploader}, ActedOn: &v.Checkpoint, Result: "ok"}}
	for _, cp := range v.Report.Checkpoints {
		if cp.CheckpointRef != v.Checkpoint {
			continue
		}
		for i, s := range cp.Signatures {
			if s.Valid {
				x.Signers = append(x.Signers, steps.Signer{N: i + 1, Name: s.Name, Role: s.Role, Key: s.VerifierKey})
			}
		}
	}
	return cer.Record(x.Event())
}

// Verified is a ceremony transcript that verified, and the signed state the
// uploader acts on.
type Verified struct {
	Report     *transcripts.Report
	Checkpoint transcripts.CheckpointRef
	Events     []transcripts.Entry // the signed events
}

// VerifyCeremony verifies dir with the transcripts package (with trust, the
// trust policy must be met) and returns the signed state. A transcript that
// fails verification, or that no checkpoint signs, is refused: the uploader
// acts only on what was recorded and signed offline.
func VerifyCeremony(dir string, trust *transcripts.Trust) (*Verified, error) {
	rep, err := transcripts.Verify(dir, trust)
	if err != nil {
		var ve *transcripts.VerifyError
		if errors.As(err, &ve) && len(ve.Problems) > 0 {
			return nil, fmt.Errorf("%w: %s does not verify (%d problem(s)); first: %s", ErrCeremony, dir, len(ve.Problems), ve.Problems[0])
		}
		return nil, fmt.Errorf("%w: %s does not verify: %w", ErrCeremony, dir, err)
	}
	if rep.Signed == 0 {
		return nil, fmt.Errorf("%w: %s has no signed checkpoint; the uploader acts only on a signed transcript", ErrCeremony, dir)
	}
	v := &Verified{Report: rep, Events: rep.SignedEvents()}
	found := false
	if trust != nil && rep.Policy != nil && rep.Policy.Checkpoint != nil {
		v.Checkpoint, found = *rep.Policy.Checkpoint, true
	} else {
		for _, cp := range rep.Checkpoints {
			if cp.Size != rep.Signed {
				continue
			}
			for _, s := range cp.Signatures {
				if s.Valid {
					v.Checkpoint, found = cp.CheckpointRef, true
				}
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: %s: no valid checkpoint covers the signed state (%d lines)", ErrCeremony, dir, rep.Signed)
	}
	return v, nil
}

// later returns the events after the signed state (the uploader's own
// records).
func (v *Verified) later() []transcripts.Entry {
	var out []transcripts.Entry
	for _, e := range v.Report.Events {
		if e.Line > v.Report.Signed {
			out = append(out, e)
		}
	}
	return out
}

// ExportPlan is one recorded byok.export, ready to import.
type ExportPlan struct {
	Seq  int64  // the byok.export event's seq
	File string // its .byok artifact
	Spec ImportSpec
	Kid  string // the KEK it was wrapped under
	// Done is the kid of an earlier successful import of this export by the
	// uploader (recorded after the signed state), if any, with what that
	// import recorded about the public key.
	Done       string
	DoneMatch  bool
	DoneCheck  string // the recorded public_key_check, or one inferred from public_key_match
	DoneReason string
	// DoneKCV is what that import recorded about the key check value (an
	// AES key's kcv_match and kcv_reason), or nil.
	DoneKCV       *bool
	DoneKCVReason string
}

// PlanImports reads every successful byok.export event of the signed state
// and returns what to import, in order. It reads, per event: the .byok
// output artifact (exactly one of kind "byok"); the key name (param
// "name"); the key type (param "target", e.g. "RSA-2048", "EC P-256",
// "AES-256", or params "kty" and "crv"); the key operations (param "ops"
// or "key_ops", comma-separated; absent means the service's default); the
// KEK kid (param "kid", which must equal the blob's header.kid); and the
// target's public key if one was recorded (an artifact of kind
// "public-key" holding a PEM or DER SubjectPublicKeyInfo, or param
// "public_key_sha256" / "target_spki_sha256" with the hex SHA-256 of the
// SPKI DER). For an AES key (oct-HSM) it reads the key check value (param
// "kcv", exactly 6 lowercase hex digits; anything else is refused) and the
// key size (param "target"); a "kcv" on another key type is refused. Every
// check is done before anything is sent.
func PlanImports(v *Verified) ([]ExportPlan, error) {
	done := map[int64]*steps.UploaderImport{}
	for _, e := range v.later() {
		if e.Step != StepImport || e.Actor.Role != roleUploader || e.Result != "ok" {
			continue
		}
		if x, err := steps.ParseUploaderImport(&e); err == nil && x.ExportSeq > 0 && x.Kid != "" {
			done[x.ExportSeq] = x
		}
	}
	var plans []ExportPlan
	for _, e := range v.Events {
		if e.Step != steps.StepBYOKExport || e.Result != "ok" {
			continue
		}
		x, err := steps.ParseBYOKExport(&e)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCeremony, err)
		}
		p, err := planOne(v, x)
		if err != nil {
			return nil, fmt.Errorf("%w: byok.export event %d: %w", ErrCeremony, x.Seq, err)
		}
		if d, ok := done[x.Seq]; ok {
			p.Done, p.DoneCheck = d.Kid, d.PublicKey.RecordedCheck()
			if r := d.PublicKey; r != nil {
				p.DoneMatch, p.DoneReason = r.Match == "true", r.Reason
			}
			if k := d.KCV; k != nil {
				p.DoneKCV, p.DoneKCVReason = new(k.Match), k.Reason
			}
		}
		plans = append(plans, *p)
	}
	if len(plans) == 0 {
		return nil, fmt.Errorf("%w: the signed transcript records no successful byok.export", ErrCeremony)
	}
	return plans, nil
}

func planOne(v *Verified, x *steps.BYOKExport) (*ExportPlan, error) {
	p := &ExportPlan{Seq: x.Seq, File: x.BYOK.Name}
	data, err := v.Report.ReadArtifact(p.File)
	if err != nil {
		return nil, err
	}
	blob, err := byok.ParseBlob(data)
	if err != nil {
		return nil, fmt.Errorf("artifact %s: %w", p.File, err)
	}
	p.Spec.BYOK = data
	p.Kid = blob.Kid
	if x.Kid != "" && x.Kid != blob.Kid {
		return nil, fmt.Errorf("param kid %s differs from the .byok header.kid %s", x.Kid, blob.Kid)
	}
	if !validKeyName(x.Name) {
		return nil, fmt.Errorf("param name %q is missing or not 1 to 127 letters, digits and hyphens", x.Name)
	}
	p.Spec.Name = x.Name
	p.Spec.Kty, p.Spec.Crv = x.Kty, x.Crv
	for _, op := range x.Ops {
		op = strings.TrimSpace(op)
		switch op {
		case "encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey":
			p.Spec.KeyOps = append(p.Spec.KeyOps, op)
		default:
			return nil, fmt.Errorf("param ops has %q; expected encrypt, decrypt, sign, verify, wrapKey or unwrapKey", op)
		}
	}
	expected, reason, err := recordedPublic(v, x)
	if err != nil {
		return nil, err
	}
	p.Spec.Expected, p.Spec.NoExpectedReason = expected, reason
	if err := recordedKCV(&p.Spec, x); err != nil {
		return nil, err
	}
	return p, nil
}

// recordedKCV reads an AES key's recorded key check value (param "kcv",
// exactly 6 lowercase hex digits) and size (param "target", AES-128,
// AES-192 or AES-256). A kcv on another key type is refused; an AES
// export without one gets the reason: its "kcv_note", or none recorded.
func recordedKCV(s *ImportSpec, x *steps.BYOKExport) error {
	if s.Kty != "oct-HSM" {
		if x.KCV != "" {
			return fmt.Errorf("param kcv is recorded for kty %s; a key check value belongs to an AES key (oct-HSM)", s.Kty)
		}
		return nil
	}
	switch x.Target {
	case "AES-128":
		s.AESBits = 128
	case "AES-192":
		s.AESBits = 192
	case "AES-256":
		s.AESBits = 256
	}
	if x.KCV == "" {
		s.NoKCVReason = "the byok.export event records no key check value (param kcv)"
		if x.KCVNote != "" {
			s.NoKCVReason = "the export recorded no key check value: " + x.KCVNote
		}
		return nil
	}
	b, err := byok.ParseKCV(x.KCV)
	if err != nil {
		return fmt.Errorf("param kcv: %w", err)
	}
	s.KCV = b
	return nil
}

// spkiHash is a public key recorded only by the SHA-256 of its SPKI DER.
type spkiHash [32]byte

// Equal lets ImportBYOK compare the service's key with a recorded digest.
func (h spkiHash) Equal(k crypto.PublicKey) bool {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return false
	}
	return sha256.Sum256(der) == h
}

func recordedPublic(v *Verified, x *steps.BYOKExport) (crypto.PublicKey, string, error) {
	if a := x.PublicKey; a != nil {
		data, err := v.Report.ReadArtifact(a.Name)
		if err != nil {
			return nil, "", err
		}
		der := data
		if b, _ := pem.Decode(data); b != nil {
			der = b.Bytes
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return nil, "", fmt.Errorf("public-key artifact %s is not a PEM or DER SubjectPublicKeyInfo: %w", a.Name, err)
		}
		return pub, "", nil
	}
	if h := x.PublicKeySHA256; h != "" {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, "", fmt.Errorf("param public_key_sha256 %q is not 64 hex digits", h)
		}
		return spkiHash(b), "", nil
	}
	return nil, "the byok.export event records no public key of the target (no public-key artifact or public_key_sha256 param)", nil
}

// ImportOutcome is what became of one planned import.
type ImportOutcome struct {
	ExportSeq int64  `json:"export_seq"`
	Name      string `json:"name"`
	Kid       string `json:"kid"`
	// PublicKeyMatch is true when the service's public key equals the one
	// recorded offline, false when it differs or could not be compared,
	// and null for an AES key, which has no public part (PublicKeyCheck
	// "not applicable": its check is the KCV).
	PublicKeyMatch *bool  `json:"public_key_match"`
	PublicKeyCheck string `json:"public_key_check"` // CheckMatch, CheckMismatch, CheckNotCompared, CheckNotApplicable
	MatchReason    string `json:"match_reason"`
	// KCVMatch, KCVCheck and KCVReason are set for AES (oct-HSM) keys
	// only: whether the key check value the service computed equals the
	// one recorded offline, and what was compared or why nothing was.
	KCVMatch  *bool  `json:"kcv_match,omitempty"`
	KCVCheck  string `json:"kcv_check,omitempty"`
	KCVReason string `json:"kcv_reason,omitempty"`
	// Verified is true when the key the service holds was shown to be the
	// one exported: by its public key, or for AES by its key check value.
	Verified bool `json:"verified"`
	Skipped  bool `json:"skipped,omitempty"` // imported by an earlier run
	// Mismatch is set when the key was imported but is not the one
	// recorded offline (its public key or key check value differs); the
	// import failed, and ImportCeremony returns the error with this
	// outcome last.
	Mismatch bool `json:"mismatch,omitempty"`
}

// settle fills PublicKeyMatch (null when not applicable), KCVCheck (for
// an AES key) and Verified from the checks.
func (o ImportOutcome) settle(match bool, kcvCheck string) ImportOutcome {
	if o.PublicKeyCheck != CheckNotApplicable {
		o.PublicKeyMatch = new(match)
	}
	if o.KCVMatch != nil {
		o.KCVCheck = kcvCheck
	}
	o.Verified = (o.PublicKeyMatch != nil && *o.PublicKeyMatch) || (o.KCVMatch != nil && *o.KCVMatch)
	return o
}

// kcvCheckOf says what an AES import's key check value comparison found.
func kcvCheckOf(res *ImportResult) string {
	switch {
	case res.KCVMatch:
		return CheckMatch
	case res.KCVMismatch:
		return CheckMismatch
	}
	return CheckNotCompared
}

// publicKeyResult records the public-key check of an import: for an AES
// key public_key_match is "not applicable", never a false alarm.
func publicKeyResult(res *ImportResult) *steps.PublicKeyResult {
	match := strconv.FormatBool(res.PublicKeyMatch)
	if res.PublicKeyCheck == CheckNotApplicable {
		match = CheckNotApplicable
	}
	return &steps.PublicKeyResult{Match: match, Check: res.PublicKeyCheck, Reason: res.MatchReason}
}

// ImportCeremony verifies the ceremony in dir, then imports every recorded
// byok.export into vaultURL exactly as recorded, and appends one
// uploader.byok.import event per import (or per failure) naming the signed
// checkpoint it acted on, with the service's answers as artifacts. Exports
// an earlier run already imported are skipped. It stops at the first
// failure; a public key (RSA, EC) or key check value (AES) that differs
// from the recorded one is a failure (ErrPublicKeyMismatch,
// ErrKCVMismatch), recorded as such. An AES import records kcv (the
// recorded value), kcv_service (the service's), kcv_match and kcv_reason.
func (c *Client) ImportCeremony(ctx context.Context, dir, vaultURL string, trust *transcripts.Trust) ([]ImportOutcome, error) {
	vault, err := c.serviceURL(vaultURL, false)
	if err != nil {
		return nil, err
	}
	v, err := VerifyCeremony(dir, trust)
	if err != nil {
		return nil, err
	}
	plans, err := PlanImports(v)
	if err != nil {
		return nil, err
	}
	// The KEK must be in this vault: a real vault's URL is the kid's host.
	if !c.local {
		host := strings.TrimPrefix(vault, "https://")
		for _, p := range plans {
			u, err := url.Parse(p.Kid)
			if err != nil || !strings.EqualFold(u.Host, host) {
				return nil, fmt.Errorf("%w: byok.export event %d is wrapped under KEK %s, which is not in %s", ErrCeremony, p.Seq, p.Kid, vault)
			}
		}
	}
	cer, err := transcripts.OpenWith(dir, transcripts.Options{Role: roleUploader})
	if err != nil {
		return nil, err
	}
	defer cer.Close()
	if err := c.checkTrust(v, trust, cer); err != nil {
		return nil, err
	}
	kc, err := c.keysClient(vault)
	if err != nil {
		return nil, err
	}
	var out []ImportOutcome
	for _, p := range plans {
		// The vault, not the transcript's unsigned notes, says whether
		// this key is already there.
		held, herr := c.inVault(ctx, kc, vault, p)
		if herr != nil {
			// A hostile or failing answer to the look-up is recorded too.
			x := steps.UploaderImport{Common: steps.Common{Actor: transcripts.Actor{Role: roleUploader}, ActedOn: &v.Checkpoint, Result: failure(herr)},
				Lookup: true, ExportSeq: p.Seq, Vault: vault, Name: p.Spec.Name}
			if rerr := cer.Record(x.Event()); rerr != nil {
				return out, fmt.Errorf("%w (and recording the failure failed: %v)", herr, rerr)
			}
			return out, herr
		}
		if held != nil {
			o := ImportOutcome{ExportSeq: p.Seq, Name: p.Spec.Name, Kid: held.Kid, Skipped: true, MatchReason: held.Reason,
				PublicKeyCheck: CheckNotCompared}
			match := false
			switch {
			case p.Spec.Kty == "oct-HSM":
				o.PublicKeyCheck = CheckNotApplicable
				o.KCVMatch, o.KCVReason = new(held.KCV != nil && *held.KCV), held.KCVNote
			case held.Verified:
				o.PublicKeyCheck, match = CheckMatch, true
			}
			kcvCheck := CheckNotCompared
			if held.KCV != nil && *held.KCV {
				kcvCheck = CheckMatch
			}
			out = append(out, o.settle(match, kcvCheck))
			continue
		}
		res, ierr := c.ImportBYOK(ctx, vault, p.Spec)
		if ierr == nil && res.Mismatch {
			ierr = fmt.Errorf("%w: %s was imported as %s", ErrPublicKeyMismatch, p.Spec.Name, res.Kid)
		}
		if ierr == nil && res.KCVMismatch {
			ierr = fmt.Errorf("%w: %s was imported as %s: %s", ErrKCVMismatch, p.Spec.Name, res.Kid, res.KCVReason)
		}
		x := steps.UploaderImport{
			Common:    steps.Common{Actor: transcripts.Actor{Role: roleUploader}, ActedOn: &v.Checkpoint},
			ExportSeq: p.Seq,
			// The .byok file sent, as recorded by the export (same name and
			// bytes: the transcript binds it once).
			BYOK:  steps.File{Name: p.File, Data: p.Spec.BYOK},
			Vault: vault, Name: p.Spec.Name, Kty: p.Spec.Kty, Crv: p.Spec.Crv, Ops: p.Spec.KeyOps,
		}
		// An AES key's key check value result, once the service was asked.
		if p.Spec.Kty == "oct-HSM" && res != nil && res.KCVReason != "" {
			x.KCV = &steps.KCVResult{Service: res.KCVService, Match: res.KCVMatch, Reason: res.KCVReason}
			if p.Spec.KCV != nil {
				x.KCV.Recorded = hex.EncodeToString(p.Spec.KCV)
			}
		}
		if res != nil {
			if res.Imported != nil {
				x.Imported = &steps.File{Name: steps.ImportResponseName(p.Seq, p.Spec.Name), Data: res.Imported}
			}
			if res.Fetched != nil {
				x.Fetched = &steps.File{Name: steps.GetKeyResponseName(p.Seq, p.Spec.Name), Data: res.Fetched}
			}
			x.Kid = res.Kid
		}
		if ierr != nil {
			if res != nil && res.MatchReason != "" {
				x.PublicKey = publicKeyResult(res)
			}
			x.Result = outcome(ierr)
			if res != nil && (res.Mismatch || res.KCVMismatch) {
				out = append(out, importedOutcome(p, res, true))
			}
			if rerr := cer.Record(x.Event()); rerr != nil {
				return out, fmt.Errorf("%w (and recording the failure failed: %v)", ierr, rerr)
			}
			return out, ierr
		}
		x.PublicKey, x.Result = publicKeyResult(res), "ok"
		if err := cer.Record(x.Event()); err != nil {
			return out, fmt.Errorf("uploader: %s was imported as %s but recording it in the transcript failed: %w", p.Spec.Name, res.Kid, err)
		}
		out = append(out, importedOutcome(p, res, false))
	}
	return out, nil
}

// importedOutcome is the outcome of p imported as res; mismatch marks a
// key that is not the one recorded offline.
func importedOutcome(p ExportPlan, res *ImportResult, mismatch bool) ImportOutcome {
	o := ImportOutcome{ExportSeq: p.Seq, Name: p.Spec.Name, Kid: res.Kid, PublicKeyCheck: res.PublicKeyCheck, MatchReason: res.MatchReason, Mismatch: mismatch}
	if p.Spec.Kty == "oct-HSM" {
		o.KCVMatch, o.KCVReason = new(res.KCVMatch), res.KCVReason
	}
	return o.settle(res.PublicKeyMatch && !mismatch, kcvCheckOf(res))
}

// RestoreBlobFromCeremony returns the restore blob of the last successful
// sd.restore event of the verified ceremony (its output of kind
// "restore-blob"), with the event's seq and the artifact's name.
func RestoreBlobFromCeremony(v *Verified) ([]byte, int64, string, error) {
	for i := len(v.Events) - 1; i >= 0; i-- {
		e := v.Events[i]
		if e.Step != steps.StepSDRestore || e.Result != "ok" {
			continue
		}
		x, err := steps.ParseSDRestore(&e)
		if err != nil {
			return nil, 0, "", fmt.Errorf("%w: %w", ErrCeremony, err)
		}
		if x.Blob.Name == "" {
			return nil, 0, "", fmt.Errorf("%w: sd.restore event %d has no restore-blob output artifact", ErrCeremony, x.Seq)
		}
		data, err := v.Report.ReadArtifact(x.Blob.Name)
		if err != nil {
			return nil, 0, "", err
		}
		return data, x.Seq, x.Blob.Name, nil
	}
	return nil, 0, "", fmt.Errorf("%w: the signed transcript records no successful sd.restore", ErrCeremony)
}

// UploadCeremony verifies the ceremony in dir, uploads the restore blob its
// last sd.restore recorded, and appends an uploader.sd.upload event naming
// the checkpoint it acted on. With resume it sends nothing: it watches the
// upload an earlier run started (the HSM's upload status) and records what
// it saw as an uploader.sd.status event.
//
// The event's result says what is known: "ok" (the service reported
// Success), "failed: ..." (the service refused the blob or reported
// Failed), "in progress: ..." (still InProgress when the polling budget ran
// out: the restore goes on) or "unknown: ..." (the status could not be
// read). Only the second is a failure.
func (c *Client) UploadCeremony(ctx context.Context, dir, hsmURL string, trust *transcripts.Trust, resume bool) (*Status, error) {
	hsm, err := c.serviceURL(hsmURL, true)
	if err != nil {
		return nil, err
	}
	v, err := VerifyCeremony(dir, trust)
	if err != nil {
		return nil, err
	}
	blob, seq, name, err := RestoreBlobFromCeremony(v)
	if err != nil {
		return nil, err
	}
	cer, err := transcripts.OpenWith(dir, transcripts.Options{Role: roleUploader})
	if err != nil {
		return nil, err
	}
	defer cer.Close()
	if err := c.checkTrust(v, trust, cer); err != nil {
		return nil, err
	}
	var st *Status
	var uerr error
	if resume {
		st, uerr = c.SDStatus(ctx, hsm, "upload", true)
		if uerr == nil && st == nil {
			uerr = fmt.Errorf("%w: the HSM reports no security-domain upload", ErrStatusUnknown)
		}
	} else {
		st, uerr = c.UploadSecurityDomain(ctx, hsm, blob)
	}
	x := steps.UploaderSDUpload{
		Common:     steps.Common{Actor: transcripts.Actor{Role: roleUploader}, ActedOn: &v.Checkpoint, Result: "ok"},
		RestoreSeq: seq, BlobFile: name, HSMURL: hsm,
	}
	if st != nil {
		x.Status = &steps.SDStatus{Status: st.Status, Details: st.Details, Polls: st.Polls, WatchedSeconds: int(st.Elapsed.Seconds())}
	}
	event := func() transcripts.Event {
		if resume {
			return (*steps.UploaderSDStatus)(&x).Event()
		}
		return x.Event()
	}
	if uerr != nil {
		x.Result = outcome(uerr)
		if errors.Is(uerr, ErrAlreadyRequested) {
			return st, uerr // nothing was sent: nothing to record
		}
		if rerr := cer.Record(event()); rerr != nil {
			return st, fmt.Errorf("%w (and recording it in the transcript failed: %v)", uerr, rerr)
		}
		return st, uerr
	}
	if err := cer.Record(event()); err != nil {
		return st, fmt.Errorf("uploader: the upload succeeded but recording it in the transcript failed: %w", err)
	}
	return st, nil
}

// outcome is the transcript's result text for an operation's error: only
// what the service refused or reported Failed is "failed"; what goes on is
// "in progress", what could not be learnt "unknown" (an import or create
// sent without an answer included: the vault may hold it, and the next run
// asks the vault).
func outcome(err error) string {
	switch {
	case errors.Is(err, ErrStillInProgress):
		return bounded("in progress: " + err.Error())
	case errors.Is(err, ErrStatusUnknown), errors.Is(err, ErrOutcomeUnknown):
		return bounded("unknown: " + err.Error())
	}
	return failure(err)
}

// failure is the transcript's result text for an error, bounded.
func failure(err error) string { return bounded("failed: " + err.Error()) }

// bounded cuts a result text to 1000 bytes.
func bounded(s string) string {
	if len(s) > 1000 {
		s = strings.ToValidUTF8(s[:1000], "") + "..."
	}
	return s
}

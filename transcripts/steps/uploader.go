package steps

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/transcripts"
)

// What an import's public-key (public_key_check) or key check value
// (kcv_check) comparison found.
const (
	CheckMatch         = "match"
	CheckMismatch      = "mismatch"
	CheckNotCompared   = "not compared"   // nothing recorded offline, or the service did not compute it
	CheckNotApplicable = "not applicable" // an AES key has no public part
)

// UploaderImport is "uploader.byok.import": the online side imported a
// recorded byok.export into a vault, or tried to. Its result is "ok",
// "failed: ..." or, when the import was sent but not answered, "unknown:
// ...". A failed look-up of the key in the vault, before anything was sent,
// records only ExportSeq, Vault and Name (Lookup).
type UploaderImport struct {
	Common
	ExportSeq int64 // export_seq: the byok.export event imported
	// Lookup is set when the step records a failed look-up of the key
	// in the vault: nothing was imported.
	Lookup bool
	BYOK   File     // input, kind byok (and param byok_file): the .byok sent, as the export recorded it
	Vault  string   // vault
	Name   string   // name
	Kty    string   // kty
	Crv    string   // crv
	Ops    []string // ops, when the export recorded any
	Kid    string   // kid: the imported key's id, once the service gave one

	// Imported and Fetched are the service's answers to the import and to
	// the read-back of the key (outputs, kind service-response), named by
	// ImportResponseName and GetKeyResponseName.
	Imported, Fetched *File

	PublicKey *PublicKeyResult
	KCV       *KCVResult
}

// ImportResponseName and GetKeyResponseName name the service's answers
// kept by an import of export event seq.
func ImportResponseName(seq int64, name string) string {
	return fmt.Sprintf("import-%d-%s.json", seq, name)
}

// GetKeyResponseName: see ImportResponseName.
func GetKeyResponseName(seq int64, name string) string {
	return fmt.Sprintf("getkey-%d-%s.json", seq, name)
}

// PublicKeyResult is how an import compared the service's public key with
// the one recorded offline: params public_key_match ("true", "false" or
// "not applicable"), public_key_check (CheckMatch, ...; absent in old
// events) and match_reason.
type PublicKeyResult struct {
	Match  string
	Check  string
	Reason string
}

// RecordedCheck is the public-key check an import recorded: its
// public_key_check, or for an event recorded before that existed, the one
// its public_key_match implies. No result is CheckNotCompared.
func (r *PublicKeyResult) RecordedCheck() string {
	switch {
	case r == nil:
		return CheckNotCompared
	case r.Check != "":
		return r.Check
	case r.Match == "true":
		return CheckMatch
	case r.Match == CheckNotApplicable:
		return CheckNotApplicable
	}
	return CheckNotCompared
}

// KCVResult is how an AES key's import compared key check values: kcv (the
// one recorded offline, if any), kcv_service (the service's, if it gave
// one), kcv_match and kcv_reason.
type KCVResult struct {
	Recorded string
	Service  string
	Match    bool
	Reason   string
}

// Step returns "uploader.byok.import".
func (x *UploaderImport) Step() string { return StepUploaderImport }

func (x *UploaderImport) action() string {
	switch {
	case x.Lookup:
		return fmt.Sprintf("looking for %s (byok.export event %d) in %s failed; nothing was imported", x.Name, x.ExportSeq, x.Vault)
	case x.Result == "ok":
		return fmt.Sprintf("imported %s (byok.export event %d) into %s as %s", x.Name, x.ExportSeq, x.Vault, x.Kid)
	case strings.HasPrefix(x.Result, "unknown: "):
		return fmt.Sprintf("import of %s (byok.export event %d) into %s was sent, but its outcome is unknown", x.Name, x.ExportSeq, x.Vault)
	}
	return fmt.Sprintf("import of %s (byok.export event %d) into %s failed", x.Name, x.ExportSeq, x.Vault)
}

// Event encodes x.
func (x *UploaderImport) Event() transcripts.Event {
	ev := x.uploaderEvent(StepUploaderImport, x.action())
	var p params
	p.addInt("export_seq", x.ExportSeq)
	if x.Lookup {
		p.add("vault", x.Vault)
		p.add("name", x.Name)
		ev.Params = p
		return ev
	}
	ev.Inputs = []transcripts.Artifact{x.BYOK.artifact(transcripts.KindBYOK)}
	p.add("byok_file", x.BYOK.Name)
	p.add("vault", x.Vault)
	p.add("name", x.Name)
	p.add("kty", x.Kty)
	if x.Crv != "" {
		p.add("crv", x.Crv)
	}
	if len(x.Ops) > 0 {
		p.add("ops", strings.Join(x.Ops, ","))
	}
	for _, f := range []*File{x.Imported, x.Fetched} {
		if f != nil {
			ev.Outputs = append(ev.Outputs, f.artifact(transcripts.KindServiceResponse))
		}
	}
	if x.Kid != "" {
		p.add("kid", x.Kid)
	}
	if r := x.PublicKey; r != nil {
		p.add("public_key_match", r.Match)
		p.add("public_key_check", r.Check)
		p.add("match_reason", r.Reason)
	}
	if k := x.KCV; k != nil {
		if k.Recorded != "" {
			p.add("kcv", k.Recorded)
		}
		if k.Service != "" {
			p.add("kcv_service", k.Service)
		}
		p.add("kcv_match", strconv.FormatBool(k.Match))
		p.add("kcv_reason", k.Reason)
	}
	ev.Params = p
	return ev
}

// ParseUploaderImport reads an uploader.byok.import event.
func ParseUploaderImport(e *transcripts.Entry) (*UploaderImport, error) {
	if err := checkStep(e, StepUploaderImport); err != nil {
		return nil, err
	}
	r := recorded{e}
	x := &UploaderImport{
		Common: commonOf(e), ExportSeq: r.num("export_seq"), Vault: r.str("vault"), Name: r.str("name"),
		Kty: r.str("kty"), Crv: r.str("crv"), Ops: split(r.str("ops"), ","), Kid: r.str("kid"),
	}
	if f, ok := firstFile(e.Inputs, transcripts.KindBYOK); ok {
		x.BYOK = f
	} else if n, ok := r.get("byok_file"); ok {
		x.BYOK = File{Name: n}
	} else {
		x.Lookup = true
	}
	for _, f := range filesOf(e.Outputs, transcripts.KindServiceResponse) {
		if strings.HasPrefix(f.Name, "getkey-") {
			x.Fetched = &f
		} else {
			x.Imported = &f
		}
	}
	m, okM := r.get("public_key_match")
	c, okC := r.get("public_key_check")
	reason, okR := r.get("match_reason")
	if okM || okC || okR {
		x.PublicKey = &PublicKeyResult{Match: m, Check: c, Reason: reason}
	}
	if km, ok := r.get("kcv_match"); ok {
		x.KCV = &KCVResult{Recorded: r.str("kcv"), Service: r.str("kcv_service"), Match: km == "true", Reason: r.str("kcv_reason")}
	}
	return x, nil
}

// UploaderSDUpload is "uploader.sd.upload": the online side uploaded a
// recorded restore blob to a Managed HSM. Its result is "ok" (the service
// reported Success), "failed: ...", "in progress: ..." (still running when
// the uploader stopped watching) or "unknown: ...".
type UploaderSDUpload struct {
	Common
	RestoreSeq int64     // restore_seq: the sd.restore event whose blob was sent
	BlobFile   string    // blob_file: its restore-blob artifact
	HSMURL     string    // hsm: the Managed HSM's URL
	Status     *SDStatus // what the service last said, if it was asked
}

// UploaderSDStatus is "uploader.sd.status": a later look at an upload's
// status (keyrite-uploader sd upload --resume), recorded as an upload is.
type UploaderSDStatus UploaderSDUpload

// SDStatus is a security-domain operation's status as the service reported
// it: params status and status_details, and when the uploader polled,
// polls and watched_seconds.
type SDStatus struct {
	Status         string
	Details        string
	Polls          int
	WatchedSeconds int
}

// Step returns "uploader.sd.upload".
func (x *UploaderSDUpload) Step() string { return StepUploaderSDUpload }

// Event encodes x.
func (x *UploaderSDUpload) Event() transcripts.Event {
	action := "upload of " + x.what()
	if x.Result == "ok" {
		action = "uploaded " + x.what()
	}
	return x.sdEvent(StepUploaderSDUpload, action)
}

// Step returns "uploader.sd.status".
func (x *UploaderSDStatus) Step() string { return StepUploaderSDStatus }

// Event encodes x.
func (x *UploaderSDStatus) Event() transcripts.Event {
	u := (*UploaderSDUpload)(x)
	action := "status of the upload of " + u.what()
	if x.Result == "ok" {
		action = "the upload of " + u.what() + " finished"
	}
	return u.sdEvent(StepUploaderSDStatus, action)
}

func (x *UploaderSDUpload) what() string {
	return fmt.Sprintf("the restore blob %s (sd.restore event %d) to %s", x.BlobFile, x.RestoreSeq, x.HSMURL)
}

func (x *UploaderSDUpload) sdEvent(step, action string) transcripts.Event {
	ev := x.uploaderEvent(step, action)
	var p params
	p.addInt("restore_seq", x.RestoreSeq)
	p.add("blob_file", x.BlobFile)
	p.add("hsm", x.HSMURL)
	if s := x.Status; s != nil {
		p.add("status", s.Status)
		p.add("status_details", s.Details)
		if s.Polls > 0 {
			p.addInt("polls", int64(s.Polls))
			p.addInt("watched_seconds", int64(s.WatchedSeconds))
		}
	}
	ev.Params = p
	return ev
}

func parseSDUpload(e *transcripts.Entry) *UploaderSDUpload {
	r := recorded{e}
	x := &UploaderSDUpload{Common: commonOf(e), RestoreSeq: r.num("restore_seq"), BlobFile: r.str("blob_file"), HSMURL: r.str("hsm")}
	if st, ok := r.get("status"); ok {
		x.Status = &SDStatus{Status: st, Details: r.str("status_details"), Polls: int(r.num("polls")), WatchedSeconds: int(r.num("watched_seconds"))}
	}
	return x
}

// ParseUploaderSDUpload reads an uploader.sd.upload event.
func ParseUploaderSDUpload(e *transcripts.Entry) (*UploaderSDUpload, error) {
	if err := checkStep(e, StepUploaderSDUpload); err != nil {
		return nil, err
	}
	return parseSDUpload(e), nil
}

// ParseUploaderSDStatus reads an uploader.sd.status event.
func ParseUploaderSDStatus(e *transcripts.Entry) (*UploaderSDStatus, error) {
	if err := checkStep(e, StepUploaderSDStatus); err != nil {
		return nil, err
	}
	return (*UploaderSDStatus)(parseSDUpload(e)), nil
}

// UploaderTrustOnFirstUse is "uploader.trust-on-first-use": the online
// side acted on a ceremony without a trust file, trusting whoever signed
// the checkpoint it acted on (ActedOn). It is recorded once per checkpoint.
type UploaderTrustOnFirstUse struct {
	Common
	Signers []Signer
}

// Signer is a key that signed the checkpoint, recorded as the param
// signer_N: "NAME (ROLE) KEY", KEY the note verifier key.
type Signer struct {
	N    int // the signature's place (1-based) among the checkpoint's signatures
	Name string
	Role string
	Key  string
}

// Step returns "uploader.trust-on-first-use".
func (x *UploaderTrustOnFirstUse) Step() string { return StepUploaderTrustOnFirstUse }

// Event encodes x.
func (x *UploaderTrustOnFirstUse) Event() transcripts.Event {
	ev := x.uploaderEvent(StepUploaderTrustOnFirstUse, "acted without a trust file, trusting on first use the keys that signed the checkpoint")
	var p params
	for _, s := range x.Signers {
		p.add(fmt.Sprintf("signer_%d", s.N), fmt.Sprintf("%s (%s) %s", s.Name, s.Role, s.Key))
	}
	ev.Params = p
	return ev
}

// ParseUploaderTrustOnFirstUse reads an uploader.trust-on-first-use event.
func ParseUploaderTrustOnFirstUse(e *transcripts.Entry) (*UploaderTrustOnFirstUse, error) {
	if err := checkStep(e, StepUploaderTrustOnFirstUse); err != nil {
		return nil, err
	}
	x := &UploaderTrustOnFirstUse{Common: commonOf(e)}
	for _, p := range (recorded{e}).indexed("signer_") {
		s := Signer{N: p.n}
		rest := p.value
		if i := strings.LastIndex(rest, " "); i >= 0 {
			rest, s.Key = rest[:i], rest[i+1:]
		}
		if i := strings.LastIndex(rest, " ("); i >= 0 && strings.HasSuffix(rest, ")") {
			s.Name, s.Role = rest[:i], rest[i+2:len(rest)-1]
		} else {
			s.Name = rest
		}
		x.Signers = append(x.Signers, s)
	}
	return x, nil
}

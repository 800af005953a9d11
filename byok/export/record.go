package export

import (
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// result describes every job.
func (r *run) result() *Result {
	res := &Result{Kid: r.req.KEK.Kid, HSM: r.hsm, AlreadyDone: r.complete}
	for _, j := range r.jobs {
		res.Keys = append(res.Keys, r.keyResult(j))
	}
	return res
}

// keyResult describes one job: what it made, or, for a key resumed from
// the ceremony, what its event recorded.
func (r *run) keyResult(j *job) KeyResult {
	kek := r.req.KEK
	fp := words.Sum(j.blob)
	k := KeyResult{
		Out: j.out, Key: j.src, Kid: kek.Kid, Name: j.name, Ops: j.ops,
		Kty: j.info.Type.JWKType(), Crv: j.info.Curve, Target: j.info.String(),
		Mechanism: j.mechanism, Generator: j.generator, SHA256: fp.Hex(), Words: fp.Words(),
		CiphertextLen: len(j.ciphertext), Preflight: j.preflight, Deviations: j.deviations,
		Blob: j.blob, PublicKey: j.pub, PublicKeyNote: j.pubNote,
		KCV: j.kcv, KCVNote: j.kcvNote, Seq: j.seq,
	}
	if j.uri != nil {
		k.Source = "pkcs11"
	} else {
		k.Source = "file"
	}
	if x := j.resumed; x != nil {
		// Nothing was wrapped: the key is what the ceremony recorded.
		k.Resumed = true
		k.Name, k.Kty, k.Crv, k.Target, k.KCV, k.KCVNote = x.Name, x.Kty, x.Crv, x.Target, x.KCV, x.KCVNote
		k.Mechanism, k.Deviations = x.Mechanism, append([]string{}, x.Deviations...)
		if x.Ops != nil {
			k.Ops = x.Ops
		}
		if h := x.HSM; h != nil {
			k.HSM = &HSMInfo{ModulePath: h.ModulePath, ModuleSHA256: h.ModuleSHA256, Token: hsm.TokenInfo{
				Label: h.TokenLabel, Manufacturer: h.Manufacturer, Model: h.Model, Serial: h.Serial, Firmware: h.Firmware}}
		}
		return k
	}
	if k.Deviations == nil {
		k.Deviations = []string{}
	}
	if j.uri != nil && j.obj != nil {
		k.HSM = r.hsm
		k.Attributes = &Attributes{Label: j.obj.Label, ID: fmt.Sprintf("%x", j.obj.ID), Extractable: j.obj.Extractable,
			Sensitive: j.obj.Sensitive, NeverExtractable: j.obj.NeverExtractable, WrapWithTrusted: j.obj.WrapWithTrusted}
	}
	return k
}

// event is the "byok.export" event that records k.
func event(req Request, k *KeyResult) transcripts.Event {
	kek := req.KEK
	x := steps.BYOKExport{
		Common: steps.Common{Actor: req.Actor, Mechanism: k.Mechanism, Result: "ok", Deviations: k.Deviations},
		KEK:    steps.File{Name: kekArtifactName(kek), Data: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: kek.SPKI})},
		BYOK:   steps.File{Name: filepath.Base(k.Out), Data: k.Blob},
		Kid:    kek.Kid, KEKSHA256: kek.Fingerprint().Hex(), Name: k.Name, Ops: k.Ops,
		Kty: k.Kty, Target: k.Target, Crv: k.Crv, Source: k.Key, Generator: k.Generator, BYOKSHA256: k.SHA256,
		PublicKeyNote: k.PublicKeyNote, KCV: k.KCV, KCVNote: k.KCVNote,
	}
	// The target's public key, so that the uploader can check the key
	// the service imported is this one (public_key_match); for an AES key
	// its check value does that (kcv_match).
	if k.PublicKey != nil {
		x.PublicKey = &steps.File{Name: steps.PublicKeyFileName(k.Name), Data: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicKey})}
		x.PublicKeySHA256 = words.Sum(k.PublicKey).Hex()
	}
	if p := k.Preflight; p != nil {
		x.Preflight = &steps.Preflight{Passed: p.Passed, Reason: p.Reason, Note: p.Note}
	}
	if h := k.HSM; h != nil {
		x.HSM = &transcripts.HSMInfo{
			ModulePath: h.ModulePath, ModuleSHA256: h.ModuleSHA256, TokenLabel: h.Token.Label,
			Manufacturer: h.Token.Manufacturer, Model: h.Token.Model, Serial: h.Token.Serial, Firmware: h.Token.Firmware,
		}
	}
	return x.Event()
}

func kekArtifactName(kek *byok.KEK) string { return steps.KEKFileName(kek.Fingerprint().Hex()) }

// record records j's event, in the writer goroutine, once its .byok is
// written and read back.
func (r *run) record(j *job) error {
	k := r.keyResult(j)
	if err := r.cer.Record(event(r.req, &k)); err != nil {
		return hinted(fmt.Errorf("recording %s in ceremony %s: %w", filepath.Base(j.out), r.req.CeremonyDir, err),
			fmt.Sprintf("nothing was published; keyrite transcript verify %s says what the ceremony holds", r.req.CeremonyDir))
	}
	e, _ := r.cer.BoundBy(filepath.Base(j.out))
	j.seq = e.Seq
	r.recorded.Add(1)
	return nil
}

// checkRecordable refuses, before any key is wrapped, a key whose event the
// ceremony would refuse: a file name it cannot keep as an artifact (a space,
// a non-ASCII letter, a leading dot, more than 128 characters), or a
// parameter it cannot hold. The event is the one record builds, with a
// placeholder where the .byok will be.
func (r *run) checkRecordable(j *job) error {
	if r.req.CeremonyDir == "" || j.out == "" || j.name == "" {
		return nil
	}
	flagName, base := "--out", filepath.Base(j.out)
	if r.req.OutDir != "" {
		flagName = "--out-dir"
	}
	if err := transcripts.CheckArtifactName(base); err != nil {
		hint := "give --out a file name of letters, digits, '.', '_' and '-', not starting with a dot, of at most 128 characters"
		if r.req.OutDir != "" {
			hint = "a batch names each file NAME.byok after the key's vault name: give the key a name of at most 123 characters (relabel it, or export it on its own with --out and --name)"
		}
		return hinted(fmt.Errorf("%s: the ceremony cannot record the output %q (key %s): %s", flagName, base, j.src, err.Error()), hint)
	}
	if (j.info.Type == byok.TypeRSA || j.info.Type == byok.TypeEC) && j.pubNote == "" {
		// RSA and EC keys record NAME.public.pem too (a token key's type
		// is known, and this checked, once the token is read).
		if err := transcripts.CheckArtifactName(steps.PublicKeyFileName(j.name)); err != nil {
			return hinted(fmt.Errorf("--key %s: the ceremony cannot record the public key as %q: %s", j.src, steps.PublicKeyFileName(j.name), err.Error()),
				"give the key a vault name of at most 117 characters (--name NAME for one key, or relabel it)")
		}
	}
	k := r.keyResult(j)
	if k.Blob == nil {
		k.Blob = []byte(`{"placeholder":"the .byok to come"}`)
	}
	if err := transcripts.CheckEvent(event(r.req, &k)); err != nil {
		e := &Error{Msg: fmt.Sprintf("--key %s: the ceremony would refuse to record this export: %s", j.src, err.Error()), Err: err}
		if errors.Is(err, transcripts.ErrSecret) {
			e.Hint = []string{"a transcript keeps only public values: give the key source without anything that names a PIN or a secret"}
		}
		return e
	}
	return nil
}

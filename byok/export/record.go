package export

import (
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/words"
	"github.com/keyrite/keyrite/transcripts"
)

// stepExport is the step each exported key is recorded as.
const stepExport = "byok.export"

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
	if e := j.resumed; e != nil {
		// Nothing was wrapped: the key is what the ceremony recorded.
		k.Resumed = true
		k.Name, _ = param(e, "name")
		k.Kty, _ = param(e, "kty")
		k.Crv, _ = param(e, "crv")
		k.Target, _ = param(e, "target")
		k.KCV, _ = param(e, "kcv")
		k.KCVNote, _ = param(e, "kcv_note")
		k.Mechanism, k.Deviations = e.Mechanism, append([]string{}, e.Deviations...)
		if ops, ok := param(e, "ops"); ok {
			k.Ops = strings.Split(ops, ",")
		}
		if h := e.HSM; h != nil {
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
	kekPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: kek.SPKI})
	ev := transcripts.Event{
		Step:    stepExport,
		Actor:   req.Actor,
		Action:  fmt.Sprintf("exported %s (%s) as %s, wrapped under KEK %s", k.Name, k.Target, filepath.Base(k.Out), kek.Kid),
		Inputs:  []transcripts.Artifact{transcripts.NewArtifact(kekArtifactName(kek), transcripts.KindKEK, kekPEM)},
		Outputs: []transcripts.Artifact{transcripts.NewArtifact(filepath.Base(k.Out), transcripts.KindBYOK, k.Blob)},
		Params: []transcripts.Param{
			{Name: "kid", Value: kek.Kid},
			{Name: "kek_sha256", Value: kek.Fingerprint().Hex()},
			{Name: "name", Value: k.Name},
			{Name: "ops", Value: strings.Join(k.Ops, ",")},
			{Name: "kty", Value: k.Kty},
			{Name: "target", Value: k.Target},
			{Name: "source", Value: k.Key},
			{Name: "generator", Value: k.Generator},
			{Name: "byok_sha256", Value: k.SHA256},
		},
		Mechanism: k.Mechanism,
		Result:    "ok",
	}
	if len(k.Deviations) > 0 {
		ev.Deviations = k.Deviations
	}
	if k.Crv != "" {
		ev.Params = append(ev.Params, transcripts.Param{Name: "crv", Value: k.Crv})
	}
	// The target's public key, so that the uploader can check the key
	// the service imported is this one (public_key_match).
	if k.PublicKey != nil {
		ev.Outputs = append(ev.Outputs, transcripts.NewArtifact(publicArtifactName(k.Name), transcripts.KindPublicKey,
			pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicKey})))
		ev.Params = append(ev.Params, transcripts.Param{Name: "public_key_sha256", Value: words.Sum(k.PublicKey).Hex()})
	} else if k.PublicKeyNote != "" {
		ev.Params = append(ev.Params, transcripts.Param{Name: "public_key", Value: "not recorded: " + k.PublicKeyNote})
	}
	// An AES key's check value, so that the uploader can check the
	// key the service imported is this one (kcv_match).
	if k.KCV != "" {
		ev.Params = append(ev.Params, transcripts.Param{Name: "kcv", Value: k.KCV})
	} else if k.KCVNote != "" {
		ev.Params = append(ev.Params, transcripts.Param{Name: "kcv_note", Value: k.KCVNote})
	}
	if p := k.Preflight; p != nil {
		status := "passed"
		if !p.Passed {
			status = "failed: " + p.Reason
		}
		ev.Params = append(ev.Params, transcripts.Param{Name: "preflight", Value: status})
		if p.Note != "" {
			ev.Params = append(ev.Params, transcripts.Param{Name: "preflight_note", Value: p.Note})
		}
	}
	if h := k.HSM; h != nil {
		ev.HSM = &transcripts.HSMInfo{
			ModulePath: h.ModulePath, ModuleSHA256: h.ModuleSHA256, TokenLabel: h.Token.Label,
			Manufacturer: h.Token.Manufacturer, Model: h.Token.Model, Serial: h.Token.Serial, Firmware: h.Token.Firmware,
		}
	}
	return ev
}

func kekArtifactName(kek *byok.KEK) string { return "kek-" + kek.Fingerprint().Hex()[:16] + ".pem" }

func publicArtifactName(name string) string { return name + ".public.pem" }

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
		return hinted(fmt.Errorf("%s: the ceremony cannot record the output %q (key %s): %s", flagName, base, j.src, strings.TrimPrefix(err.Error(), "transcripts: ")), hint)
	}
	if (j.info.Type == byok.TypeRSA || j.info.Type == byok.TypeEC) && j.pubNote == "" {
		// RSA and EC keys record NAME.public.pem too (a token key's type
		// is known, and this checked, once the token is read).
		if err := transcripts.CheckArtifactName(publicArtifactName(j.name)); err != nil {
			return hinted(fmt.Errorf("--key %s: the ceremony cannot record the public key as %q: %s", j.src, publicArtifactName(j.name), strings.TrimPrefix(err.Error(), "transcripts: ")),
				"give the key a vault name of at most 117 characters (--name NAME for one key, or relabel it)")
		}
	}
	k := r.keyResult(j)
	if k.Blob == nil {
		k.Blob = []byte(`{"placeholder":"the .byok to come"}`)
	}
	if err := transcripts.CheckEvent(event(r.req, &k)); err != nil {
		e := &Error{Msg: fmt.Sprintf("--key %s: the ceremony would refuse to record this export: %s", j.src, strings.TrimPrefix(err.Error(), "transcripts: ")), Err: err}
		if errors.Is(err, transcripts.ErrSecret) {
			e.Hint = []string{"a transcript keeps only public values: give the key source without anything that names a PIN or a secret"}
		}
		return e
	}
	return nil
}

// param returns the value of e's parameter name.
func param(e *transcripts.Entry, name string) (string, bool) {
	for _, p := range e.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

package export

import (
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/internal/words"
	"github.com/keyrite/keyrite/transcripts"
)

// result describes every job.
func (r *run) result() *Result {
	kek := r.req.KEK
	res := &Result{Kid: kek.Kid, HSM: r.hsm}
	for _, j := range r.jobs {
		fp := words.Sum(j.blob)
		k := KeyResult{
			Out: j.out, Key: j.src, Kid: kek.Kid, Name: j.name, Ops: j.ops,
			Kty: j.info.Type.JWKType(), Crv: j.info.Curve, Target: j.info.String(),
			Mechanism: j.mechanism, Generator: j.generator, SHA256: fp.Hex(), Words: fp.Words(),
			CiphertextLen: len(j.ciphertext), Preflight: j.preflight, Deviations: j.deviations,
			Blob: j.blob, PublicKey: j.pub, PublicKeyNote: j.pubNote,
			KCV: j.kcv, KCVNote: j.kcvNote,
		}
		if k.Deviations == nil {
			k.Deviations = []string{}
		}
		if j.uri != nil {
			k.Source, k.HSM = "pkcs11", r.hsm
			k.Attributes = &Attributes{Label: j.obj.Label, ID: fmt.Sprintf("%x", j.obj.ID), Extractable: j.obj.Extractable,
				Sensitive: j.obj.Sensitive, NeverExtractable: j.obj.NeverExtractable, WrapWithTrusted: j.obj.WrapWithTrusted}
		} else {
			k.Source = "file"
		}
		res.Keys = append(res.Keys, k)
	}
	return res
}

// record records one "byok.export" event per key in the ceremony.
func record(req Request, res *Result) error {
	kek := req.KEK
	kekPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: kek.SPKI})
	for _, r := range res.Keys {
		ev := transcripts.Event{
			Step:    "byok.export",
			Actor:   req.Actor,
			Action:  fmt.Sprintf("exported %s (%s) as %s, wrapped under KEK %s", r.Name, r.Target, filepath.Base(r.Out), kek.Kid),
			Inputs:  []transcripts.Artifact{transcripts.NewArtifact("kek-"+kek.Fingerprint().Hex()[:16]+".pem", transcripts.KindKEK, kekPEM)},
			Outputs: []transcripts.Artifact{transcripts.NewArtifact(filepath.Base(r.Out), transcripts.KindBYOK, r.Blob)},
			Params: []transcripts.Param{
				{Name: "kid", Value: kek.Kid},
				{Name: "kek_sha256", Value: kek.Fingerprint().Hex()},
				{Name: "name", Value: r.Name},
				{Name: "ops", Value: strings.Join(r.Ops, ",")},
				{Name: "kty", Value: r.Kty},
				{Name: "target", Value: r.Target},
				{Name: "source", Value: r.Key},
				{Name: "generator", Value: r.Generator},
				{Name: "byok_sha256", Value: r.SHA256},
			},
			Mechanism: r.Mechanism,
			Result:    "ok",
		}
		if len(r.Deviations) > 0 {
			ev.Deviations = r.Deviations
		}
		if r.Crv != "" {
			ev.Params = append(ev.Params, transcripts.Param{Name: "crv", Value: r.Crv})
		}
		// The target's public key, so that the uploader can check the key
		// the service imported is this one (public_key_match).
		if r.PublicKey != nil {
			ev.Outputs = append(ev.Outputs, transcripts.NewArtifact(r.Name+".public.pem", transcripts.KindPublicKey,
				pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: r.PublicKey})))
			ev.Params = append(ev.Params, transcripts.Param{Name: "public_key_sha256", Value: words.Sum(r.PublicKey).Hex()})
		} else if r.PublicKeyNote != "" {
			ev.Params = append(ev.Params, transcripts.Param{Name: "public_key", Value: "not recorded: " + r.PublicKeyNote})
		}
		// An AES key's check value, so that the uploader can check the
		// key the service imported is this one (kcv_match).
		if r.KCV != "" {
			ev.Params = append(ev.Params, transcripts.Param{Name: "kcv", Value: r.KCV})
		} else if r.KCVNote != "" {
			ev.Params = append(ev.Params, transcripts.Param{Name: "kcv_note", Value: r.KCVNote})
		}
		if p := r.Preflight; p != nil {
			status := "passed"
			if !p.Passed {
				status = "failed: " + p.Reason
			}
			ev.Params = append(ev.Params, transcripts.Param{Name: "preflight", Value: status})
			if p.Note != "" {
				ev.Params = append(ev.Params, transcripts.Param{Name: "preflight_note", Value: p.Note})
			}
		}
		if h := r.HSM; h != nil {
			ev.HSM = &transcripts.HSMInfo{
				ModulePath: h.ModulePath, ModuleSHA256: h.ModuleSHA256, TokenLabel: h.Token.Label,
				Manufacturer: h.Token.Manufacturer, Model: h.Token.Model, Serial: h.Token.Serial, Firmware: h.Token.Firmware,
			}
		}
		if err := transcripts.RecordStep(req.CeremonyDir, ev); err != nil {
			return hinted(fmt.Errorf("the .byok output was written (%s), but recording the step in ceremony %s failed: %w", r.Out, req.CeremonyDir, err),
				"check the ceremony directory; the written .byok is valid, record or discard it deliberately")
		}
	}
	return nil
}

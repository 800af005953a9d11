package export

import (
	"crypto/x509"
	"fmt"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/secret"
)

// exportFromHSM exports the PKCS#11 jobs (all on one token) in one session
// with one login: it finds every object and checks every target before the
// first wrap, then exports each (the pre-flight check runs once per type).
func (r *run) exportFromHSM(hjobs []*job, w *blobWriter) error {
	u := hjobs[0].uri
	kek := r.req.KEK
	getPIN, early := r.req.PIN, r.req.PINEarly
	if !early && u.PINFile() != "" {
		src := &secret.Source{Kind: "PIN", File: u.PINFile()}
		getPIN, early = src.Read, true
	}
	if getPIN == nil {
		return &Error{Msg: "the token's PIN is needed, but the request gives no way to ask for it"}
	}

	// A PIN from the environment or a file is read (and checked present)
	// before the module is loaded; at the terminal it is asked for once the
	// token is found, naming it.
	var pin []byte
	defer func() { wipe(pin) }()
	readPIN := func(prompt string) error {
		var err error
		pin, err = getPIN(prompt)
		return err
	}
	if early {
		if err := readPIN(""); err != nil {
			return err
		}
	}

	m, err := hsm.Load(u.ModulePath)
	if err != nil {
		return hsmHint(libErr(err), u)
	}
	defer m.Close()
	slot, err := m.FindToken(u.TokenFilter())
	if err != nil {
		return hsmHint(libErr(err), u)
	}
	s, err := m.OpenSession(slot)
	if err != nil {
		return hsmHint(libErr(err), u)
	}
	defer s.Close()
	// The token's PIN flags, before anyone types a PIN: a locked PIN or an
	// unconfirmed final try is refused here, a low count is warned of.
	if _, err := s.CheckPIN(r.req.Login); err != nil {
		return hsmHint(libErr(err), u)
	}
	if !early {
		if err := readPIN(fmt.Sprintf("PIN for token %q: ", slot.Token.Label)); err != nil {
			return err
		}
	}
	if err := s.LoginWith(pin, r.req.Login); err != nil { // wipes pin
		return hsmHint(libErr(err), u)
	}
	defer s.Logout()
	r.hsm = &HSMInfo{ModulePath: m.Path, ModuleSHA256: m.SHA256, Token: slot.Token, Library: m.Library}

	// The exporter starts its pre-flight preparation in the background.
	o := r.req.Options
	x, err := NewHSMExporter(s, kek, HSMOptions{KWPMechanism: o.KWPMechanism, TwoStep: o.TwoStep, Rehearsal: o.Rehearsal})
	if err != nil {
		return libErr(err)
	}
	defer x.Close()

	// Find and check every key before wrapping any.
	uris := make([]*hsm.URI, len(hjobs))
	for i, j := range hjobs {
		uris[i] = j.uri
	}
	objs, err := s.FindAll(uris)
	if err != nil {
		// Name the key whose lookup failed (the error names its object;
		// for a small batch, find which key it was).
		if len(hjobs) <= 16 {
			for _, j := range hjobs {
				if _, ferr := s.FindURI(j.uri); ferr != nil {
					return hsmHint(keyErr(j.src, ferr), j.uri)
				}
			}
		}
		return hsmHint(libErr(err), u)
	}
	for i, j := range hjobs {
		obj := objs[i]
		j.obj = obj
		info, err := TargetFromObject(obj)
		if err != nil {
			return hsmHint(keyErr(j.src, err), j.uri)
		}
		j.info = info
		if info.Type == byok.TypeAES {
			j.setKCV(hsmKCV(s, obj))
		} else {
			if pub, err := s.PublicKeyOf(obj); err != nil {
				j.pubNote = err.Error()
			} else if j.pub, err = x509.MarshalPKIXPublicKey(pub); err != nil {
				j.pubNote = err.Error()
			}
		}
		if j.name == "" {
			j.name = obj.Label
		}
		if err := j.checkTarget(kek); err != nil {
			return err
		}
	}
	if err := r.assignOutputs(true); err != nil {
		return err
	}
	// Names from labels are known now: the ceremony checks, before the
	// first wrap.
	for _, j := range hjobs {
		if err := r.checkRecordable(j); err != nil {
			return err
		}
		if err := r.matchRecorded(j); err != nil {
			return err
		}
	}

	for _, j := range hjobs {
		if j.resumed != nil {
			if err := r.add(w, j); err != nil {
				return err
			}
			continue
		}
		res, err := x.Export(j.obj)
		if err != nil {
			return hsmHint(keyErr(j.src, err), j.uri)
		}
		j.ciphertext, j.mechanism, j.preflight, j.deviations = res.Ciphertext, res.Mechanism, res.Preflight, res.Deviations
		j.generator = x.Generator()
		if err := r.add(w, j); err != nil {
			return err
		}
	}
	return nil
}

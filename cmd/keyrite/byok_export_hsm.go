package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/cli"
	"github.com/keyrite/keyrite/internal/secret"
)

// exportFromHSM exports the PKCS#11 jobs (all on one token) in one session
// with one login: it finds every object and checks every target before the
// first wrap, then exports each (the pre-flight check runs once per type).
func exportFromHSM(e *env, o *exportOpts, hjobs []*exportJob, kek *byok.KEK, kwpMech uint, all []*exportJob, w *blobWriter) error {
	u := hjobs[0].uri
	pinSrc := o.pin
	if !pinSrc.Given() && u.PINFile() != "" {
		pinSrc = &secret.Source{Kind: "PIN", File: u.PINFile()}
	}

	// A PIN from the environment or a file is read (and checked present)
	// before the module is loaded; at the terminal it is asked for once the
	// token is found, naming it.
	var pin []byte
	defer func() { secret.Wipe(pin) }()
	readPIN := func(label string) error {
		var err error
		pin, err = pinSrc.Read(fmt.Sprintf("PIN for token %q: ", label))
		if errors.Is(err, secret.ErrNoTerminal) {
			return cli.WithHint(fmt.Errorf("the token's PIN is needed: %w", err), "give it with --pin-env NAME or --pin-file PATH")
		}
		return err
	}
	if pinSrc.Given() {
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
	if pin == nil {
		if err := readPIN(slot.Token.Label); err != nil {
			return err
		}
	}
	if err := s.Login(pin); err != nil { // wipes pin
		return hsmHint(libErr(err), u)
	}
	defer s.Logout()
	o.hsm = &exportHSMJSON{ModulePath: m.Path, ModuleSHA256: m.SHA256, Token: slot.Token, Library: m.Library}

	// The exporter starts its pre-flight preparation in the background.
	x, err := byok.NewHSMExporter(s, kek, byok.HSMOptions{KWPMechanism: kwpMech, TwoStep: o.twoStep, Rehearsal: o.rehearsal})
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
		// for a small batch, find which --key it was).
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
		info, err := byok.TargetFromObject(obj)
		if err != nil {
			return hsmHint(keyErr(j.src, err), j.uri)
		}
		j.info = info
		if info.Type != byok.TypeAES {
			if pub, err := s.PublicKeyOf(obj); err != nil {
				j.pubNote = err.Error()
			} else if j.pub, err = x509.MarshalPKIXPublicKey(pub); err != nil {
				j.pubNote = err.Error()
			}
		}
		if j.name == "" {
			j.name = obj.Label
		}
		if err := j.checkTarget(kek, i); err != nil {
			return err
		}
	}
	if err := assignOutputs(o, all, true); err != nil {
		return err
	}

	for _, j := range hjobs {
		res, err := x.Export(j.obj)
		if err != nil {
			return hsmHint(keyErr(j.src, err), j.uri)
		}
		j.ciphertext, j.mechanism, j.preflight, j.deviations = res.Ciphertext, res.Mechanism, res.Preflight, res.Deviations
		j.generator = x.Generator()
		if err := w.add(j); err != nil {
			return err
		}
	}
	return nil
}

// hsmHint attaches what to do to an HSM or export error.
func hsmHint(err error, u *hsm.URI) error {
	var hint string
	switch {
	case errors.Is(err, hsm.ErrModuleLoad):
		hint = "check module-path in the URI: it must be the vendor's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so"
	case errors.Is(err, hsm.ErrTokenNotFound):
		hint = "check token= in the URI against the labels listed (labels are case-sensitive; percent-encode spaces as %20)"
	case errors.Is(err, hsm.ErrPINIncorrect):
		hint = "check the PIN; every failed login counts towards the token's lockout"
	case errors.Is(err, hsm.ErrPINLocked):
		hint = "the security officer must unlock the user PIN with the vendor's tool"
	case errors.Is(err, hsm.ErrObjectNotFound):
		hint = fmt.Sprintf("list the token's objects: pkcs11-tool --module %s --token-label %q --login --list-objects", u.ModulePath, u.Token)
	case errors.Is(err, hsm.ErrAmbiguous):
		hint = "add id=%XX or type=private / type=secret-key to the URI so that it names exactly one object"
	case errors.Is(err, byok.ErrPreflight):
		hint = "this HSM's wrap would not give the service the exact key encoding; use an HSM or mechanism that wraps without padding (see --kwp-mechanism), or, in a rehearsal only, pass --rehearsal to proceed and record the deviation"
	case errors.Is(err, hsm.ErrNotExtractable):
		hint = "BYOK can only export keys created with CKA_EXTRACTABLE=true; generate a new exportable key in the HSM for import"
	case errors.Is(err, hsm.ErrKeyNotWrappable):
		hint = "the key demands a trusted wrapping key; ask the security officer, or generate the key without CKA_WRAP_WITH_TRUSTED"
	case errors.Is(err, byok.ErrUnsupported):
		hint = "the service imports RSA 2048/3072/4096, EC P-256/P-384/P-521 and (Managed HSM) AES 128/192/256"
	case errors.Is(err, byok.ErrHSMTarget):
		hint = "name the private key (type=private) or secret key (type=secret-key) to export"
	case errors.Is(err, hsm.ErrMechanismInvalid):
		hint = "the HSM lacks a mechanism BYOK needs, or rejects its parameters: try --two-step, and --kwp-mechanism 0x210A or 0x210B"
	case errors.Is(err, hsm.ErrTokenNotRecognized):
		hint = "initialise the token, or check that the module is the right vendor's"
	case errors.Is(err, hsm.ErrGeneral):
		hint = "check the module's configuration (for SoftHSM, the file SOFTHSM2_CONF names and its tokendir)"
	}
	if hint == "" {
		return err
	}
	return cli.WithHint(err, hint)
}

// libErr drops the "hsm: " and "byok: " package prefixes from a library
// error for the command line, keeping the chain for errors.Is.
func libErr(err error) error {
	msg := strings.ReplaceAll(strings.ReplaceAll(err.Error(), "hsm: ", ""), "byok: ", "")
	return &cliError{msg: msg, err: err}
}

// keyErr is libErr naming the --key it concerns.
func keyErr(src string, err error) error {
	e := libErr(err).(*cliError)
	e.msg = "--key " + src + ": " + e.msg
	return e
}

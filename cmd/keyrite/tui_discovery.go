package main

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/hsm"
)

// guidedDiscovery lists modules, tokens and keys for the guided ceremony
// with package hsm's discovery, as `keyrite hsm modules|tokens|objects`
// does: the person chooses from lists instead of typing URIs.
func guidedDiscovery() ceremony.Discovery {
	return ceremony.Discovery{Modules: discoverModules, Tokens: discoverTokens, Objects: discoverObjects, Certificates: discoverCertificates}
}

func discoverModules() []ceremony.ModuleChoice {
	var out []ceremony.ModuleChoice
	for _, m := range hsm.Modules() {
		out = append(out, ceremony.ModuleChoice{Path: m.Path, Source: m.Source})
	}
	return out
}

func discoverTokens(module string) ([]ceremony.TokenChoice, error) {
	m, err := hsm.Load(module)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	entries, err := m.Tokens()
	if err != nil {
		return nil, err
	}
	var out []ceremony.TokenChoice
	for _, e := range entries {
		if e.Present && !e.Initialized {
			continue // SoftHSM's spare slot: nothing to choose
		}
		t := ceremony.TokenChoice{Label: e.Token.Label, Manufacturer: e.Token.Manufacturer, Model: e.Token.Model,
			Serial: e.Token.Serial, Present: e.Present && e.Initialized}
		switch {
		case !e.Present:
			t.Label = fmt.Sprintf("slot %d (%s): no token", e.SlotID, strings.TrimSpace(e.SlotDescription))
		case e.PINLocked:
			t.Flags = "PIN locked"
		case e.PINFinalTry:
			t.Flags = "final PIN try"
		case e.PINCountLow:
			t.Flags = "PIN count low"
		}
		out = append(out, t)
	}
	return out, nil
}

// openToken loads module and opens a session on tok (no login); the
// returned function closes both.
func openToken(module string, tok ceremony.TokenChoice) (*hsm.Session, func(), error) {
	m, err := hsm.Load(module)
	if err != nil {
		return nil, nil, err
	}
	entries, err := m.Tokens()
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	for _, e := range entries {
		if !e.Present || e.Token.Label != tok.Label || e.Token.Serial != tok.Serial {
			continue
		}
		s, err := m.OpenSession(e.Slot())
		if err != nil {
			m.Close()
			return nil, nil, err
		}
		return s, func() { s.Close(); m.Close() }, nil
	}
	m.Close()
	return nil, nil, fmt.Errorf("%w: token %q (serial %s) is no longer present", hsm.ErrTokenNotFound, tok.Label, tok.Serial)
}

// discoverCertificates lists a card's certificates without a login, each
// with the URI of the private key of the same CKA_ID.
func discoverCertificates(module string, tok ceremony.TokenChoice) ([]ceremony.CardCert, error) {
	s, done, err := openToken(module, tok)
	if err != nil {
		return nil, err
	}
	defer done()
	objs, err := s.ListObjects(hsm.ObjectFilter{Classes: []uint{pkcs11.CKO_CERTIFICATE}})
	if err != nil {
		return nil, err
	}
	var out []ceremony.CardCert
	for _, o := range objs {
		sum, err := hex.DecodeString(o.CertSHA256)
		if err != nil || len(sum) != 32 || o.ID == "" {
			continue // no thumbprint, or no CKA_ID to find its key by
		}
		u, err := hsm.ParseURI(o.URI)
		if err != nil {
			continue
		}
		u.Type, u.Object = "private", ""
		c := ceremony.CardCert{KeyURI: u.String(), Label: o.Label, Subject: o.CertSubject}
		copy(c.SHA256[:], sum)
		out = append(out, c)
	}
	return out, nil
}

// discoverObjects logs in to the token with pin and lists its private and
// secret keys: the objects a BYOK export can take.
func discoverObjects(module string, tok ceremony.TokenChoice, pin []byte, login hsm.LoginOptions) ([]ceremony.ObjectChoice, error) {
	s, done, err := openToken(module, tok)
	if err != nil {
		return nil, err
	}
	defer done()
	if err := s.LoginWith(pin, login); err != nil {
		return nil, err
	}
	objs, err := s.ListObjects(hsm.ObjectFilter{Classes: []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_SECRET_KEY}})
	if err != nil {
		return nil, err
	}
	out := make([]ceremony.ObjectChoice, 0, len(objs))
	for _, o := range objs {
		out = append(out, ceremony.ObjectChoice{URI: o.URI, Label: o.Label, ID: o.ID,
			Class: strings.ReplaceAll(o.ClassName, "-", " "), Type: o.TypeString(),
			Extractable: o.Extractable, Sensitive: o.Sensitive, NeverExtractable: o.NeverExtractable})
	}
	return out, nil
}

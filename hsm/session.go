package hsm

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/pkcs11"
)

// Session is an open PKCS#11 session on one token. It is not safe for
// concurrent use (nor is a PKCS#11 session).
type Session struct {
	Module *Module
	Slot   Slot
	h      pkcs11.SessionHandle
	p      PKCS11
	closed bool

	// The PIN counter (pin.go): a confirmation of the final try not yet
	// used, and the warnings already given since the last C_Login.
	finalTryOK bool
	warned     PINStatus
}

// OpenSession opens a read-write session on the token in slot. Read-write is
// needed for session objects (an imported KEK, an ephemeral AES key).
func (m *Module) OpenSession(slot Slot) (*Session, error) {
	h, err := m.p.OpenSession(slot.ID, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, wrapErr("C_OpenSession", fmt.Sprintf("token %q", slot.Token.Label), err)
	}
	return &Session{Module: m, Slot: slot, h: h, p: m.p}, nil
}

// Handle is the raw session handle, for calls through P11.
func (s *Session) Handle() pkcs11.SessionHandle { return s.h }

// P11 is the underlying PKCS#11 interface.
func (s *Session) P11() PKCS11 { return s.p }

// Token is the session's token info.
func (s *Session) Token() TokenInfo { return s.Slot.Token }

// Close closes the session (logging out first is not needed: closing the last
// session of a token logs it out).
func (s *Session) Close() error {
	if s == nil || s.closed {
		return nil
	}
	s.closed = true
	return wrapErr("C_CloseSession", "", s.p.CloseSession(s.h))
}

// Logout logs out. Handles of private objects become invalid afterwards.
func (s *Session) Logout() error {
	err := s.p.Logout(s.h)
	if c, ok := Code(err); ok && c == pkcs11.CKR_USER_NOT_LOGGED_IN {
		return nil
	}
	return wrapErr("C_Logout", "", err)
}

// Find returns the handles of all objects matching template.
func (s *Session) Find(template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := s.p.FindObjectsInit(s.h, template); err != nil {
		return nil, wrapErr("C_FindObjectsInit", "", err)
	}
	var all []pkcs11.ObjectHandle
	var ferr error
	for {
		hs, _, err := s.p.FindObjects(s.h, 64)
		if err != nil {
			ferr = wrapErr("C_FindObjects", "", err)
			break
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
		if len(all) > 100000 {
			ferr = fmt.Errorf("hsm: C_FindObjects: more than 100000 objects; the module may be looping")
			break
		}
	}
	if err := s.p.FindObjectsFinal(s.h); err != nil && ferr == nil {
		ferr = wrapErr("C_FindObjectsFinal", "", err)
	}
	return all, ferr
}

// FindOne returns the single object matching template, described. Zero
// matches give an error wrapping ErrObjectNotFound; several give ErrAmbiguous
// with a list of what was found (label, id, class, key type). what names the
// object in errors, e.g. `object "app-key"`.
func (s *Session) FindOne(what string, template []*pkcs11.Attribute) (*Object, error) {
	hs, err := s.Find(template)
	if err != nil {
		return nil, err
	}
	return s.one(what, hs)
}

// one describes the single handle in hs, or explains why there is not one.
func (s *Session) one(what string, hs []pkcs11.ObjectHandle) (*Object, error) {
	switch len(hs) {
	case 1:
		return s.Object(hs[0])
	case 0:
		return nil, fmt.Errorf("%w: no %s on token %q (logged in: objects marked private are only visible after login)", ErrObjectNotFound, what, s.Slot.Token.Label)
	}
	var desc []string
	for _, h := range hs {
		o, err := s.Object(h)
		if err != nil {
			desc = append(desc, fmt.Sprintf("handle %d (unreadable)", h))
			continue
		}
		desc = append(desc, o.Summary())
	}
	sort.Strings(desc)
	return nil, fmt.Errorf("%w: %d objects match %s on token %q: %s; name one by adding id=... or type=... to the URI", ErrAmbiguous, len(hs), what, s.Slot.Token.Label, strings.Join(desc, "; "))
}

// FindURI finds the one object named by u's object, id and type attributes.
// At least one of them must be set.
func (s *Session) FindURI(u *URI) (*Object, error) {
	t := u.ObjectTemplate()
	if len(t) == 0 {
		return nil, fmt.Errorf("%w: %s names no object (give object=LABEL, id=... or type=...)", ErrURI, u.Redacted())
	}
	return s.FindOne(u.ObjectDescription(), t)
}

// MechanismInfo returns the token's C_GetMechanismInfo for mech. ok is false
// when the token does not list the mechanism (CKR_MECHANISM_INVALID).
func (s *Session) MechanismInfo(mech uint) (info pkcs11.MechanismInfo, ok bool, err error) {
	info, err = s.p.GetMechanismInfo(s.Slot.ID, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)})
	if err != nil {
		if c, cok := Code(err); cok && c == pkcs11.CKR_MECHANISM_INVALID {
			return info, false, nil
		}
		return info, false, wrapErr("C_GetMechanismInfo", MechanismName(mech), err)
	}
	return info, true, nil
}

// Supports reports whether the token lists mech with all of flags (e.g.
// pkcs11.CKF_WRAP).
func (s *Session) Supports(mech, flags uint) (bool, error) {
	info, ok, err := s.MechanismInfo(mech)
	if err != nil || !ok {
		return false, err
	}
	return info.Flags&flags == flags, nil
}

// Destroy destroys an object (normally a session object this process made).
func (s *Session) Destroy(h pkcs11.ObjectHandle) error {
	return wrapErr("C_DestroyObject", "", s.p.DestroyObject(s.h, h))
}

// FindAll finds, for each URI, the one object it names (object, id, type
// attributes, each URI naming at least one), with the same rules and errors
// as FindURI. For more than a few URIs it lists the token's objects once and
// matches in memory, exactly as C_FindObjects would (byte-equal CKA_LABEL and
// CKA_ID, equal CKA_CLASS): a token searches by decrypting every object's
// attributes, so one search per key would cost time quadratic in the number
// of objects.
func (s *Session) FindAll(uris []*URI) ([]*Object, error) {
	out := make([]*Object, len(uris))
	if len(uris) <= 4 {
		for i, u := range uris {
			o, err := s.FindURI(u)
			if err != nil {
				return nil, err
			}
			out[i] = o
		}
		return out, nil
	}
	for _, u := range uris {
		if len(u.ObjectTemplate()) == 0 {
			return nil, fmt.Errorf("%w: %s names no object (give object=LABEL, id=... or type=...)", ErrURI, u.Redacted())
		}
	}
	hs, err := s.Find(nil)
	if err != nil {
		return nil, err
	}
	type entry struct {
		h     pkcs11.ObjectHandle
		class uint
		label string
		id    []byte
		obj   *Object // already described (secret keys), or nil
	}
	all := make([]entry, 0, len(hs))
	for _, h := range hs {
		// A secret key is read whole in one call; other objects give
		// their class, label and id, and are described if they match.
		if got, ok := s.allAttrs(h, secretKeyAttrs); ok {
			if o := secretKeyObject(h, got); o != nil {
				all = append(all, entry{h, o.Class, o.Label, o.ID, o})
				continue
			}
		}
		got, err := s.attrs(h, pkcs11.CKA_CLASS, pkcs11.CKA_LABEL, pkcs11.CKA_ID)
		if err != nil {
			return nil, err
		}
		c, ok := ulong(got[pkcs11.CKA_CLASS])
		if !ok {
			continue
		}
		all = append(all, entry{h, c, string(got[pkcs11.CKA_LABEL]), got[pkcs11.CKA_ID], nil})
	}
	for i, u := range uris {
		var match []pkcs11.ObjectHandle
		var last *entry
		for k := range all {
			e := &all[k]
			if (u.Object == "" || u.Object == e.label) &&
				(len(u.ID) == 0 || bytes.Equal(u.ID, e.id)) &&
				(u.Type == "" || uriTypes[u.Type] == e.class) {
				match = append(match, e.h)
				last = e
			}
		}
		if len(match) == 1 && last.obj != nil {
			out[i] = last.obj
			continue
		}
		o, err := s.one(u.ObjectDescription(), match)
		if err != nil {
			return nil, err
		}
		out[i] = o
	}
	return out, nil
}

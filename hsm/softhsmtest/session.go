package softhsmtest

import (
	"testing"

	"github.com/keyrite/keyrite/hsm"
)

// Session loads the token's module through the hsm layer, finds the token by
// label, opens a session and logs in with the user PIN; all of it is closed
// when the test ends.
func (tok *Token) Session(t testing.TB) *hsm.Session { return tok.SessionWith(t, nil) }

// SessionWith is Session over p (e.g. an hsmfake decorator), or the real
// module when p is nil.
func (tok *Token) SessionWith(t testing.TB, p hsm.PKCS11) *hsm.Session {
	t.Helper()
	var m *hsm.Module
	var err error
	if p != nil {
		m, err = hsm.LoadWith(p, tok.Module)
	} else {
		m, err = hsm.Load(tok.Module)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	slot, err := m.FindToken(hsm.TokenFilter{Label: tok.Label})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.OpenSession(slot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Login([]byte(tok.PIN)); err != nil {
		t.Fatal(err)
	}
	return s
}

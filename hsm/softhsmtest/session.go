package softhsmtest

import (
	"os/exec"
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
	s := tok.OpenWith(t, p)
	if err := s.Login([]byte(tok.PIN)); err != nil {
		t.Fatal(err)
	}
	return s
}

// OpenWith is SessionWith without the login: for tests of the login itself.
func (tok *Token) OpenWith(t testing.TB, p hsm.PKCS11) *hsm.Session {
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
	return s
}

// WrongPIN tries a wrong user PIN on the token from another process
// (pkcs11-tool), as someone before the test might have: SoftHSM then sets
// CKF_USER_PIN_COUNT_LOW until the next successful login (it never locks).
func (tok *Token) WrongPIN(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("pkcs11-tool"); err != nil {
		missing(t, "pkcs11-tool (OpenSC)")
	}
	cmd := exec.Command("pkcs11-tool", "--module", tok.Module, "--token-label", tok.Label, "--login", "--pin", "0000"+tok.PIN, "--list-objects")
	cmd.Env = append(cmd.Environ(), "SOFTHSM2_CONF="+tok.Conf)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("pkcs11-tool logged in with a wrong PIN:\n%s", out)
	}
}

package hsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/miekg/pkcs11"
)

// stub is a PKCS#11 module in memory, for unit tests of the module and
// token logic without SoftHSM. Unimplemented calls panic (nil interface).
type stub struct {
	hsm.PKCS11
	initErr   error
	finalized bool
	destroyed bool
	tokens    map[uint]pkcs11.TokenInfo
	loginErr  error
}

func (s *stub) Initialize(...pkcs11.InitializeOption) error { return s.initErr }
func (s *stub) Finalize() error                             { s.finalized = true; return nil }
func (s *stub) Destroy()                                    { s.destroyed = true }
func (s *stub) GetInfo() (pkcs11.Info, error) {
	return pkcs11.Info{ManufacturerID: "Stub Inc.                       ", LibraryDescription: "stub", LibraryVersion: pkcs11.Version{Major: 1, Minor: 2}}, nil
}
func (s *stub) GetSlotList(bool) ([]uint, error) {
	var ids []uint
	for id := uint(0); id < 10; id++ {
		if _, ok := s.tokens[id]; ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
func (s *stub) GetTokenInfo(id uint) (pkcs11.TokenInfo, error)       { return s.tokens[id], nil }
func (s *stub) OpenSession(uint, uint) (pkcs11.SessionHandle, error) { return 7, nil }
func (s *stub) CloseSession(pkcs11.SessionHandle) error              { return nil }
func (s *stub) Login(pkcs11.SessionHandle, uint, string) error       { return s.loginErr }

func tokenInfo(label, serial string, initialized bool) pkcs11.TokenInfo {
	ti := pkcs11.TokenInfo{Label: label + strings.Repeat(" ", 32-len(label)), ManufacturerID: "Stub Inc.", Model: "S1", SerialNumber: serial,
		FirmwareVersion: pkcs11.Version{Major: 3, Minor: 1}}
	if initialized {
		ti.Flags = pkcs11.CKF_TOKEN_INITIALIZED
	}
	return ti
}

func TestAlreadyInitialized(t *testing.T) {
	st := &stub{initErr: pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)}
	m, err := hsm.LoadWith(st, "/nonexistent/stub.so")
	if err != nil {
		t.Fatal(err)
	}
	if m.Library.Manufacturer != "Stub Inc." || m.Library.Version != "1.2" {
		t.Errorf("library info %+v", m.Library)
	}
	m.Close()
	if st.finalized || !st.destroyed {
		t.Errorf("someone else initialised the module: Close must not finalise it (finalized=%v destroyed=%v)", st.finalized, st.destroyed)
	}

	st = &stub{}
	m, _ = hsm.LoadWith(st, "/nonexistent/stub.so")
	m.Close()
	if !st.finalized {
		t.Error("Close did not finalise a module it initialised")
	}

	st = &stub{initErr: pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)}
	if _, err := hsm.LoadWith(st, "/opt/vendor.so"); !errors.Is(err, hsm.ErrGeneral) || !strings.Contains(err.Error(), "cannot initialise PKCS#11 module /opt/vendor.so") {
		t.Errorf("init failure: %v", err)
	}
}

func TestFindTokenStub(t *testing.T) {
	st := &stub{tokens: map[uint]pkcs11.TokenInfo{
		1: tokenInfo("prod", "A1", true),
		2: tokenInfo("prod", "B2", true),
		3: tokenInfo("test", "C3", true),
		4: tokenInfo("", "D4", false), // SoftHSM's free slot
	}}
	m, _ := hsm.LoadWith(st, "/nonexistent/stub.so")
	defer m.Close()
	s, err := m.FindToken(hsm.TokenFilter{Label: "test"})
	if err != nil || s.ID != 3 || s.Token.Label != "test" || s.Token.Firmware != "3.1" || s.Token.Describe() != "Stub Inc. S1, firmware 3.1" {
		t.Errorf("test: %+v %v", s, err)
	}
	_, err = m.FindToken(hsm.TokenFilter{Label: "prod"})
	if !errors.Is(err, hsm.ErrAmbiguous) || !strings.Contains(err.Error(), `"prod" serial "A1" (slot 1); "prod" serial "B2" (slot 2); add the token's serial`) {
		t.Errorf("ambiguous: %v", err)
	}
	if s, err := m.FindToken(hsm.TokenFilter{Label: "prod", Serial: "B2"}); err != nil || s.ID != 2 {
		t.Errorf("by serial: %+v %v", s, err)
	}
	_, err = m.FindToken(hsm.TokenFilter{Label: "dev"})
	if !errors.Is(err, hsm.ErrTokenNotFound) || !strings.Contains(err.Error(), `tokens present: "prod", "prod", "test"`) {
		t.Errorf("not found: %v", err)
	}
	sess, _ := m.OpenSession(s)
	st.loginErr = pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)
	if err := sess.Login([]byte("1")); err != nil {
		t.Errorf("already logged in: %v", err)
	}
	st.loginErr = pkcs11.Error(pkcs11.CKR_PIN_LOCKED)
	if err := sess.Login([]byte("1")); !errors.Is(err, hsm.ErrPINLocked) {
		t.Errorf("locked: %v", err)
	}
	if err := sess.Login(nil); err == nil {
		t.Error("empty PIN accepted")
	}
}

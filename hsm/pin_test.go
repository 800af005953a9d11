package hsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/hsmfake"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/miekg/pkcs11"
)

func TestPINStatusOf(t *testing.T) {
	all := uint(pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY | pkcs11.CKF_USER_PIN_LOCKED | pkcs11.CKF_USER_PIN_TO_BE_CHANGED)
	if got := hsm.PINStatusOf(all, false); got != (hsm.PINStatus{CountLow: true, FinalTry: true, Locked: true, ToBeChanged: true}) {
		t.Errorf("user flags: %+v", got)
	}
	if got := hsm.PINStatusOf(all, true); got != (hsm.PINStatus{SO: true}) {
		t.Errorf("the user's flags read as the SO's: %+v", got)
	}
	so := hsm.PINStatusOf(pkcs11.CKF_SO_PIN_FINAL_TRY, true)
	if !so.FinalTry || !strings.Contains(so.Tries(), "CKF_SO_PIN_FINAL_TRY") {
		t.Errorf("SO final try: %+v %q", so, so.Tries())
	}
	if got := hsm.PINStatusOf(pkcs11.CKF_TOKEN_INITIALIZED|pkcs11.CKF_LOGIN_REQUIRED, false); got != (hsm.PINStatus{}) {
		t.Errorf("no PIN flags: %+v", got)
	}
}

// faked opens a session (not logged in) on a real SoftHSM token through a
// decorator that reports the flags flags(f) adds to the real ones.
func faked(t *testing.T, flags func(f *hsmfake.Fake) uint) (*softhsmtest.Token, *hsmfake.Fake, *hsm.Session) {
	t.Helper()
	tok := softhsmtest.New(t, "vendor")
	f := &hsmfake.Fake{PKCS11: pkcs11.New(tok.Module)}
	f.TokenFlags = func(real uint) uint { return real | flags(f) }
	return tok, f, tok.OpenWith(t, f)
}

func TestPINLockedRefusedUntried(t *testing.T) {
	tok, f, s := faked(t, func(*hsmfake.Fake) uint { return pkcs11.CKF_USER_PIN_LOCKED })
	if _, err := s.CheckPIN(hsm.LoginOptions{FinalTry: true}); !errors.Is(err, hsm.ErrPINLocked) {
		t.Fatalf("CheckPIN on a locked token: %v", err)
	}
	pin := []byte(tok.PIN)
	err := s.LoginWith(pin, hsm.LoginOptions{FinalTry: true})
	var pe *hsm.PINError
	if !errors.As(err, &pe) || !errors.Is(err, hsm.ErrPINLocked) || pe.Tried || errors.Is(err, hsm.ErrPINIncorrect) {
		t.Fatalf("locked token: %#v", err)
	}
	want := `hsm: token "vendor": the user PIN is locked (CKF_USER_PIN_LOCKED); no PIN was tried`
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if n := f.Logins(); n != 0 {
		t.Errorf("%d C_Login calls on a locked token", n)
	}
	if string(pin) != "\x00\x00\x00\x00" {
		t.Error("PIN not wiped after a refusal")
	}
}

func TestPINFinalTry(t *testing.T) {
	tok, f, s := faked(t, func(*hsmfake.Fake) uint { return pkcs11.CKF_USER_PIN_FINAL_TRY | pkcs11.CKF_USER_PIN_COUNT_LOW })

	// Without a confirmation: refused, nothing tried.
	err := s.Login([]byte(tok.PIN))
	var pe *hsm.PINError
	if !errors.As(err, &pe) || !errors.Is(err, hsm.ErrPINFinalTry) || pe.Tried {
		t.Fatalf("final try without confirmation: %v", err)
	}
	if !strings.Contains(err.Error(), "the next wrong PIN locks the user PIN (CKF_USER_PIN_FINAL_TRY): this is the last try; no PIN was tried") {
		t.Errorf("error %q", err)
	}
	// A question answered no is a refusal too; an error of the question
	// comes back as it is.
	var asked []string
	no := hsm.LoginOptions{ConfirmFinalTry: func(q string) (bool, error) { asked = append(asked, q); return false, nil }}
	if err := s.LoginWith([]byte(tok.PIN), no); !errors.Is(err, hsm.ErrPINFinalTry) {
		t.Fatalf("answered no: %v", err)
	}
	if len(asked) != 1 || !strings.Contains(asked[0], `Token "vendor" reports that the next wrong PIN locks its user PIN: this is the last try`) {
		t.Errorf("question %q", asked)
	}
	cancelled := errors.New("cancelled")
	if err := s.LoginWith([]byte(tok.PIN), hsm.LoginOptions{ConfirmFinalTry: func(string) (bool, error) { return false, cancelled }}); err != cancelled {
		t.Fatalf("cancelled question: %v", err)
	}
	if n := f.Logins(); n != 0 {
		t.Fatalf("%d C_Login calls without a confirmation", n)
	}

	// Confirmed with the question in CheckPIN, before the PIN is asked
	// for: the login does not ask again.
	asked = nil
	yes := hsm.LoginOptions{ConfirmFinalTry: func(q string) (bool, error) { asked = append(asked, q); return true, nil }}
	if _, err := s.CheckPIN(yes); err != nil {
		t.Fatal(err)
	}
	if err := s.LoginWith([]byte(tok.PIN), yes); err != nil {
		t.Fatalf("confirmed final try: %v", err)
	}
	if len(asked) != 1 || f.Logins() != 1 {
		t.Errorf("asked %d times, %d logins; want 1, 1", len(asked), f.Logins())
	}
	s.Logout()

	// Confirmed beforehand (--final-pin-try).
	if err := s.LoginWith([]byte(tok.PIN), hsm.LoginOptions{FinalTry: true}); err != nil {
		t.Fatalf("--final-pin-try: %v", err)
	}
	if f.Logins() != 2 {
		t.Errorf("%d logins, want 2", f.Logins())
	}
}

func TestPINCountLowWarns(t *testing.T) {
	tok, f, s := faked(t, func(*hsmfake.Fake) uint { return pkcs11.CKF_USER_PIN_COUNT_LOW })
	var warned []string
	o := hsm.LoginOptions{Warn: func(m string) {
		if f.Logins() != 0 {
			t.Error("warned after the PIN was tried")
		}
		warned = append(warned, m)
	}}
	if st, err := s.CheckPIN(o); err != nil || !st.CountLow {
		t.Fatalf("CheckPIN: %+v %v", st, err)
	}
	if err := s.LoginWith([]byte(tok.PIN), o); err != nil {
		t.Fatal(err)
	}
	want := `token "vendor": a wrong PIN was entered since the last successful login (CKF_USER_PIN_COUNT_LOW): the token has fewer tries left; check the PIN before it is tried`
	if len(warned) != 1 || warned[0] != want {
		t.Errorf("warnings %q, want one: %q", warned, want)
	}
}

func TestPINToBeChangedWarns(t *testing.T) {
	tok, _, s := faked(t, func(*hsmfake.Fake) uint { return pkcs11.CKF_USER_PIN_TO_BE_CHANGED })
	var warned []string
	if err := s.LoginWith([]byte(tok.PIN), hsm.LoginOptions{Warn: func(m string) { warned = append(warned, m) }}); err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "CKF_USER_PIN_TO_BE_CHANGED") {
		t.Errorf("warnings %q", warned)
	}
}

// TestPINAfterFailure: after a wrong PIN the token's flags are read again
// and the error says what they report.
func TestPINAfterFailure(t *testing.T) {
	for _, c := range []struct {
		name  string
		after uint // flags once a login was tried
		want  string
		is    error
	}{
		{"low", pkcs11.CKF_USER_PIN_COUNT_LOW, `hsm: C_Login (token "vendor"): CKR_PIN_INCORRECT: the PIN was not accepted; the token now reports fewer tries left: a wrong PIN was entered since the last successful login (CKF_USER_PIN_COUNT_LOW); it does not say how many remain`, nil},
		{"final", pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY, `hsm: C_Login (token "vendor"): CKR_PIN_INCORRECT: the PIN was not accepted; the token now reports one try left: the next wrong PIN locks the user PIN (CKF_USER_PIN_FINAL_TRY)`, hsm.ErrPINFinalTry},
		{"locked", pkcs11.CKF_USER_PIN_LOCKED, `hsm: C_Login (token "vendor"): CKR_PIN_INCORRECT: the PIN was not accepted; the token now reports that the user PIN is locked (CKF_USER_PIN_LOCKED)`, hsm.ErrPINLocked},
	} {
		t.Run(c.name, func(t *testing.T) {
			// SoftHSM sets COUNT_LOW itself after a wrong PIN; the
			// decorator hides it until then, and adds the rest.
			_, f, s := faked(t, func(f *hsmfake.Fake) uint { return 0 })
			f.TokenFlags = func(real uint) uint {
				if f.Logins() == 0 {
					return real &^ pkcs11.CKF_USER_PIN_COUNT_LOW
				}
				return real | c.after
			}
			err := s.Login([]byte("0000"))
			var pe *hsm.PINError
			if !errors.As(err, &pe) || !pe.Tried || !errors.Is(err, hsm.ErrPINIncorrect) {
				t.Fatalf("wrong PIN: %#v", err)
			}
			if err.Error() != c.want {
				t.Errorf("error\n%s\nwant\n%s", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error does not match %v", c.is)
			}
			if c.is != hsm.ErrPINLocked && errors.Is(err, hsm.ErrPINLocked) || c.is != hsm.ErrPINFinalTry && errors.Is(err, hsm.ErrPINFinalTry) {
				t.Errorf("error matches a sentinel the flags do not say")
			}
		})
	}
}

// TestPINLockedByLogin: a module that answers C_Login with CKR_PIN_LOCKED
// (its flags said nothing before) gives ErrPINLocked, with its advice.
func TestPINLockedByLogin(t *testing.T) {
	tok, f, s := faked(t, func(*hsmfake.Fake) uint { return 0 })
	f.Fail = map[string]error{"Login": pkcs11.Error(pkcs11.CKR_PIN_LOCKED)}
	err := s.Login([]byte(tok.PIN))
	if !errors.Is(err, hsm.ErrPINLocked) || !strings.Contains(err.Error(), "the security officer must unlock or reset it") {
		t.Fatalf("%v", err)
	}
}

// TestPINStateUnreadable: a token whose flags cannot be read is not tried.
func TestPINStateUnreadable(t *testing.T) {
	tok, f, s := faked(t, func(*hsmfake.Fake) uint { return 0 })
	f.Fail = map[string]error{"GetTokenInfo": pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)}
	err := s.Login([]byte(tok.PIN))
	if err == nil || !strings.Contains(err.Error(), "C_GetTokenInfo (token \"vendor\": reading its PIN state): CKR_DEVICE_ERROR") || f.Logins() != 0 {
		t.Fatalf("%v (%d logins)", err, f.Logins())
	}
}

// TestPINCountLowSoftHSM: SoftHSM itself sets CKF_USER_PIN_COUNT_LOW after a
// wrong PIN (kept in the token, so another process sees it) and clears it
// at the next good login; it never locks.
func TestPINCountLowSoftHSM(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	tok.WrongPIN(t) // another program, earlier
	s := tok.OpenWith(t, nil)
	var warned []string
	o := hsm.LoginOptions{Warn: func(m string) { warned = append(warned, m) }}
	if st, err := s.CheckPIN(o); err != nil || !st.CountLow || st.FinalTry || st.Locked {
		t.Fatalf("after a wrong PIN elsewhere: %+v %v", st, err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "CKF_USER_PIN_COUNT_LOW") {
		t.Fatalf("warnings %q", warned)
	}
	err := s.LoginWith([]byte("9999"), o)
	if !errors.Is(err, hsm.ErrPINIncorrect) || !strings.HasSuffix(err.Error(), "; the token now reports fewer tries left: a wrong PIN was entered since the last successful login (CKF_USER_PIN_COUNT_LOW); it does not say how many remain") {
		t.Fatalf("wrong PIN: %v", err)
	}
	if err := s.LoginWith([]byte(tok.PIN), o); err != nil {
		t.Fatal(err)
	}
	if len(warned) != 2 {
		t.Errorf("want the warning again before the next try: %q", warned)
	}
	if st, err := s.PINStatus(); err != nil || st != (hsm.PINStatus{}) {
		t.Errorf("after a good login: %+v %v", st, err)
	}
}

package hsm

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/miekg/pkcs11"
)

// ErrPINFinalTry: the token reports that the next wrong PIN locks it
// (CKF_USER_PIN_FINAL_TRY, or CKF_SO_PIN_FINAL_TRY for the security
// officer). A login refused for it tried no PIN ([PINError].Tried is
// false); a failed login that left the token there matches it too, with
// ErrPINIncorrect.
var ErrPINFinalTry = errors.New("hsm: final PIN try")

// PINStatus is what a token's flags (C_GetTokenInfo) say about a PIN's
// retry counter. Tokens that keep no counter, or do not report it, set
// none of them: no flag is no promise that tries are left.
type PINStatus struct {
	// SO says the flags are the security officer's (CKF_SO_PIN_*), not
	// the normal user's (CKF_USER_PIN_*).
	SO bool
	// CountLow: a wrong PIN has been entered since the last successful
	// login (PKCS#11 2.40: "an incorrect ... PIN has been entered at least
	// once since the last successful authentication").
	CountLow bool
	// FinalTry: the next wrong PIN locks the PIN.
	FinalTry bool
	// Locked: the PIN is locked; no login is possible until the security
	// officer unlocks or resets it.
	Locked bool
	// ToBeChanged: the PIN is still the initial one, or has expired.
	ToBeChanged bool
}

// PINStatusOf reads the user's (or, with so, the security officer's) PIN
// flags out of a token's flags.
func PINStatusOf(flags uint, so bool) PINStatus {
	low, final, locked, change := uint(pkcs11.CKF_USER_PIN_COUNT_LOW), uint(pkcs11.CKF_USER_PIN_FINAL_TRY), uint(pkcs11.CKF_USER_PIN_LOCKED), uint(pkcs11.CKF_USER_PIN_TO_BE_CHANGED)
	if so {
		low, final, locked, change = pkcs11.CKF_SO_PIN_COUNT_LOW, pkcs11.CKF_SO_PIN_FINAL_TRY, pkcs11.CKF_SO_PIN_LOCKED, pkcs11.CKF_SO_PIN_TO_BE_CHANGED
	}
	return PINStatus{SO: so, CountLow: flags&low != 0, FinalTry: flags&final != 0, Locked: flags&locked != 0, ToBeChanged: flags&change != 0}
}

func (p PINStatus) flag(name string) string {
	if p.SO {
		return "CKF_SO_PIN_" + name
	}
	return "CKF_USER_PIN_" + name
}

func (p PINStatus) who() string {
	if p.SO {
		return "security officer's PIN"
	}
	return "user PIN"
}

// Tries says, for people, what the flags say about the tries left: "locked
// (CKF_USER_PIN_LOCKED)", "one try left: the next wrong PIN locks it
// (CKF_USER_PIN_FINAL_TRY)", "fewer tries left: a wrong PIN was entered
// since the last successful login (CKF_USER_PIN_COUNT_LOW)", or that the
// token reports nothing.
func (p PINStatus) Tries() string {
	switch {
	case p.Locked:
		return fmt.Sprintf("the %s is locked (%s)", p.who(), p.flag("LOCKED"))
	case p.FinalTry:
		return fmt.Sprintf("one try left: the next wrong PIN locks the %s (%s)", p.who(), p.flag("FINAL_TRY"))
	case p.CountLow:
		return fmt.Sprintf("fewer tries left: a wrong PIN was entered since the last successful login (%s); it does not say how many remain", p.flag("COUNT_LOW"))
	}
	return fmt.Sprintf("nothing about the tries left (no %s flag is set; it may still lock after more failures)", p.flag("*"))
}

// LoginOptions say how a login treats the token's PIN counter. Before
// every C_Login the token's flags are read again (C_GetTokenInfo):
//
//   - a locked PIN is refused with a [*PINError] matching [ErrPINLocked],
//     and no PIN is tried;
//   - on the final try the PIN is tried only when FinalTry is set or
//     ConfirmFinalTry says yes; otherwise a [*PINError] matching
//     [ErrPINFinalTry], and no PIN is tried;
//   - a low count (a wrong PIN entered since the last successful login)
//     and a PIN to be changed are passed to Warn first.
//
// After a wrong PIN the flags are read once more and the [*PINError] says
// what the token reports: fewer tries, the final try, locked.
type LoginOptions struct {
	// FinalTry says the person confirmed beforehand that the PIN may be
	// tried even when the token reports the final try (keyrite's
	// --final-pin-try).
	FinalTry bool
	// ConfirmFinalTry, when FinalTry is false and the token reports the
	// final try, asks the person whether to try the PIN anyway; question
	// names the token and says that a wrong PIN locks it. Nil refuses. An
	// error it returns (a cancelled prompt) is returned as it is.
	ConfirmFinalTry func(question string) (bool, error)
	// Warn is given warnings to show before a PIN is asked for or tried
	// (stderr, or the ceremony's UI). Nil drops them; the refusals and
	// errors above do not depend on it.
	Warn func(msg string)
}

// PINError is a login refused before any PIN was tried (the token's PIN is
// locked, or at its final try without a confirmation), or one that failed,
// with what the token's flags said then. It matches ErrPINLocked when the
// PIN is (now) locked and ErrPINFinalTry when it is (now) at its final try,
// and unwraps to the C_Login *Error when a PIN was tried, so that
// errors.Is(err, ErrPINIncorrect) holds after a wrong PIN.
type PINError struct {
	Token  string    // the token's label
	Status PINStatus // the flags read before the refusal, or after the failure
	// Tried says a PIN was sent to the token (C_Login), and may have
	// counted towards its lockout.
	Tried bool
	// Err is the C_Login error when Tried, else nil.
	Err error
}

func (e *PINError) Error() string {
	st := e.Status
	if !e.Tried {
		if st.Locked {
			return fmt.Sprintf("hsm: token %q: the %s is locked (%s); no PIN was tried", e.Token, st.who(), st.flag("LOCKED"))
		}
		return fmt.Sprintf("hsm: token %q reports that the next wrong PIN locks the %s (%s): this is the last try; no PIN was tried without a confirmation", e.Token, st.who(), st.flag("FINAL_TRY"))
	}
	msg := "hsm: C_Login"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	c, ok := Code(e.Err)
	if ok && c == pkcs11.CKR_PIN_LOCKED {
		return msg // its advice says what to do
	}
	if ok && c == pkcs11.CKR_PIN_INCORRECT {
		// The generic advice of CKR_PIN_INCORRECT is replaced by what the
		// token says now.
		msg = strings.TrimSuffix(msg, ": "+advice(c)) + ": the PIN was not accepted"
	}
	if st.Locked {
		return msg + fmt.Sprintf("; the token now reports that the %s is locked (%s)", st.who(), st.flag("LOCKED"))
	}
	return msg + "; the token now reports " + st.Tries()
}

// Unwrap returns the C_Login error (nil when no PIN was tried).
func (e *PINError) Unwrap() error { return e.Err }

// Is matches ErrPINLocked and ErrPINFinalTry by the token's flags.
func (e *PINError) Is(target error) bool {
	switch target {
	case ErrPINLocked:
		return e.Status.Locked
	case ErrPINFinalTry:
		return e.Status.FinalTry && !e.Status.Locked
	}
	return false
}

// PINStatus reads the token's flags now (C_GetTokenInfo) and returns what
// they say about the user PIN's retry counter.
func (s *Session) PINStatus() (PINStatus, error) { return s.pinStatus(false) }

func (s *Session) pinStatus(so bool) (PINStatus, error) {
	ti, err := s.p.GetTokenInfo(s.Slot.ID)
	if err != nil {
		return PINStatus{}, wrapErr("C_GetTokenInfo", fmt.Sprintf("token %q: reading its PIN state", s.Slot.Token.Label), err)
	}
	return PINStatusOf(ti.Flags, so), nil
}

// CheckPIN applies o to the token's flags as they are now, without trying
// a PIN: it refuses a locked PIN, asks about or refuses the final try, and
// warns of a low count. Call it before asking anyone for the PIN, so that
// nobody types a PIN that will not be tried; Login and LoginWith check
// again right before C_Login (a confirmation given here is not asked for
// again, and a warning given here is not repeated).
func (s *Session) CheckPIN(o LoginOptions) (PINStatus, error) { return s.checkPIN(false, o) }

func (s *Session) checkPIN(so bool, o LoginOptions) (PINStatus, error) {
	st, err := s.pinStatus(so)
	if err != nil {
		return st, err
	}
	label := s.Slot.Token.Label
	if st.Locked {
		return st, &PINError{Token: label, Status: st}
	}
	if st.CountLow && !s.warned.CountLow && o.Warn != nil {
		o.Warn(fmt.Sprintf("token %q: a wrong PIN was entered since the last successful login (%s): the token has fewer tries left; check the PIN before it is tried", label, st.flag("COUNT_LOW")))
	}
	if st.ToBeChanged && !s.warned.ToBeChanged && o.Warn != nil {
		o.Warn(fmt.Sprintf("token %q reports that its %s must be changed (%s: still the initial PIN, or expired); change it with the vendor's tool", label, st.who(), st.flag("TO_BE_CHANGED")))
	}
	s.warned.CountLow = s.warned.CountLow || st.CountLow
	s.warned.ToBeChanged = s.warned.ToBeChanged || st.ToBeChanged
	if st.FinalTry && !o.FinalTry && !s.finalTryOK {
		ok := false
		if o.ConfirmFinalTry != nil {
			q := fmt.Sprintf("Token %q reports that the next wrong PIN locks its %s: this is the last try. Try the PIN?", label, st.who())
			if ok, err = o.ConfirmFinalTry(q); err != nil {
				return st, err
			}
		}
		if !ok {
			return st, &PINError{Token: label, Status: st}
		}
		s.finalTryOK = true
	}
	return st, nil
}

// Login logs the normal user in with pin and wipes pin (best effort: the
// PKCS#11 binding makes a C copy, which it frees but does not clear). A token
// already logged in by this process (CKR_USER_ALREADY_LOGGED_IN) is fine. It
// is LoginWith with no options: a locked PIN and the final try are refused
// without trying the PIN.
func (s *Session) Login(pin []byte) error { return s.login(pkcs11.CKU_USER, pin, LoginOptions{}) }

// LoginWith is Login with the PIN counter treated as o says (see
// [LoginOptions]).
func (s *Session) LoginWith(pin []byte, o LoginOptions) error {
	return s.login(pkcs11.CKU_USER, pin, o)
}

// LoginSO logs the security officer in with pin and wipes pin, with the
// security officer's PIN flags treated as o says.
func (s *Session) LoginSO(pin []byte, o LoginOptions) error { return s.login(pkcs11.CKU_SO, pin, o) }

func (s *Session) login(user uint, pin []byte, o LoginOptions) error {
	defer clear(pin)
	label := s.Slot.Token.Label
	if len(pin) == 0 {
		return fmt.Errorf("hsm: empty PIN for token %q", label)
	}
	so := user == pkcs11.CKU_SO
	if _, err := s.checkPIN(so, o); err != nil {
		return err
	}
	// A confirmation of the final try is good for one try, and warnings
	// may be given again before the next.
	s.finalTryOK, s.warned = false, PINStatus{}
	// No Go string copy of the PIN: the string aliases pin, which is
	// cleared when we return; the binding copies it into C memory for the call.
	err := s.p.Login(s.h, user, unsafe.String(unsafe.SliceData(pin), len(pin)))
	if err == nil {
		return nil
	}
	c, ok := Code(err)
	switch {
	case ok && c == pkcs11.CKR_USER_ALREADY_LOGGED_IN:
		return nil
	case ok && (c == pkcs11.CKR_PIN_INCORRECT || c == pkcs11.CKR_PIN_LOCKED):
		lerr := wrapErr("C_Login", fmt.Sprintf("token %q", label), err)
		st, serr := s.pinStatus(so)
		if serr != nil {
			return lerr
		}
		if c == pkcs11.CKR_PIN_LOCKED {
			st.Locked = true
		}
		return &PINError{Token: label, Status: st, Tried: true, Err: lerr}
	}
	return wrapErr("C_Login", fmt.Sprintf("token %q", label), err)
}

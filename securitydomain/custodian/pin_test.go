package custodian_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/keyrite/keyrite/securitydomain/custodian"
)

// TestTokenPINCounter: the loader reads the token's PIN flags before it
// asks for the PIN. A wrong PIN entered earlier (SoftHSM then sets
// CKF_USER_PIN_COUNT_LOW) is a warning given before the prompt; a wrong
// PIN now is an ErrLogin saying what the token reports.
func TestTokenPINCounter(t *testing.T) {
	alice, _ := cards(t)
	alice.WrongPIN(t)
	var events []string
	opts := custodian.Options{
		PIN: func(prompt string) ([]byte, error) {
			events = append(events, "asked")
			return []byte("999999"), nil
		},
		Login: hsm.LoginOptions{Warn: func(m string) { events = append(events, "warning: "+m) }},
	}
	l := custodian.NewLoader(opts)
	defer l.Close()
	_, err := l.Open(alice.URI("wrap0"))
	wantErr(t, err, `CKR_PIN_INCORRECT: the PIN was not accepted; the token now reports fewer tries left`, custodian.ErrLogin, hsm.ErrPINIncorrect)
	if len(events) != 2 || !strings.HasPrefix(events[0], `warning: token "alice": a wrong PIN was entered since the last successful login (CKF_USER_PIN_COUNT_LOW)`) || events[1] != "asked" {
		t.Errorf("events %q: want the warning, then the prompt", events)
	}
}

// TestTokenPINSourceForm: a pin-source file in the wrong form (here with a
// UTF-8 byte-order mark) is refused before any PIN is tried: the token's
// flags show no wrong PIN afterwards.
func TestTokenPINSourceForm(t *testing.T) {
	alice, _ := cards(t)
	f := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(f, []byte("\xEF\xBB\xBF"+softhsmtest.PIN+"\n"), 0o600)
	l := custodian.NewLoader(custodian.Options{})
	_, err := l.Open(alice.URI("wrap0") + "&pin-source=" + f)
	wantErr(t, err, "the PIN file "+f+" starts with a UTF-8 byte-order mark; the PIN was not used", custodian.ErrNoSecret, secret.ErrForm)
	var fe *secret.FormError
	if !errors.As(err, &fe) {
		t.Errorf("no *secret.FormError in %v", err)
	}
	l.Close()
	if st, err := alice.OpenWith(t, nil).PINStatus(); err != nil || st.CountLow {
		t.Errorf("the token counted a try: %+v %v", st, err)
	}
}

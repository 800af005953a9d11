package export_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
)

// TestRunPINCounter: the export reads the token's PIN flags before it asks
// for the PIN: after a wrong PIN entered earlier (SoftHSM sets
// CKF_USER_PIN_COUNT_LOW), the warning comes before the prompt, and a wrong
// PIN now says what the token reports.
func TestRunPINCounter(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	tok.WriteSecretKey(t, make([]byte, 32), softhsmtest.Options{Label: "app-key", ID: "01", Extractable: true, Sensitive: true})
	tok.WrongPIN(t)
	var events []string
	req := export.Request{KEK: kek(t, mhsmKid), Keys: []string{tok.URI("app-key")}, Out: filepath.Join(t.TempDir(), "k.byok"),
		PIN:   func(string) ([]byte, error) { events = append(events, "asked"); return []byte("0000"), nil },
		Login: hsm.LoginOptions{Warn: func(m string) { events = append(events, "warning: "+m) }},
	}
	_, err := export.Run(req)
	if !errors.Is(err, hsm.ErrPINIncorrect) || errors.Is(err, hsm.ErrPINFinalTry) {
		t.Fatalf("wrong PIN: %v", err)
	}
	want := `hsm: C_Login (token "vendor"): CKR_PIN_INCORRECT: the PIN was not accepted; the token now reports fewer tries left: a wrong PIN was entered since the last successful login (CKF_USER_PIN_COUNT_LOW); it does not say how many remain`
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	if len(events) != 2 || !strings.HasPrefix(events[0], `warning: token "vendor": a wrong PIN was entered`) || events[1] != "asked" {
		t.Errorf("events %q: want the warning, then the prompt", events)
	}
	if h := err.(*export.Error).Hints(); len(h) != 1 || !strings.HasPrefix(h[0], "check the PIN") {
		t.Errorf("hints %q", h)
	}
}

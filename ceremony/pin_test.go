package ceremony_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/ceremonytest"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/hsmfake"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
)

// guidedLogin runs the guided BYOK export of a key on a real SoftHSM token
// whose PIN flags are what flags adds (through hsmfake). The backend logs
// in with the request's PIN and login options, as the real one does, then
// wraps in software. afterPIN are the answers after the PIN.
func guidedLogin(t *testing.T, flags uint, pin string, afterPIN ...string) (*ceremonytest.Script, *hsmfake.Fake, error) {
	t.Helper()
	tok := softhsmtest.New(t, "vendor")
	f := &hsmfake.Fake{PKCS11: pkcs11.New(tok.Module), TokenFlags: func(real uint) uint { return real | flags }}
	s := tok.OpenWith(t, f)
	dir := t.TempDir()
	uri := tok.URI("app-key")
	out := filepath.Join(dir, "app.byok")
	answers := append([]string{kekJSON, kekWords(t, kekJSON), "1", uri, out, "", "1", pin}, afterPIN...)
	ui := ceremonytest.New(t, answers...)
	e := engine(ui)
	e.Backends.Export = func(req ceremony.ExportRequest) (*ceremony.ExportResult, error) {
		if err := s.LoginWith(req.PIN, req.Login); err != nil {
			return nil, err
		}
		kek, err := byok.ParseKEK(mustRead(t, kekJSON), "")
		if err != nil {
			return nil, err
		}
		ct, err := byok.Wrap(kek, bytes.Repeat([]byte{7}, 32), rand.Reader)
		if err != nil {
			return nil, err
		}
		data := byok.NewBlob(kek, ct, "test").Marshal()
		res := &ceremony.ExportResult{Keys: []ceremony.ExportedKey{{Out: req.Out, Blob: data, Target: "AES-256"}}}
		return res, os.WriteFile(req.Out, data, 0o644)
	}
	err := e.BYOKExport()
	// Paths the log shows (random temp names, the module's URI) and hex
	// digests may hold the PIN's digits by chance: look for the PIN as a
	// word of its own elsewhere.
	log := strings.NewReplacer(dir, "DIR", uri, "URI", tok.Module, "MODULE").Replace(ui.Log())
	if regexp.MustCompile(`(^|[^0-9A-Za-z])` + regexp.QuoteMeta(softhsmtest.PIN) + `($|[^0-9A-Za-z])`).MatchString(log) {
		t.Error("the PIN is in the UI's log")
	}
	return ui, f, err
}

// TestGuidedFinalTry: on the final try the guided export asks a second
// question, after the PIN and before it is tried; no (the default answer)
// tries nothing.
func TestGuidedFinalTry(t *testing.T) {
	const question = `? Token "vendor" reports that the next wrong PIN locks its user PIN: this is the last try. Try the PIN? [y/n]`
	t.Run("no", func(t *testing.T) {
		ui, f, err := guidedLogin(t, pkcs11.CKF_USER_PIN_FINAL_TRY, softhsmtest.PIN, "n", "3")
		if !errors.Is(err, ceremony.ErrStopped) || !errors.Is(err, hsm.ErrPINFinalTry) || f.Logins() != 0 {
			t.Fatalf("%v (%d logins)\n%s", err, f.Logins(), ui.Log())
		}
		ui.Contains("warning: Last PIN try", "only its security officer can unlock it", question+" → no",
			"error: The export failed; nothing was written", "? What now?")
	})
	t.Run("yes", func(t *testing.T) {
		ui, f, err := guidedLogin(t, pkcs11.CKF_USER_PIN_FINAL_TRY, softhsmtest.PIN, "y")
		if err != nil || f.Logins() != 1 {
			t.Fatalf("%v (%d logins)\n%s", err, f.Logins(), ui.Log())
		}
		ui.Contains(question + " → yes")
	})
	t.Run("cancelled", func(t *testing.T) {
		ui, f, err := guidedLogin(t, pkcs11.CKF_USER_PIN_FINAL_TRY, softhsmtest.PIN, ceremonytest.Cancel)
		if !errors.Is(err, ceremony.ErrCancelled) || f.Logins() != 0 {
			t.Fatalf("%v (%d logins)\n%s", err, f.Logins(), ui.Log())
		}
	})
}

// TestGuidedLocked: a locked PIN is refused without a question or a try.
func TestGuidedLocked(t *testing.T) {
	ui, f, err := guidedLogin(t, pkcs11.CKF_USER_PIN_LOCKED, softhsmtest.PIN, "3")
	if !errors.Is(err, ceremony.ErrStopped) || !errors.Is(err, hsm.ErrPINLocked) || f.Logins() != 0 || strings.Contains(ui.Log(), "Try the PIN?") {
		t.Fatalf("%v (%d logins)\n%s", err, f.Logins(), ui.Log())
	}
	ui.Contains("the user PIN is locked")
}

// TestGuidedCountLow: a wrong PIN entered earlier is a warning, shown
// before the PIN is tried.
func TestGuidedCountLow(t *testing.T) {
	ui, f, err := guidedLogin(t, pkcs11.CKF_USER_PIN_COUNT_LOW, softhsmtest.PIN)
	if err != nil || f.Logins() != 1 {
		t.Fatalf("%v (%d logins)\n%s", err, f.Logins(), ui.Log())
	}
	ui.Contains(`warning: PIN tries`, `token "vendor": a wrong PIN was entered since the last successful login (CKF_USER_PIN_COUNT_LOW)`)
}

// TestGuidedPINControlCharacters: a PIN holding a control character (an
// arrow key's escape sequence) is refused as typed and asked again: it
// never reaches the token.
func TestGuidedPINControlCharacters(t *testing.T) {
	ui, f, err := guidedLogin(t, 0, "\x1b[A"+softhsmtest.PIN, softhsmtest.PIN)
	if err != nil || f.Logins() != 1 {
		t.Fatalf("%v (%d logins)\n%s", err, f.Logins(), ui.Log())
	}
	ui.Contains("error: the PIN entered holds a control character (U+001B); the PIN was not used")
}

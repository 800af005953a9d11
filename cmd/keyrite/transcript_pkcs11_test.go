package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/hsmfake"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/signop"
)

// runTranscriptCmd runs the command in-process and returns stdout, stderr and the
// exit code.
func runTranscriptCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	return out.String(), errb.String(), code
}

// TestTranscriptSignPKCS11 signs a ceremony with an ECDSA P-256 key
// generated on a SoftHSM token (PIN from --pin-env), cosigns with an Ed25519
// file key, and verifies against a trust file built from --print-key.
func TestTranscriptSignPKCS11(t *testing.T) {
	tok := softhsmtest.New(t, "witness-card")
	tok.Tool(t, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "bob-card", "--id", "0c")
	t.Setenv("TEST_CARD_PIN", tok.PIN)
	dir := filepath.Join(t.TempDir(), "ceremony")
	if err := transcripts.RecordStep(dir, transcripts.Event{Step: "selftest", Action: "ran the self-tests"}); err != nil {
		t.Fatal(err)
	}
	opKey := filepath.Join("testdata", "transcript", "operator.pem")

	uri := tok.URI("bob-card")
	vkCard, stderr, code := runTranscriptCmd(t, "transcript", "sign", "--key", uri, "--pin-env", "TEST_CARD_PIN", "--print-key")
	if code != 0 {
		t.Fatalf("print-key: %s", stderr)
	}
	vkOp, stderr, code := runTranscriptCmd(t, "transcript", "sign", "--key", opKey, "--print-key")
	if code != 0 {
		t.Fatalf("print-key: %s", stderr)
	}
	trust := map[string]any{
		"keys": []map[string]string{
			{"name": "bob-card", "role": "witness", "key": strings.TrimSpace(vkCard)},
			{"name": "operator", "role": "operator", "key": strings.TrimSpace(vkOp)},
		},
		"policy": map[string]int{"operator": 1, "witness": 1},
	}
	tb, _ := json.Marshal(trust)
	trustFile := filepath.Join(t.TempDir(), "trust.json")
	os.WriteFile(trustFile, tb, 0o644)

	if out, stderr, code := runTranscriptCmd(t, "transcript", "sign", dir, "--key", uri, "--pin-env", "TEST_CARD_PIN", "--role", "witness"); code != 0 {
		t.Fatalf("sign with the card: %s%s", out, stderr)
	}
	if _, stderr, code := runTranscriptCmd(t, "transcript", "sign", dir, "--key", opKey); code != 0 {
		t.Fatalf("sign with the file key: %s", stderr)
	}
	out, stderr, code := runTranscriptCmd(t, "transcript", "verify", dir, "--trust", trustFile, "--json")
	if code != 0 {
		t.Fatalf("verify: %s%s", out, stderr)
	}
	var rep transcripts.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, s := range rep.Checkpoints[0].Signatures {
		types[s.Name] = s.KeyType
	}
	if !rep.OK || types["bob-card"] != "ecdsa-p256" || types["operator"] != "ed25519" {
		t.Fatalf("report: ok=%v signatures %v", rep.OK, types)
	}
	// A wrong PIN is refused with the token's advice.
	t.Setenv("TEST_CARD_PIN", "999999")
	_, stderr, code = runTranscriptCmd(t, "transcript", "sign", dir, "--key", uri, "--pin-env", "TEST_CARD_PIN")
	if code != 1 || !strings.Contains(stderr, "CKR_PIN_INCORRECT") {
		t.Fatalf("wrong PIN: code %d, %s", code, stderr)
	}
}

// TestTranscriptSignPINCounter: transcript sign with a key on a card reads
// the token's PIN counter before it asks for the PIN, as the other commands
// do: a wrong PIN entered earlier is a warning (once), a locked PIN is
// refused without asking or trying, and the last try only with
// --final-pin-try; each refusal has the PIN counter's hint.
func TestTranscriptSignPINCounter(t *testing.T) {
	tok := softhsmtest.New(t, "witness-card")
	tok.Tool(t, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "bob-card", "--id", "0c")
	t.Setenv("TEST_CARD_PIN", tok.PIN)
	uri := tok.URI("bob-card")
	newCeremony := func() string {
		dir := filepath.Join(t.TempDir(), "ceremony")
		if err := transcripts.RecordStep(dir, transcripts.Event{Step: "selftest", Action: "ran the self-tests"}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	// flags plays the token's PIN counter in the check before the PIN is
	// asked for; the login is the real token's. The PIN comes from an unset
	// variable where it must not be asked for: asking would fail.
	flags := func(t *testing.T, add uint) {
		signop.LoadModule = func(path string) (*hsm.Module, error) {
			// A new decorator each time: closing the module destroys it.
			return hsm.LoadWith(&hsmfake.Fake{PKCS11: pkcs11.New(path), TokenFlags: func(real uint) uint { return real | add }}, path)
		}
		t.Cleanup(func() { signop.LoadModule = hsm.Load })
	}
	hint := func(t *testing.T, stderr, want string) {
		t.Helper()
		if !strings.Contains(stderr, "\nkeyrite: hint: "+want+"\n") {
			t.Errorf("want the hint %q:\n%s", want, stderr)
		}
	}

	t.Run("wrong PIN", func(t *testing.T) {
		t.Setenv("WRONG_PIN", "999999")
		_, stderr, code := runTranscriptCmd(t, "transcript", "sign", newCeremony(), "--key", uri, "--pin-env", "WRONG_PIN")
		if code != 1 || !strings.HasPrefix(stderr, `keyrite: error: hsm: C_Login (token "witness-card"): CKR_PIN_INCORRECT: the PIN was not accepted; the token now reports fewer tries left`) {
			t.Fatalf("code %d\n%s", code, stderr)
		}
		hint(t, stderr, "check the PIN; every failed login counts towards the token's lockout")
	})
	t.Run("count low", func(t *testing.T) {
		tok.WrongPIN(t)
		out, stderr, code := runTranscriptCmd(t, "transcript", "sign", newCeremony(), "--key", uri, "--pin-env", "TEST_CARD_PIN")
		if code != 0 {
			t.Fatalf("code %d\n%s%s", code, out, stderr)
		}
		const warning = `keyrite: warning: token "witness-card": a wrong PIN was entered since the last successful login (CKF_USER_PIN_COUNT_LOW): the token has fewer tries left; check the PIN before it is tried` + "\n"
		if stderr != warning {
			t.Errorf("stderr:\n%s\nwant the warning once:\n%s", stderr, warning)
		}
	})
	t.Run("locked", func(t *testing.T) {
		flags(t, pkcs11.CKF_USER_PIN_LOCKED)
		_, stderr, code := runTranscriptCmd(t, "transcript", "sign", newCeremony(), "--key", uri, "--pin-env", "NO_SUCH_PIN", "--final-pin-try")
		if code != 1 || !strings.HasPrefix(stderr, `keyrite: error: hsm: token "witness-card": the user PIN is locked (CKF_USER_PIN_LOCKED); no PIN was tried`+"\n") {
			t.Fatalf("code %d\n%s", code, stderr)
		}
		hint(t, stderr, hintPINLocked)
	})
	t.Run("final try refused", func(t *testing.T) {
		flags(t, pkcs11.CKF_USER_PIN_FINAL_TRY)
		dir := newCeremony()
		_, stderr, code := runTranscriptCmd(t, "transcript", "sign", dir, "--key", uri, "--pin-env", "NO_SUCH_PIN")
		if code != 1 || !strings.HasPrefix(stderr, `keyrite: error: hsm: token "witness-card" reports that the next wrong PIN locks the user PIN (CKF_USER_PIN_FINAL_TRY): this is the last try; no PIN was tried without a confirmation`+"\n") {
			t.Fatalf("code %d\n%s", code, stderr)
		}
		hint(t, stderr, hintPINFinalTry)
		if _, err := os.Stat(filepath.Join(dir, transcripts.SignaturesDir)); err == nil {
			t.Error("signatures written")
		}
	})
	t.Run("final try confirmed", func(t *testing.T) {
		flags(t, pkcs11.CKF_USER_PIN_FINAL_TRY)
		dir := newCeremony()
		out, stderr, code := runTranscriptCmd(t, "transcript", "sign", dir, "--key", uri, "--pin-env", "TEST_CARD_PIN", "--final-pin-try")
		if code != 0 || !strings.HasPrefix(out, "signed "+dir+" at size 2 as bob-card (operator)\n") {
			t.Fatalf("code %d\n%s%s", code, out, stderr)
		}
		// --print-key logs in too, and takes the flag the same way.
		if _, stderr, code := runTranscriptCmd(t, "transcript", "sign", "--key", uri, "--pin-env", "TEST_CARD_PIN", "--print-key"); code != 1 || !strings.Contains(stderr, "CKF_USER_PIN_FINAL_TRY") {
			t.Fatalf("print-key without --final-pin-try: code %d\n%s", code, stderr)
		}
	})
}

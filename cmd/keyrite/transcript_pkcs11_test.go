package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/transcripts"
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

package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/byok/export"
)

// importJSON is what a script reads of `import --json`.
type importJSON struct {
	Kid             *string  `json:"kid"`
	PublicKeyMatch  *bool    `json:"public_key_match"`
	KCVMatch        *bool    `json:"kcv_match"`
	Keys            int      `json:"keys"`
	Imported        int      `json:"imported"`
	AlreadyImported int      `json:"already_imported"`
	Verified        int      `json:"verified"`
	AllVerified     bool     `json:"all_verified"`
	OK              bool     `json:"ok"`
	Failed          []string `json:"failed"`
	Imports         []struct {
		Name           string `json:"name"`
		Kid            string `json:"kid"`
		PublicKeyMatch *bool  `json:"public_key_match"`
		PublicKeyCheck string `json:"public_key_check"`
		KCVMatch       *bool  `json:"kcv_match"`
		KCVCheck       string `json:"kcv_check"`
		Verified       bool   `json:"verified"`
	} `json:"imports"`
}

// TestImportBatchReport: a batch of an AES and an EC key reads truthfully:
// the top level says how many keys were imported and verified (AES by its
// key check value, EC by its public key), carries no single key's kid, and
// an AES key's public-key check is "not applicable" (null), never false.
func TestImportBatchReport(t *testing.T) {
	url, ca := startEmulator(t)
	t.Setenv("KR_TOKEN", "test-token")
	common := []string{"--ca", ca, "--token-env", "KR_TOKEN"}
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	hsm := url + "/mhsm/hsm1"

	kek := createKEK(t, hsm, in("kek.pem"), common)
	key := make([]byte, 32)
	rand.Read(key)
	os.WriteFile(in("app-aes.bin"), key, 0o600)
	ec, _ := os.ReadFile("../../testvectors/byok/target-ec-p256.pem")
	os.WriteFile(in("app-ec.pem"), ec, 0o600)
	if _, err := export.Run(export.Request{KEK: kek, Keys: []string{in("app-aes.bin"), in("app-ec.pem")}, OutDir: in("out"), CeremonyDir: in("batch")}); err != nil {
		t.Fatal(err)
	}
	if _, err := export.Run(export.Request{KEK: kek, Keys: []string{in("app-aes.bin")}, Name: "solo-aes", Out: in("solo.byok"), CeremonyDir: in("solo")}); err != nil {
		t.Fatal(err)
	}
	signCeremony(t, in("batch"))
	signCeremony(t, in("solo"))

	r := runCLI(t, append([]string{"import", "--ceremony", in("batch"), "--vault", hsm, "--json", "--trust-on-first-use"}, common...)...)
	r.want(t, 0)
	var got importJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if got.Kid != nil || !strings.Contains(r.stdout, `"kid": null`) || got.Keys != 2 || got.Imported != 2 || got.Verified != 2 || !got.AllVerified || !got.OK || len(got.Failed) != 0 {
		t.Errorf("summary %s", r.stdout)
	}
	if got.PublicKeyMatch == nil || !*got.PublicKeyMatch || got.KCVMatch == nil || !*got.KCVMatch {
		t.Errorf("summary checks %s", r.stdout)
	}
	for _, k := range got.Imports {
		switch {
		case k.Name == "app-aes" && (k.PublicKeyMatch != nil || k.PublicKeyCheck != "not applicable" || k.KCVCheck != "match" || !k.Verified):
			t.Errorf("AES key %+v", k)
		case k.Name == "app-ec" && (k.PublicKeyMatch == nil || !*k.PublicKeyMatch || k.PublicKeyCheck != "match" || k.KCVMatch != nil || !k.Verified):
			t.Errorf("EC key %+v", k)
		}
	}

	// A second run imports nothing and says so.
	r = runCLI(t, append([]string{"import", "--ceremony", in("batch"), "--vault", hsm, "--json", "--trust-on-first-use"}, common...)...)
	r.want(t, 0)
	got = importJSON{}
	json.Unmarshal([]byte(r.stdout), &got)
	if got.Imported != 0 || got.AlreadyImported != 2 || got.Verified != 2 || !got.AllVerified {
		t.Errorf("second run %s", r.stdout)
	}

	// One AES key: its kid at the top, public_key_match null, never false.
	r = runCLI(t, append([]string{"import", "--ceremony", in("solo"), "--vault", hsm, "--trust-on-first-use"}, common...)...)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "public key: not applicable (an AES key has no public part") || strings.Contains(r.stdout, "public_key_match=false") {
		t.Errorf("text %q", r.stdout)
	}
	r = runCLI(t, append([]string{"import", "--ceremony", in("solo"), "--vault", hsm, "--json", "--trust-on-first-use"}, common...)...)
	r.want(t, 0)
	got = importJSON{}
	json.Unmarshal([]byte(r.stdout), &got)
	if got.Kid == nil || !strings.Contains(*got.Kid, "/keys/solo-aes/") || got.PublicKeyMatch != nil || !strings.Contains(r.stdout, `"public_key_match": null`) {
		t.Errorf("one AES key %s", r.stdout)
	}
}

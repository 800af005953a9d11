package uploader

import (
	"crypto/aes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/internal/online/emulator"
	"github.com/keyrite/keyrite/transcripts"
)

// ecb3 is the first 3 bytes of AES-ECB(key, zero block), with crypto/aes.
func ecb3(t testing.TB, key []byte) []byte {
	t.Helper()
	c, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	c.Encrypt(b, b)
	return b[:3]
}

func TestImportBYOKKCV(t *testing.T) {
	env := newEnv(t, emulator.Config{})
	hsm := env.url + "/mhsm/hsm1"
	kek, err := env.client.CreateKEK(ctx(t), hsm, "kek", 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{16, 24, 32} {
		key := make([]byte, n)
		rand.Read(key)
		kcv := ecb3(t, key)
		blob := makeBYOK(t, kek, key)
		name := "aes" + string(rune('0'+n/8))
		res, err := env.client.ImportBYOK(ctx(t), hsm, ImportSpec{Name: name, Kty: "oct-HSM", KeyOps: []string{"encrypt", "decrypt"}, BYOK: blob, KCV: kcv, AESBits: 8 * n})
		if err != nil {
			t.Fatal(err)
		}
		if !res.KCVMatch || res.KCVMismatch || res.KCVService != hex.EncodeToString(kcv) || res.PublicKeyMatch ||
			!strings.Contains(res.MatchReason, "no public part") || !strings.Contains(res.MatchReason, "matches") {
			t.Errorf("AES-%d: %+v", 8*n, res)
		}
		// Another recorded KCV: a mismatch.
		bad := []byte{kcv[0] ^ 1, kcv[1], kcv[2]}
		res, err = env.client.ImportBYOK(ctx(t), hsm, ImportSpec{Name: name, Kty: "oct-HSM", KeyOps: []string{"encrypt"}, BYOK: blob, KCV: bad, AESBits: 8 * n})
		if err != nil {
			t.Fatal(err)
		}
		if res.KCVMatch || !res.KCVMismatch || !strings.Contains(res.KCVReason, "differs") {
			t.Errorf("AES-%d, wrong KCV: %+v", 8*n, res)
		}
	}
	key := make([]byte, 32)
	rand.Read(key)
	blob := makeBYOK(t, kek, key)
	for _, tc := range []struct {
		name string
		spec ImportSpec
		want string
	}{
		{"no-encrypt-op", ImportSpec{KeyOps: []string{"wrapKey", "unwrapKey"}, KCV: ecb3(t, key), AESBits: 256}, "key_ops do not include encrypt"},
		{"no-kcv", ImportSpec{KeyOps: []string{"encrypt"}, AESBits: 256}, "no key check value was recorded offline"},
		{"no-size", ImportSpec{KeyOps: []string{"encrypt"}, KCV: ecb3(t, key)}, "no AES key size"},
		{"wrong-size", ImportSpec{KeyOps: []string{"encrypt"}, KCV: ecb3(t, key), AESBits: 128}, "needs a 128-bit key"},
	} {
		s := tc.spec
		s.Name, s.Kty, s.BYOK = "other", "oct-HSM", blob
		res, err := env.client.ImportBYOK(ctx(t), hsm, s)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if res.KCVMatch || res.KCVMismatch || !strings.Contains(res.KCVReason, tc.want) {
			t.Errorf("%s: %+v; want a reason containing %q", tc.name, res, tc.want)
		}
	}
}

// aesCeremony exports the AES-256 key file with byok/export (as `keyrite
// byok export --ceremony` does) under a KEK made by the emulator, and
// returns the key.
func aesCeremony(t *testing.T, env *testEnv, hsm, dir string) []byte {
	t.Helper()
	kek, err := env.client.CreateKEK(ctx(t), hsm, "kek", 2048)
	if err != nil {
		t.Fatal(err)
	}
	k, err := byok.ParseKEK(kek.PEM, kek.Kid)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	src := filepath.Join(t.TempDir(), "app-aes.bin")
	if err := os.WriteFile(src, key, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := export.Run(export.Request{KEK: k, Keys: []string{src}, Out: filepath.Join(t.TempDir(), "app-aes.byok"), CeremonyDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys[0].KCV != hex.EncodeToString(ecb3(t, key)) {
		t.Fatalf("export KCV %q", res.Keys[0].KCV)
	}
	return key
}

func TestImportCeremonyKCV(t *testing.T) {
	env := newEnv(t, emulator.Config{})
	hsm := env.url + "/mhsm/hsm1"
	dir := filepath.Join(t.TempDir(), "ceremony")
	key := aesCeremony(t, env, hsm, dir)
	trust := sign(t, dir)
	out, err := env.client.ImportCeremony(ctx(t), dir, hsm, trust)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].KCVMatch == nil || !*out[0].KCVMatch || out[0].PublicKeyMatch != nil || !strings.Contains(out[0].KCVReason, "equals") {
		t.Fatalf("outcome %+v", out)
	}
	// An AES key has no public part: not applicable, never a false alarm.
	if out[0].PublicKeyCheck != CheckNotApplicable || out[0].KCVCheck != CheckMatch || !out[0].Verified {
		t.Fatalf("outcome checks %+v", out[0])
	}
	rep, err := transcripts.Verify(dir, trust)
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Events[len(rep.Events)-1]
	want := hex.EncodeToString(ecb3(t, key))
	for name, v := range map[string]string{"kcv_match": "true", "kcv": want, "kcv_service": want, "public_key_match": "not applicable", "public_key_check": "not applicable"} {
		if got, _ := param(&last, name); got != v {
			t.Errorf("recorded %s = %q; want %q", name, got, v)
		}
	}
	// A second run reports what the first recorded.
	out, err = env.client.ImportCeremony(ctx(t), dir, hsm, trust)
	if err != nil || len(out) != 1 || !out[0].Skipped || out[0].KCVMatch == nil || !*out[0].KCVMatch || out[0].PublicKeyMatch != nil || !out[0].Verified {
		t.Errorf("second run %+v, %v", out, err)
	}
}

// TestImportCeremonyKCVMismatch: an export whose recorded kcv is not the
// wrapped key's fails the import (ErrKCVMismatch), recorded as such.
func TestImportCeremonyKCVMismatch(t *testing.T) {
	env := newEnv(t, emulator.Config{})
	hsm := env.url + "/mhsm/hsm1"
	kek, err := env.client.CreateKEK(ctx(t), hsm, "kek", 2048)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	kcv := ecb3(t, key)
	kcv[2] ^= 0x80
	dir := filepath.Join(t.TempDir(), "ceremony")
	ev := transcripts.Event{
		Step: "byok.export", Action: "exported app-aes",
		Outputs: []transcripts.Artifact{transcripts.NewArtifact("app-aes.byok", transcripts.KindBYOK, makeBYOK(t, kek, key))},
		Params: []transcripts.Param{{Name: "kid", Value: kek.Kid}, {Name: "name", Value: "app-aes"}, {Name: "kty", Value: "oct-HSM"},
			{Name: "target", Value: "AES-256"}, {Name: "ops", Value: "encrypt,decrypt"}, {Name: "kcv", Value: hex.EncodeToString(kcv)}},
		Result: "ok",
	}
	if err := transcripts.RecordStep(dir, ev); err != nil {
		t.Fatal(err)
	}
	trust := sign(t, dir)
	out, err := env.client.ImportCeremony(ctx(t), dir, hsm, trust)
	if !errors.Is(err, ErrKCVMismatch) {
		t.Fatalf("err = %v", err)
	}
	if len(out) != 1 || !out[0].Mismatch || out[0].KCVMatch == nil || *out[0].KCVMatch {
		t.Errorf("outcome %+v", out)
	}
	rep, err := transcripts.Verify(dir, trust)
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Events[len(rep.Events)-1]
	if m, _ := param(&last, "kcv_match"); m != "false" || !strings.HasPrefix(last.Result, "failed: ") {
		t.Errorf("last event %+v", last)
	}
	if s, _ := param(&last, "kcv_service"); s != hex.EncodeToString(ecb3(t, key)) {
		t.Errorf("recorded kcv_service %q", s)
	}
}

func TestPlanRefusesBadKCV(t *testing.T) {
	env := newEnv(t, emulator.Config{})
	hsm := env.url + "/mhsm/hsm1"
	kek, err := env.client.CreateKEK(ctx(t), hsm, "kek", 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ target, kcv, want string }{
		{"AES-256", "0A1B2C", "expected 6 lowercase hex digits"},
		{"AES-256", "0a1b2c3d", "expected 6 lowercase hex digits"},
		{"RSA-2048", "0a1b2c", "a key check value belongs to an AES key"},
	} {
		dir := filepath.Join(t.TempDir(), "ceremony")
		ev := transcripts.Event{
			Step: "byok.export", Action: "exported app",
			Outputs: []transcripts.Artifact{transcripts.NewArtifact("app.byok", transcripts.KindBYOK, makeBYOK(t, kek, make([]byte, 32)))},
			Params:  []transcripts.Param{{Name: "name", Value: "app"}, {Name: "target", Value: tc.target}, {Name: "kcv", Value: tc.kcv}},
			Result:  "ok",
		}
		if err := transcripts.RecordStep(dir, ev); err != nil {
			t.Fatal(err)
		}
		trust := sign(t, dir)
		n := len(env.emu.Requests())
		_, err := env.client.ImportCeremony(ctx(t), dir, hsm, trust)
		if !errors.Is(err, ErrCeremony) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s kcv %q: %v", tc.target, tc.kcv, err)
		}
		if len(env.emu.Requests()) != n {
			t.Error("a bad kcv reached the service")
		}
	}
}

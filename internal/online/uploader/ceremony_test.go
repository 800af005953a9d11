package uploader

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/online/emulator"
	"github.com/keyrite/keyrite/transcripts"
)

// offlineExport records a byok.export the way the offline side does: the
// KEK as input, the .byok file (and, if pub is set, the target's public
// key) as outputs, and the name, target and kid as parameters.
func offlineExport(t *testing.T, dir string, k *KEK, name, target string, key any, withPub bool, extra ...transcripts.Param) {
	t.Helper()
	pt, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := makeBYOK(t, k, pt)
	kek, err := byok.ParseKEK(k.PEM, k.Kid)
	if err != nil {
		t.Fatal(err)
	}
	ev := transcripts.Event{
		Step:    "byok.export",
		Action:  "exported " + name,
		Inputs:  []transcripts.Artifact{transcripts.NewArtifact("kek-"+kek.Fingerprint().Hex()[:16]+".der", transcripts.KindKEK, kek.SPKI)},
		Outputs: []transcripts.Artifact{transcripts.NewArtifact(name+".byok", transcripts.KindBYOK, data)},
		Params: append([]transcripts.Param{
			{Name: "kid", Value: k.Kid}, {Name: "name", Value: name}, {Name: "target", Value: target},
		}, extra...),
		Result: "ok",
	}
	if withPub {
		var pub any
		switch key := key.(type) {
		case *rsa.PrivateKey:
			pub = &key.PublicKey
		case *ecdsa.PrivateKey:
			pub = &key.PublicKey
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		ev.Outputs = append(ev.Outputs, transcripts.NewArtifact(name+".pub.der", transcripts.KindPublicKey, der))
	}
	if err := transcripts.RecordStep(dir, ev); err != nil {
		t.Fatal(err)
	}
}

// param is what e records under name: the tests pin the recorded bytes,
// parameter by parameter.
func param(e *transcripts.Entry, name string) (string, bool) {
	for _, p := range e.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

func sign(t *testing.T, dir string) *transcripts.Trust {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := transcripts.NewSigner("alice", priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transcripts.Sign(dir, s, "operator"); err != nil {
		t.Fatal(err)
	}
	trust, err := transcripts.NewTrust([]transcripts.TrustedKey{{Name: "alice", Role: "operator", Key: s.VerifierKey()}}, map[string]int{"operator": 1})
	if err != nil {
		t.Fatal(err)
	}
	return trust
}

// demoVault serves an emulated Key Vault "demo" with a 2048-bit KEK "kek".
func demoVault(t *testing.T) (*testEnv, string, *KEK) {
	t.Helper()
	env := newEnv(t, emulator.Config{})
	vault := env.url + "/kv/demo"
	kek, err := env.client.CreateKEK(ctx(t), vault, "kek", 2048)
	if err != nil {
		t.Fatal(err)
	}
	return env, vault, kek
}

func TestImportCeremony(t *testing.T) {
	env, vault, kek := demoVault(t)
	dir := filepath.Join(t.TempDir(), "ceremony")
	rsaKey := readKey(t, "target_rsa2048.pem").(*rsa.PrivateKey)
	ecKey := readKey(t, "target_p256.pem").(*ecdsa.PrivateKey)
	offlineExport(t, dir, kek, "app-rsa", "RSA-2048", rsaKey, true, transcripts.Param{Name: "ops", Value: "sign,verify"})
	offlineExport(t, dir, kek, "app-ec", "EC P-256", ecKey, false)

	// Unsigned: refused before anything is sent.
	if _, err := env.client.ImportCeremony(ctx(t), dir, vault, nil); !errors.Is(err, ErrCeremony) || !strings.Contains(err.Error(), "no signed checkpoint") {
		t.Fatalf("unsigned ceremony: err = %v", err)
	}
	trust := sign(t, dir)

	out, err := env.client.ImportCeremony(ctx(t), dir, vault, trust)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Fatalf("outcomes %+v", out)
	}
	if !isTrue(out[0].PublicKeyMatch) || out[0].PublicKeyCheck != CheckMatch || !out[0].Verified || !strings.HasPrefix(out[0].Kid, "https://demo.vault.azure.net/keys/app-rsa/") {
		t.Errorf("rsa outcome %+v", out[0])
	}
	if out[1].PublicKeyMatch == nil || *out[1].PublicKeyMatch || out[1].PublicKeyCheck != CheckNotCompared || out[1].Verified || !strings.Contains(out[1].MatchReason, "records no public key") {
		t.Errorf("ec outcome %+v", out[1])
	}

	// The uploader's records keep the transcript verifying under the trust
	// policy, each naming the checkpoint it acted on.
	rep, err := transcripts.Verify(dir, trust)
	if err != nil {
		t.Fatalf("verify after import: %v", err)
	}
	var imports []transcripts.Entry
	for _, e := range rep.Events {
		if e.Step == StepImport {
			imports = append(imports, e)
		}
	}
	if len(imports) != 2 || imports[0].ActedOn == nil || imports[0].Actor.Role != "uploader" || imports[0].Result != "ok" {
		t.Fatalf("recorded imports %+v", imports)
	}
	if p, _ := param(&imports[0], "ops"); p != "sign,verify" {
		t.Errorf("recorded ops %q", p)
	}
	if p, _ := param(&imports[0], "public_key_match"); p != "true" {
		t.Errorf("recorded public_key_match %q", p)
	}

	// A second run imports nothing again: it asks the vault, which holds
	// the RSA key with the recorded public key (verified) and the EC key
	// the first run's note names (which nothing recorded lets it check).
	n := len(env.emu.Requests())
	out2, err := env.client.ImportCeremony(ctx(t), dir, vault, trust)
	if err != nil {
		t.Fatal(err)
	}
	if len(out2) != 2 || !out2[0].Skipped || !out2[1].Skipped || out2[0].Kid != out[0].Kid || !isTrue(out2[0].PublicKeyMatch) || !out2[0].Verified ||
		isTrue(out2[1].PublicKeyMatch) || out2[1].PublicKeyMatch == nil || out2[1].Verified || out2[1].Kid != out[1].Kid {
		t.Errorf("second run %+v", out2)
	}
	if puts(env, n) != 0 {
		t.Error("second run imported again")
	}
}

// puts counts the imports (PUT /keys/...) answered after the first n
// requests.
func puts(env *testEnv, n int) int {
	c := 0
	for _, r := range env.emu.Requests()[n:] {
		if r.Method == "PUT" && r.Authenticated {
			c++
		}
	}
	return c
}

// TestImportCeremonyNotesAreNotProof: the uploader's records after the
// signed state are notes nobody signed. A forged "already imported" note
// (correctly chained, naming the signed checkpoint, a made-up kid) does not
// stop the import of a key the vault does not hold; deleting the notes
// does not make a re-run import again what the vault holds.
func TestImportCeremonyNotesAreNotProof(t *testing.T) {
	env, vault, kek := demoVault(t)
	dir := filepath.Join(t.TempDir(), "ceremony")
	offlineExport(t, dir, kek, "app-rsa", "RSA-2048", readKey(t, "target_rsa2048.pem").(*rsa.PrivateKey), true)
	trust := sign(t, dir)
	rep, err := transcripts.Verify(dir, trust)
	if err != nil {
		t.Fatal(err)
	}
	forged := transcripts.Event{
		Step: StepImport, Actor: transcripts.Actor{Role: "uploader"}, ActedOn: rep.Policy.Checkpoint,
		Action: "imported app-rsa", Result: "ok",
		Params: []transcripts.Param{{Name: "export_seq", Value: "1"}, {Name: "kid", Value: "https://demo.vault.azure.net/keys/app-rsa/0123456789abcdef0123456789abcdef"},
			{Name: "public_key_match", Value: "true"}, {Name: "match_reason", Value: "forged"}},
	}
	cer, err := transcripts.OpenWith(dir, transcripts.Options{Role: "uploader"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cer.Record(forged); err != nil {
		t.Fatal(err)
	}
	cer.Close()

	n := len(env.emu.Requests())
	out, err := env.client.ImportCeremony(ctx(t), dir, vault, trust)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Skipped || !out[0].Verified || puts(env, n) != 1 || strings.Contains(out[0].Kid, "0123456789abcdef") {
		t.Fatalf("with a forged note: %+v, %d imports", out, puts(env, n))
	}

	// Without any note (the uploader's records deleted): the vault holds
	// the key, so nothing is imported again.
	fresh := filepath.Join(t.TempDir(), "again")
	offlineExport(t, fresh, kek, "app-rsa", "RSA-2048", readKey(t, "target_rsa2048.pem").(*rsa.PrivateKey), true)
	trust2 := sign(t, fresh)
	n = len(env.emu.Requests())
	out2, err := env.client.ImportCeremony(ctx(t), fresh, vault, trust2)
	if err != nil {
		t.Fatal(err)
	}
	if len(out2) != 1 || !out2[0].Skipped || !out2[0].Verified || out2[0].Kid != out[0].Kid || puts(env, n) != 0 {
		t.Fatalf("without notes: %+v, %d imports", out2, puts(env, n))
	}
}

func TestImportCeremonyRefusesTampering(t *testing.T) {
	env, vault, kek := demoVault(t)
	dir := filepath.Join(t.TempDir(), "ceremony")
	offlineExport(t, dir, kek, "app-rsa", "RSA-2048", readKey(t, "target_rsa2048.pem"), true)
	trust := sign(t, dir)
	p := filepath.Join(dir, transcripts.ArtifactsDir, "app-rsa.byok")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-10] ^= 1
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	n := len(env.emu.Requests())
	if _, err := env.client.ImportCeremony(ctx(t), dir, vault, trust); !errors.Is(err, ErrCeremony) {
		t.Fatalf("tampered artifact: err = %v", err)
	}
	if len(env.emu.Requests()) != n {
		t.Error("a tampered ceremony reached the service")
	}
}

func TestImportCeremonyFailureRecorded(t *testing.T) {
	env, vault, kek := demoVault(t)
	dir := filepath.Join(t.TempDir(), "ceremony")
	// An EC key recorded as RSA-2048: the service refuses it.
	offlineExport(t, dir, kek, "app", "RSA-2048", readKey(t, "target_p256.pem"), false)
	trust := sign(t, dir)
	_, err := env.client.ImportCeremony(ctx(t), dir, vault, trust)
	var se *ServiceError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "kty is RSA-HSM but the wrapped key is an EC P-256 key") {
		t.Fatalf("err = %v", err)
	}
	rep, err := transcripts.Verify(dir, trust)
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Events[len(rep.Events)-1]
	if last.Step != StepImport || !strings.HasPrefix(last.Result, "failed: ") || last.ActedOn == nil {
		t.Errorf("last event %+v", last)
	}
}

func TestImportCeremonyPublicKeyMismatch(t *testing.T) {
	env, vault, kek := demoVault(t)
	dir := filepath.Join(t.TempDir(), "ceremony")
	// The export records another key's public key than the one wrapped.
	rsaKey := readKey(t, "target_rsa2048.pem").(*rsa.PrivateKey)
	other := readKey(t, "wrap_0.pem").(*rsa.PrivateKey)
	der, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	pt, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	ev := transcripts.Event{
		Step: "byok.export", Action: "exported app",
		Outputs: []transcripts.Artifact{
			transcripts.NewArtifact("app.byok", transcripts.KindBYOK, makeBYOK(t, kek, pt)),
			transcripts.NewArtifact("app.pub.der", transcripts.KindPublicKey, der),
		},
		Params: []transcripts.Param{{Name: "name", Value: "app"}, {Name: "target", Value: "RSA-2048"}},
		Result: "ok",
	}
	if err := transcripts.RecordStep(dir, ev); err != nil {
		t.Fatal(err)
	}
	trust := sign(t, dir)
	_, err := env.client.ImportCeremony(ctx(t), dir, vault, trust)
	if !errors.Is(err, ErrPublicKeyMismatch) {
		t.Fatalf("err = %v", err)
	}
	rep, err := transcripts.Verify(dir, trust)
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Events[len(rep.Events)-1]
	if m, _ := param(&last, "public_key_match"); m != "false" || !strings.HasPrefix(last.Result, "failed: ") {
		t.Errorf("last event %+v", last)
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// TestPlanOldSpellings: an export recorded with the old spellings (key_ops,
// target_spki_sha256, a target without kty) plans as one recorded today.
func TestPlanOldSpellings(t *testing.T) {
	_, _, kek := demoVault(t)
	dir := filepath.Join(t.TempDir(), "ceremony")
	ecKey := readKey(t, "target_p256.pem").(*ecdsa.PrivateKey)
	der, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	sum := sha256.Sum256(der)
	offlineExport(t, dir, kek, "app-ec", "EC P-256", ecKey, false,
		transcripts.Param{Name: "key_ops", Value: "sign, verify"}, transcripts.Param{Name: "target_spki_sha256", Value: hex.EncodeToString(sum[:])})
	v, err := VerifyCeremony(dir, sign(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := PlanImports(v)
	if err != nil {
		t.Fatal(err)
	}
	s := plans[0].Spec
	if s.Kty != "EC-HSM" || s.Crv != "P-256" || strings.Join(s.KeyOps, ",") != "sign,verify" || s.Expected == nil || !s.Expected.(spkiHash).Equal(&ecKey.PublicKey) {
		t.Errorf("plan %+v", s)
	}
}

package transcripts

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
)

const testPIN = "Zq8-pin-7781xK" // distinctive, so a grep cannot match by chance

// TestNoSecretsInCeremony runs a ceremony whose inputs include a known PIN
// and known private keys (an Ed25519 signing key from a PEM file, an ECDSA
// key on a SoftHSM token unlocked with the PIN), tries to smuggle them in
// through every field, and then scans every file the ceremony wrote for the
// PIN and the key material in raw, hex, base64 and PEM forms.
func TestNoSecretsInCeremony(t *testing.T) {
	tok := softhsmtest.New(t, "signer")
	tok.Tool(t, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "witness-key", "--id", "0b")
	tok.Tool(t, "--change-pin", "--new-pin", testPIN)

	edPriv := edKey("operator-secret")
	der, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	rsaDER, err := x509.MarshalPKCS8PrivateKey(mustRSAKey(t))
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey(t, "ec-secret"))
	if err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "c")
	buildCeremony(t, dir, testOptions())

	// Every way of slipping a secret in is refused.
	b64 := base64.StdEncoding.EncodeToString
	attempts := map[string]Event{
		"param named pin":        {Step: "x.y", Action: "a", Params: []Param{{"pin", testPIN}}},
		"param named so_pin":     {Step: "x.y", Action: "a", Params: []Param{{"so_pin", testPIN}}},
		"param named password":   {Step: "x.y", Action: "a", Params: []Param{{"wrappingKeyPassword", testPIN}}},
		"param named share":      {Step: "x.y", Action: "a", Params: []Param{{"share", "01ab"}}},
		"URI with pin-value":     {Step: "x.y", Action: "a", Params: []Param{{"key", "pkcs11:token=signer;object=k?pin-value=" + testPIN}}},
		"PEM key in a param":     {Step: "x.y", Action: "a", Params: []Param{{"note", string(pemKey)}}},
		"base64 key in action":   {Step: "x.y", Action: "key " + b64(rsaDER)},
		"PEM key as artifact":    {Step: "x.y", Action: "a", Outputs: []Artifact{NewArtifact("k.pem", KindPublicKey, pemKey)}},
		"DER key as artifact":    {Step: "x.y", Action: "a", Outputs: []Artifact{NewArtifact("k.der", KindPublicKey, rsaDER)}},
		"SEC1 key inside a blob": {Step: "x.y", Action: "a", Outputs: []Artifact{NewArtifact("b.bin", KindReport, append(append([]byte("header"), ecDER...), "trailer"...))}},
		"base64 key in JSON":     {Step: "x.y", Action: "a", Outputs: []Artifact{NewArtifact("r.json", KindReport, []byte(`{"k":"`+b64(rsaDER)+`"}`))}},
		"JWK private key":        {Step: "x.y", Action: "a", Outputs: []Artifact{NewArtifact("k.jwk", KindServiceResponse, []byte(`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB"}`))}},
		"raw AES key":            {Step: "x.y", Action: "a", Outputs: []Artifact{NewArtifact("aes.key", KindReport, bytes.Repeat([]byte{0x9c, 0x01}, 16))}},
		"age identity":           {Step: "x.y", Action: "a", Deviations: []string{"AGE-SECRET-KEY-1QQQ"}},
		"kind not public":        {Step: "x.y", Action: "a", Outputs: []Artifact{NewArtifact("k", Kind("private-key"), []byte("x"))}},
	}
	for name, ev := range attempts {
		if err := RecordStep(dir, ev); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name != "kind not public" && !errors.Is(err, ErrSecret) {
			t.Errorf("%s: %v, want ErrSecret", name, err)
		}
	}

	// Sign with the file key and with the token key.
	keyFile := filepath.Join(t.TempDir(), "operator.pem")
	os.WriteFile(keyFile, pemKey, 0o600)
	k, err := ParseSigningKeyPEM(mustRead(t, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	op, err := NewSigner("operator", k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(dir, op, "operator"); err != nil {
		t.Fatal(err)
	}
	u, err := hsm.ParseURI(tok.URI("witness-key"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := hsm.OpenSigner(u, []byte(testPIN))
	if err != nil {
		t.Fatal(err)
	}
	wit, err := NewSigner("witness-key", ts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(dir, wit, "witness"); err != nil {
		t.Fatal(err)
	}
	ts.Close()
	trust, err := NewTrust([]TrustedKey{
		{Name: "operator", Role: "operator", Key: op.VerifierKey()},
		{Name: "witness-key", Role: "witness", Key: wit.VerifierKey()},
	}, map[string]int{"operator": 1, "witness": 1})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, trust)
	if err != nil {
		t.Fatalf("%v %+v", err, rep.Problems)
	}
	if ty := rep.Checkpoints[0].Signatures; len(ty) != 2 {
		t.Fatalf("signatures: %+v", ty)
	}
	_ = ecdsa.PublicKey{}

	seed := edPriv.Seed()
	needles := map[string][]byte{
		"PIN":                 []byte(testPIN),
		"PEM key":             pemKey,
		"PEM body line":       bytes.Split(pemKey, []byte("\n"))[1],
		"PKCS#8 DER":          der,
		"Ed25519 seed":        seed,
		"Ed25519 seed hex":    []byte(hex.EncodeToString(seed)),
		"Ed25519 seed base64": []byte(base64.StdEncoding.EncodeToString(seed)),
		"private key bytes":   []byte(ed25519.PrivateKey(edPriv)),
		"RSA DER":             rsaDER,
		"RSA DER base64":      []byte(b64(rsaDER)[:60]),
		"EC DER":              ecDER,
		"PRIVATE KEY marker":  []byte("PRIVATE KEY"),
	}
	files := readTree(t, dir)
	if len(files) < 7 {
		t.Fatalf("only %d files", len(files))
	}
	for name, data := range files {
		for what, needle := range needles {
			if bytes.Contains(data, needle) {
				t.Errorf("%s contains the %s", name, what)
			}
		}
		if why := secretInData(data); why != "" {
			t.Errorf("%s looks secret: %s", name, why)
		}
	}
	t.Logf("scanned %d files for %d secret forms", len(files), len(needles))
}

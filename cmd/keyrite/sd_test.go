package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
)

// runKeyrite runs the command in-process and returns its exit code and output.
func runKeyrite(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

func sdPayloads() []securitydomain.Payload {
	big := make([]byte, 12000)
	rand.Read(big)
	return []securitydomain.Payload{
		{Tag: "hsm_backup", Data: big},
		{Tag: "base_enclave_backup", Data: bytes.Repeat([]byte{7}, 869)},
		{Tag: "partition_enclave_backup", Data: []byte("partition")},
	}
}

// TestSDCeremonyOnTokens runs activation and a restore with custodian keys
// on separate SoftHSM tokens: keygen on 4 tokens (quorum 3), the service
// side makes the SD from the certificates keygen wrote, the drill passes
// with every key, the restore uses 3 of them through raw RSA, and the
// service side opens the blob to the original payloads.
func TestSDCeremonyOnTokens(t *testing.T) {
	conf, dir := softhsmtest.Env(t)
	var toks []*softhsmtest.Token
	for _, l := range []string{"alice", "bob", "carol", "dave"} {
		toks = append(toks, softhsmtest.AddToken(t, conf, dir, l))
	}
	t.Setenv("SD_PIN", softhsmtest.PIN)
	work := t.TempDir()
	outDir := filepath.Join(work, "activation")
	cer := filepath.Join(work, "ceremony")
	args := []string{"sd", "keygen", "--quorum", "3", "--out-dir", outDir, "--pin-env", "SD_PIN", "--ceremony", cer, "--json"}
	for _, tok := range toks {
		args = append(args, "--token", "pkcs11:token="+tok.Label+"?module-path="+tok.Module)
	}
	code, stdout, stderr := runKeyrite(t, args...)
	if code != 0 {
		t.Fatalf("keygen: exit %d\n%s", code, stderr)
	}
	var kg struct {
		Custodians []struct {
			Key, Cert string
		}
		DownloadRequest string `json:"download_request"`
	}
	if err := json.Unmarshal([]byte(stdout), &kg); err != nil {
		t.Fatal(err)
	}
	req, err := os.ReadFile(kg.DownloadRequest)
	if err != nil {
		t.Fatal(err)
	}
	// The service side reads the request and makes the SD.
	certs, quorum, err := securitydomain.ParseDownloadRequest(req)
	if err != nil || quorum != 3 || len(certs) != 4 {
		t.Fatalf("download request: %v", err)
	}
	payloads := sdPayloads()
	sdJSON, err := securitydomain.NewSecurityDomain(certs, quorum, payloads, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sdPath := filepath.Join(work, "sd.json")
	os.WriteFile(sdPath, sdJSON, 0o644)

	// Drill with every key.
	vargs := []string{"sd", "verify", "--sd", sdPath, "--pin-env", "SD_PIN"}
	for _, c := range kg.Custodians {
		vargs = append(vargs, "--wrapping-key", c.Key)
	}
	code, stdout, stderr = runKeyrite(t, vargs...)
	if code != 0 || !strings.Contains(stdout, "all 4 quorum subsets agree") || !strings.Contains(stdout, "RESTORABLE") {
		t.Fatalf("verify: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, securitydomain.MechRawOAEP) {
		t.Errorf("verify does not say the raw RSA path ran:\n%s", stdout)
	}

	// The exchange key: a software key standing in for the HSM's.
	exKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	exCert, err := securitydomain.SelfSignedCertificate(exKey, "exchange", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	exPath := filepath.Join(work, "exchange.json")
	tk, _ := securitydomain.TransferKeyJSON(exCert, "https://hsm.example/securitydomain/transfer_key")
	os.WriteFile(exPath, tk, 0o644)

	blobPath := filepath.Join(work, "blob.json")
	rargs := []string{"sd", "restore", "--sd", sdPath, "--exchange-key", exPath, "--out", blobPath, "--pin-env", "SD_PIN", "--ceremony", cer,
		"--wrapping-key", kg.Custodians[3].Key, "--wrapping-key", kg.Custodians[1].Key, "--wrapping-key", kg.Custodians[0].Key}
	code, stdout, stderr = runKeyrite(t, rargs...)
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, stdout, stderr)
	}
	blob, err := os.ReadFile(blobPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := securitydomain.OpenRestoreBlob(blob, exKey, exCert)
	if err != nil {
		t.Fatal(err)
	}
	for i := range payloads {
		if got[i].Tag != payloads[i].Tag || !bytes.Equal(got[i].Data, payloads[i].Data) {
			t.Fatalf("payload %s differs after restore", payloads[i].Tag)
		}
	}
	// The restore refuses to overwrite its output.
	code, _, stderr = runKeyrite(t, rargs...)
	if code != 1 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("second restore: exit %d\n%s", code, stderr)
	}
	// The transcript holds both steps.
	ents, err := os.ReadDir(cer)
	if err != nil {
		t.Fatalf("ceremony directory: %v", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	t.Logf("ceremony directory: %v", names)
	if tr, err := os.ReadFile(filepath.Join(cer, "transcript.jsonl")); err == nil {
		if !bytes.Contains(tr, []byte(`sd.keygen`)) || !bytes.Contains(tr, []byte(`sd.restore`)) {
			t.Errorf("transcript lacks the sd steps:\n%s", tr)
		}
		if bytes.Contains(tr, []byte("PRIVATE KEY")) || bytes.Contains(tr, []byte(`"`+softhsmtest.PIN+`"`)) {
			t.Error("transcript holds secret material")
		}
	}
	// The restore names each custodian's certificate as keygen wrote it,
	// with the same bytes: an auditor matches them by name and digest.
	rep, err := transcripts.Verify(cer, nil)
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]string{}
	for _, e := range rep.Events {
		for _, a := range e.Outputs {
			if e.Step == "sd.keygen" {
				written[a.Name] = a.SHA256
			}
		}
	}
	var matched []string
	for _, e := range rep.Events {
		for _, a := range e.Inputs {
			if e.Step == "sd.restore" && a.Kind == transcripts.KindCertificate {
				if written[a.Name] != a.SHA256 {
					t.Errorf("restore input %s (%s) is not keygen's output of that name (%s)", a.Name, a.SHA256, written[a.Name])
				}
				matched = append(matched, a.Name)
			}
		}
	}
	if strings.Join(matched, " ") != "wrap_3.cer wrap_1.cer wrap_0.cer" {
		t.Errorf("restore certificate inputs %v; want the three custodians' wrap_N.cer in the order used", matched)
	}
}

// TestSDTokenErrors pins what a custodian sees when the token side fails:
// no PIN source, a wrong PIN, no certificate on the token.
func TestSDTokenErrors(t *testing.T) {
	tok := softhsmtest.New(t, "erin")
	work := t.TempDir()
	outDir := filepath.Join(work, "act")
	// A rehearsal set of software keys; erin's key also goes on her token
	// (loaded with pkcs11-tool, without its certificate at first).
	if code, _, stderr := runKeyrite(t, "sd", "keygen", "--custodians", "3", "--quorum", "2", "--out-dir", outDir); code != 0 {
		t.Fatal(stderr)
	}
	keyPEM, _ := os.ReadFile(filepath.Join(outDir, "wrap_0.pem"))
	key, err := securitydomain.ParsePrivateKeyPEM(keyPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok.WritePrivateKey(t, key, softhsmtest.Options{Label: "wrap", ID: "0a", Sensitive: true})
	var certs []*x509.Certificate
	for i := range 3 {
		b, _ := os.ReadFile(filepath.Join(outDir, "wrap_"+string(rune('0'+i))+".cer"))
		c, err := securitydomain.ParseCertificate(b)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	sdJSON, _ := securitydomain.NewSecurityDomain(certs, 2, sdPayloads(), rand.Reader)
	sdPath := filepath.Join(work, "sd.json")
	os.WriteFile(sdPath, sdJSON, 0o644)
	uri := tok.URI("wrap")
	other := filepath.Join(outDir, "wrap_1.pem")

	// No certificate on the token, under the key's label or its CKA_ID.
	t.Setenv("SD_PIN", softhsmtest.PIN)
	code, _, stderr := runKeyrite(t, "sd", "verify", "--sd", sdPath, "--wrapping-key", uri, "--wrapping-key", other, "--pin-env", "SD_PIN")
	if code != 1 || !strings.Contains(stderr, `keyrite: error: custodian: hsm: object not found: no certificate with the key's id 0a on token "erin"`) ||
		!strings.Contains(stderr, "keyrite: hint: store the custodian's certificate on the token with the key's CKA_ID") {
		t.Fatalf("no certificate on the token: exit %d\n%s", code, stderr)
	}
	// The certificate under another label, with the key's CKA_ID, is found.
	tok.WriteCertificate(t, certs[0].Raw, softhsmtest.Options{Label: "erin-cert", ID: "0a"})
	t.Setenv("SD_PIN", "")
	os.Unsetenv("SD_PIN")

	// No terminal, no --pin-env: the PIN cannot be asked.
	code, _, stderr = runKeyrite(t, "sd", "verify", "--sd", sdPath, "--wrapping-key", uri, "--wrapping-key", other)
	if code != 1 || !strings.Contains(stderr, `keyrite: error: custodian: token "erin": no terminal to ask for the secret on`) ||
		!strings.Contains(stderr, "keyrite: hint: give the PIN with --pin-env NAME or --pin-file PATH") {
		t.Fatalf("no PIN source: exit %d\n%s", code, stderr)
	}
	// A wrong PIN.
	t.Setenv("SD_PIN", "999999")
	code, _, stderr = runKeyrite(t, "sd", "verify", "--sd", sdPath, "--wrapping-key", uri, "--wrapping-key", other, "--pin-env", "SD_PIN")
	if code != 1 || !strings.Contains(stderr, "CKR_PIN_INCORRECT") || strings.Contains(stderr, "999999") {
		t.Fatalf("wrong PIN: exit %d\n%s", code, stderr)
	}
	// The right PIN: the drill passes with one token key and one file key.
	t.Setenv("SD_PIN", softhsmtest.PIN)
	code, stdout, stderr := runKeyrite(t, "sd", "verify", "--sd", sdPath, "--wrapping-key", uri, "--wrapping-key", other, "--pin-env", "SD_PIN", "--json")
	if code != 0 || !strings.Contains(stdout, securitydomain.MechRawOAEP) || strings.Contains(stdout, `"`+softhsmtest.PIN+`"`) {
		t.Fatalf("drill: exit %d\n%s%s", code, stdout, stderr)
	}
}

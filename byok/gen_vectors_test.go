package byok

// TestGenerateVectors writes testvectors/byok. It runs only with
// -generate-vectors, once; the files are committed and the other tests read
// them. It never overwrites an existing file.
//
//	go test ./byok -run TestGenerateVectors -generate-vectors

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var generateVectors = flag.Bool("generate-vectors", false, "write missing files in testvectors/byok")

const vectorsDir = "../testvectors/byok"

// testVersion derives a fixed 32-hex-digit key version from a name.
func testVersion(name string) string {
	h := sha256.Sum256([]byte("keyrite test vector " + name))
	return hex.EncodeToString(h[:16])
}

func testKid(name string) string {
	return "https://keyrite-test.vault.azure.net/keys/" + name + "/" + testVersion(name)
}

func TestGenerateVectors(t *testing.T) {
	if !*generateVectors {
		t.Skip("run with -generate-vectors to (re)create missing test vectors")
	}
	dir := vectorsDir
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			t.Logf("keeping %s", name)
			return
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	openssl := func(args ...string) {
		out, err := exec.Command("openssl", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }

	// KEKs: private halves (the test stands in for the vault) and public forms.
	for _, bits := range []int{2048, 3072, 4096} {
		name := "kek-rsa" + strconv.Itoa(bits)
		if !exists(name + ".key.pem") {
			k, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				t.Fatal(err)
			}
			der, _ := x509.MarshalPKCS8PrivateKey(k)
			write(name+".key.pem", pemOf("PRIVATE KEY", der))
		}
		priv := readPrivate(t, filepath.Join(dir, name+".key.pem")).(*rsa.PrivateKey)
		spki, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		write(name+".pem", pemOf("PUBLIC KEY", spki))
		if bits == 2048 {
			write(name+".pkcs1.pem", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&priv.PublicKey)))
			write(name+".der", spki)
		}
		// As `az keyvault key show` prints it: every JWK member, null
		// when absent.
		jwkObj := map[string]any{
			"kid": testKid(name), "kty": "RSA-HSM", "key_ops": []string{"import"},
			"n":   base64.RawURLEncoding.EncodeToString(priv.N.Bytes()),
			"e":   base64.RawURLEncoding.EncodeToString(bigEndian(priv.E)),
			"crv": nil, "d": nil, "dp": nil, "dq": nil, "k": nil, "p": nil, "q": nil, "qi": nil, "t": nil, "x": nil, "y": nil,
		}
		show := map[string]any{
			"attributes": map[string]any{"created": "2026-11-01T10:00:00+00:00", "enabled": true, "exportable": false,
				"recoverableDays": 90, "recoveryLevel": "Recoverable", "updated": "2026-11-01T10:00:00+00:00"},
			"key": jwkObj, "managed": nil, "releasePolicy": nil, "tags": nil,
		}
		b, _ := json.MarshalIndent(show, "", "  ")
		write(name+".json", append(b, '\n'))
		if bits == 2048 {
			bare := map[string]any{}
			for k, v := range jwkObj {
				if v != nil {
					bare[k] = v
				}
			}
			b, _ = json.MarshalIndent(bare, "", "  ")
			write(name+".jwk.json", append(b, '\n'))
			jwkObj["key_ops"] = []string{"import", "wrapKey"}
			b, _ = json.MarshalIndent(show, "", "  ")
			write("kek-wrong-ops.json", append(b, '\n'))
			jwkObj["key_ops"] = []string{"import"}
		}
	}
	// Refused KEKs.
	if !exists("kek-rsa1024.pem") {
		k, _ := rsa.GenerateKey(rand.Reader, 1024)
		spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		write("kek-rsa1024.pem", pemOf("PUBLIC KEY", spki))
	}
	if !exists("kek-ec-p256.pem") {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		write("kek-ec-p256.pem", pemOf("PUBLIC KEY", spki))
	}
	write("kek-garbage.pem", []byte("this is not a key\n"))
	if pub, err := os.ReadFile(filepath.Join(dir, "kek-rsa2048.pem")); err == nil {
		write("kek-truncated.pem", pub[:len(pub)/2])
	}

	// Targets.
	for _, bits := range []int{1024, 2048, 3072, 4096} {
		name := "target-rsa" + strconv.Itoa(bits) + ".pem"
		if !exists(name) {
			k, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				t.Fatal(err)
			}
			der, _ := x509.MarshalPKCS8PrivateKey(k)
			write(name, pemOf("PRIVATE KEY", der))
			if bits == 2048 {
				write("target-rsa2048.pkcs1.pem", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k)))
			}
		}
	}
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		name := "target-ec-" + strings.ToLower(strings.ReplaceAll(c.Params().Name, "-", "")) + ".pem"
		if !exists(name) {
			k, _ := ecdsa.GenerateKey(c, rand.Reader)
			der, _ := x509.MarshalPKCS8PrivateKey(k)
			write(name, pemOf("PRIVATE KEY", der))
			sec1, _ := x509.MarshalECPrivateKey(k)
			write(strings.TrimSuffix(name, ".pem")+".sec1.pem", pemOf("EC PRIVATE KEY", sec1))
		}
	}
	for _, n := range []int{16, 24, 32} {
		name := "target-aes" + strconv.Itoa(8*n) + ".bin"
		if !exists(name) {
			k := make([]byte, n)
			rand.Read(k)
			write(name, k)
		}
	}
	if !exists("target-secp256k1.pem") {
		openssl("ecparam", "-name", "secp256k1", "-genkey", "-noout", "-out", filepath.Join(dir, "target-secp256k1.sec1.pem"))
		openssl("pkcs8", "-topk8", "-nocrypt", "-in", filepath.Join(dir, "target-secp256k1.sec1.pem"), "-out", filepath.Join(dir, "target-secp256k1.pem"))
	}
	if !exists("target-ed25519.pem") {
		openssl("genpkey", "-algorithm", "ed25519", "-out", filepath.Join(dir, "target-ed25519.pem"))
	}
	if !exists("target-encrypted.pem") {
		openssl("pkcs8", "-topk8", "-in", filepath.Join(dir, "target-ec-p256.pem"), "-v2", "aes-256-cbc", "-passout", "pass:keyrite-test", "-out", filepath.Join(dir, "target-encrypted.pem"))
	}
	if !exists("target-encrypted-legacy.pem") {
		openssl("ec", "-in", filepath.Join(dir, "target-ec-p256.pem"), "-aes256", "-passout", "pass:keyrite-test", "-out", filepath.Join(dir, "target-encrypted-legacy.pem"))
	}
	if !exists("target-ec-p256.openssl.pem") {
		// openssl ecparam -genkey's form: EC PARAMETERS then EC PRIVATE KEY.
		openssl("ecparam", "-name", "prime256v1", "-genkey", "-out", filepath.Join(dir, "target-ec-p256.openssl.pem"))
	}

	// Blobs: every target under the RSA-2048 KEK, and some under the others.
	type entry struct {
		Blob      string `json:"blob"`
		KEK       string `json:"kek"`
		Target    string `json:"target"`
		Type      string `json:"type"`
		Plaintext string `json:"plaintext"` // what the unwrapped plaintext must equal
	}
	var manifest []entry
	add := func(blob, kekName, target, plaintextNote string, pt []byte, padded bool) {
		kek := kekFromFile(t, filepath.Join(dir, kekName+".json"))
		if !exists(blob) {
			if padded {
				pt = append(append([]byte(nil), pt...), make([]byte, (8-len(pt)%8)%8)...)
			}
			ct, err := Wrap(kek, pt, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			write(blob, NewBlob(kek, ct, "keyrite test vectors; software wrap").Marshal())
		}
		tg, err := ParseTargetFile(mustRead(t, filepath.Join(dir, target)))
		if err != nil {
			t.Fatal(err)
		}
		manifest = append(manifest, entry{blob, kekName, target, tg.String(), plaintextNote})
	}
	targets := []string{"target-rsa2048.pem", "target-rsa3072.pem", "target-rsa4096.pem",
		"target-ec-p256.pem", "target-ec-p384.pem", "target-ec-p521.pem",
		"target-aes128.bin", "target-aes192.bin", "target-aes256.bin"}
	for _, tf := range targets {
		tg, _ := ParseTargetFile(mustRead(t, filepath.Join(dir, tf)))
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(tf, "target-"), ".pem"), ".bin")
		add(base+".kek-rsa2048.byok", "kek-rsa2048", tf, "canonical", tg.Plaintext, false)
	}
	for _, kb := range []string{"3072", "4096"} {
		for _, tf := range []string{"target-rsa4096.pem", "target-ec-p521.pem", "target-aes256.bin"} {
			tg, _ := ParseTargetFile(mustRead(t, filepath.Join(dir, tf)))
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(tf, "target-"), ".pem"), ".bin")
			add(base+".kek-rsa"+kb+".byok", "kek-rsa"+kb, tf, "canonical", tg.Plaintext, false)
		}
	}
	for _, tf := range []string{"target-ec-p256.pem", "target-rsa3072.pem"} {
		tg, _ := ParseTargetFile(mustRead(t, filepath.Join(dir, tf)))
		base := strings.TrimSuffix(strings.TrimPrefix(tf, "target-"), ".pem")
		add(base+".softhsm-padded.kek-rsa2048.byok", "kek-rsa2048", tf, "zero-padded", tg.Plaintext, true)
	}
	// A vendor-style variant: base64url with "=" padding, pretty-printed.
	if !exists("ec-p521.padded-b64.kek-rsa2048.byok") {
		b, err := ParseBlob(mustRead(t, filepath.Join(dir, "ec-p521.kek-rsa2048.byok")))
		if err != nil {
			t.Fatal(err)
		}
		s := "{\n  \"schema_version\": \"1.0.0\",\n  \"header\": {\n    \"kid\": \"" + b.Kid + "\",\n    \"alg\": \"dir\",\n    \"enc\": \"CKM_RSA_AES_KEY_WRAP\"\n  },\n  \"ciphertext\": \"" +
			base64.URLEncoding.EncodeToString(b.Ciphertext) + "\",\n  \"generator\": \"another BYOK tool 1.0; HSM vendor model firmware\"\n}\n"
		write("ec-p521.padded-b64.kek-rsa2048.byok", []byte(s))
	}
	manifest = append(manifest, entry{"ec-p521.padded-b64.kek-rsa2048.byok", "kek-rsa2048", "target-ec-p521.pem", "EC P-521", "canonical"})
	b, _ := json.MarshalIndent(manifest, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func bigEndian(e int) []byte {
	var b []byte
	for ; e > 0; e >>= 8 {
		b = append([]byte{byte(e)}, b...)
	}
	return b
}

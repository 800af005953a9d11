package byok

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestVectorBlobsOpenSSL unwraps every fixed blob with a third, unrelated
// implementation: the OpenSSL command line (pkeyutl RSA-OAEP-SHA1, then enc
// id-aes256-wrap-pad, RFC 5649 with its AIV as the IV). Skipped where
// openssl is not installed.
func TestVectorBlobsOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	if testing.Short() {
		t.Skip("spawns openssl")
	}
	dir := t.TempDir()
	for _, e := range readManifest(t) {
		t.Run(e.Blob, func(t *testing.T) {
			b, err := ParseBlob(mustRead(t, filepath.Join(vectorsDir, e.Blob)))
			if err != nil {
				t.Fatal(err)
			}
			k := kekPrivate(t, e.KEK).Size()
			rsaPart, kwpPart, aesFile, ptFile := filepath.Join(dir, "rsa"), filepath.Join(dir, "kwp"), filepath.Join(dir, "aes"), filepath.Join(dir, "pt")
			os.WriteFile(rsaPart, b.Ciphertext[:k], 0o600)
			os.WriteFile(kwpPart, b.Ciphertext[k:], 0o600)
			run := func(args ...string) {
				if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
					t.Fatalf("openssl %v: %v\n%s", args[0], err, out)
				}
			}
			run("pkeyutl", "-decrypt", "-inkey", filepath.Join(vectorsDir, e.KEK+".key.pem"),
				"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1", "-pkeyopt", "rsa_mgf1_md:sha1",
				"-in", rsaPart, "-out", aesFile)
			aes := mustRead(t, aesFile)
			if len(aes) != 32 {
				t.Fatalf("AES key is %d bytes", len(aes))
			}
			run("enc", "-d", "-id-aes256-wrap-pad", "-K", hex.EncodeToString(aes), "-iv", "A65959A6", "-in", kwpPart, "-out", ptFile)
			want := expectedPlaintext(t, e.Target)
			if e.Plaintext == "zero-padded" {
				want = append(append([]byte(nil), want...), make([]byte, (8-len(want)%8)%8)...)
			}
			if !bytes.Equal(mustRead(t, ptFile), want) {
				t.Fatal("OpenSSL's unwrap differs from the target")
			}
		})
	}
}

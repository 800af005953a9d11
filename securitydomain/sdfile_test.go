package securitydomain

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseSDVariants: the base64 form of the REST example parses to the
// same SD; white space around the file is ignored.
func TestParseSDVariants(t *testing.T) {
	raw := readFile(t, filepath.Join(vectorDir, "n3_q2_rsa2048", "sd.json"))
	for name, data := range map[string][]byte{
		"base64":           []byte(base64.StdEncoding.EncodeToString(raw)),
		"base64_wrapped":   []byte(wrap76(base64.StdEncoding.EncodeToString(raw))),
		"trailing_newline": append(append([]byte(nil), raw...), '\n'),
	} {
		sd, err := ParseSD(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(sd.Marshal()) != string(raw) {
			t.Fatalf("%s: a different SD", name)
		}
	}
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	return b.String() + s + "\n"
}

// TestParseSDRejects mutates the good SD one field at a time.
func TestParseSDRejects(t *testing.T) {
	good := string(readFile(t, filepath.Join(vectorDir, "negative", "sd_good.json")))
	sd, err := ParseSD([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	share0, share1 := sd.Shares[0], sd.Shares[1]
	data0 := sd.Data[0]
	parts := strings.Split(data0.CompactJWE, ".")
	for _, c := range []struct{ name, old, new, msg string }{
		{"unknown_key_algorithm", `"key_algorithm":"shamir_share"`, `"key_algorithm":"vault_shamir"`, `SharedKeys.key_algorithm is "vault_shamir", want "shamir_share"`},
		{"required_0", `"required":2`, `"required":0`, "SharedKeys.required is 0, want 2..10"},
		{"required_11", `"required":2`, `"required":11`, "SharedKeys.required is 11, want 2..10"},
		{"required_string", `"required":2`, `"required":"2"`, "SharedKeys.required: want an integer"},
		{"required_float", `"required":2`, `"required":2.5`, "SharedKeys.required: want an integer"},
		{"version_3", `"version":2`, `"version":3`, "version is 3, want 2"},
		{"kdf", `"kdf":"sp108_kdf"`, `"kdf":"hkdf"`, `EncData.kdf is "hkdf", want "sp108_kdf"`},
		{"case_of_key", `"EncData"`, `"encdata"`, `missing "EncData"`},
		{"unknown_key", `"version":2`, `"version":2,"extra":1`, `unexpected key "extra"`},
		{"duplicate_thumbprint", share1.X5T256, share0.X5T256, "repeats enc_shares[0]"},
		{"bad_thumbprint", share0.X5T256, "abc", "want the unpadded base64url of a SHA-256 digest"},
		{"missing_tag", parts[4], "", "tag is 0 bytes, want 32"},
		{"kid_not_tag", `"tag":"` + data0.Tag + `"`, `"tag":"other"`, `want "dir" and the tag "other"`},
		{"share_header", strings.Split(share0.EncKey, ".")[0], strings.Split(data0.CompactJWE, ".")[0], `JWE with alg "dir" has a 256-byte encrypted key`},
		{"empty_data", `"data":[`, `"data":[],"x":[`, `unexpected key "x"`},
		{"trailing_garbage", `"version":2}`, `"version":2}{}`, "unexpected data after the JSON object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.old) {
				t.Fatalf("%q not in the SD", c.old)
			}
			_, err := ParseSD([]byte(strings.Replace(good, c.old, c.new, 1)))
			if !errors.Is(err, ErrInvalidSD) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want %q", err, c.msg)
			}
		})
	}
}

// TestRestoreShareOAEPFailure: a share whose RSA part was altered fails
// with ErrDecryption naming the key (the CLI dies with a ValueError).
func TestRestoreShareOAEPFailure(t *testing.T) {
	ks := testKeys(t)["2048"]
	sdJSON, _ := NewSecurityDomain([]*x509.Certificate{ks[0].cert, ks[1].cert, ks[2].cert}, 2, testPayloads(), rand.Reader)
	sd, _ := ParseSD(sdJSON)
	sd.shares[0].encKey[5] ^= 1
	cs := []Custodian{{Name: "k0", Cert: ks[0].cert, Key: SoftwareKey(ks[0].key)}, {Name: "k1", Cert: ks[1].cert, Key: SoftwareKey(ks[1].key)}}
	_, err := Restore(sd, ks[9].cert, cs, rand.Reader)
	if !errors.Is(err, ErrDecryption) || !strings.Contains(err.Error(), "wrapping key k0: opening its share SharedKeys.enc_shares[0]") {
		t.Fatalf("%v", err)
	}
	// The exchange key must be RSA-2048 or larger, checked before any share opens.
	if _, err := Restore(sd, nil, cs, rand.Reader); err == nil {
		t.Fatal("nil exchange certificate accepted")
	}
}

package byok

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func vec(t testing.TB, name string) []byte { return mustRead(t, filepath.Join(vectorsDir, name)) }

// TestParseKEKForms checks that every form of the same key gives the same
// key and fingerprint, and the fingerprint is SHA-256 of the SPKI DER that
// the PEM file holds.
func TestParseKEKForms(t *testing.T) {
	block, _ := pem.Decode(vec(t, "kek-rsa2048.pem"))
	want := sha256.Sum256(block.Bytes)
	kid := testKid("kek-rsa2048")
	for _, tc := range []struct {
		file, source, kid string
	}{
		{"kek-rsa2048.pem", "pem-spki", ""},
		{"kek-rsa2048.pkcs1.pem", "pem-pkcs1", ""},
		{"kek-rsa2048.der", "der-spki", ""},
		{"kek-rsa2048.json", "jwk", kid},
		{"kek-rsa2048.jwk.json", "jwk", kid},
	} {
		t.Run(tc.file, func(t *testing.T) {
			k, err := ParseKEK(vec(t, tc.file), "")
			if err != nil {
				t.Fatal(err)
			}
			if k.Source != tc.source || k.Kid != tc.kid || k.Bits() != 2048 || k.Size() != 256 {
				t.Errorf("got source %s kid %q bits %d", k.Source, k.Kid, k.Bits())
			}
			if k.Fingerprint() != want || !bytes.Equal(k.SPKI, block.Bytes) {
				t.Errorf("fingerprint %s; want %x", k.Fingerprint().Hex(), want)
			}
			// An explicit kid: taken for PEM, must agree for JWK.
			k2, err := ParseKEK(vec(t, tc.file), kid)
			if err != nil || k2.Kid != kid {
				t.Errorf("with --kid: %v, %q", err, k2.Kid)
			}
		})
	}
	for _, bits := range []string{"3072", "4096"} {
		k, err := ParseKEK(vec(t, "kek-rsa"+bits+".pem"), "")
		if err != nil || strings.TrimSpace(bits) != itoa(k.Bits()) {
			t.Errorf("kek-rsa%s: %v", bits, err)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestParseKEKInvalid(t *testing.T) {
	kid := testKid("kek-rsa2048")
	other := "https://keyrite-test.vault.azure.net/keys/other/" + v32
	pemSPKI := vec(t, "kek-rsa2048.pem")
	show := vec(t, "kek-rsa2048.json")
	jwk := vec(t, "kek-rsa2048.jwk.json")
	edit := func(data []byte, f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	inner := func(f func(m map[string]any)) []byte {
		return edit(show, func(m map[string]any) { f(m["key"].(map[string]any)) })
	}
	priv := vec(t, "kek-rsa2048.key.pem")
	for name, tc := range map[string]struct {
		data     []byte
		kid      string
		want     string
		sentinel error
	}{
		"empty":            {nil, "", "file is empty", ErrKEK},
		"whitespace":       {[]byte(" \n"), "", "file is empty", ErrKEK},
		"garbage":          {vec(t, "kek-garbage.pem"), "", "not PEM, DER or JSON", ErrKEK},
		"truncated PEM":    {vec(t, "kek-truncated.pem"), "", "malformed or truncated", ErrKEK},
		"RSA-1024":         {vec(t, "kek-rsa1024.pem"), "", "RSA key is 1024 bits; expected 2048, 3072 or 4096", ErrKEK},
		"EC":               {vec(t, "kek-ec-p256.pem"), "", "public key is EC P-256; expected RSA", ErrKEK},
		"private key":      {priv, "", "holds a private key (PRIVATE KEY)", ErrKEK},
		"certificate":      {[]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"), "", "is a certificate", ErrKEK},
		"two blocks":       {append(bytes.Clone(pemSPKI), pemSPKI...), "", "more than one PEM block", ErrKEK},
		"text after":       {append(bytes.Clone(pemSPKI), "junk"...), "", "data after the PEM block", ErrKEK},
		"text before":      {append([]byte("junk\n"), pemSPKI...), "", "text before the PEM block", ErrKEK},
		"broken before":    {append([]byte("-----BEGIN X-----\nAAAA\n"), pemSPKI...), "", `malformed or truncated PEM block besides the "PUBLIC KEY" block`, ErrKEK},
		"wrong type":       {bytes.Replace(pemSPKI, []byte("PUBLIC KEY"), []byte("FOO KEY"), 2), "", `PEM block type is "FOO KEY"`, ErrKEK},
		"bad SPKI":         {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), "", "malformed or truncated", ErrKEK},
		"bad PKCS1":        {pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: []byte{0x30, 0}}), "", "PKCS#1 RSA public key is malformed", ErrKEK},
		"bad kid arg":      {pemSPKI, "http://x", "scheme", ErrKid},
		"kid mismatch":     {show, other, "differs from the kid in the file", ErrKidMismatch},
		"bare kid mismatc": {jwk, other, "differs from the kid in the file", ErrKidMismatch},
		"wrong ops":        {vec(t, "kek-wrong-ops.json"), "", `key.key_ops is ["import","wrapKey"]; expected exactly ["import"]`, ErrKEK},
		"ops missing":      {inner(func(m map[string]any) { delete(m, "key_ops") }), "", "key.key_ops is missing", ErrKEK},
		"ops empty":        {inner(func(m map[string]any) { m["key_ops"] = []string{} }), "", "key.key_ops is []", ErrKEK},
		"ops twice":        {inner(func(m map[string]any) { m["key_ops"] = []string{"import", "import"} }), "", `key_ops is ["import","import"]`, ErrKEK},
		"ops bare wrong":   {edit(jwk, func(m map[string]any) { m["key_ops"] = []string{"encrypt"} }), "", `key_ops is ["encrypt"]`, ErrKEK},
		"ops not array":    {inner(func(m map[string]any) { m["key_ops"] = "import" }), "", "wrong type", ErrKEK},
		"kty EC":           {inner(func(m map[string]any) { m["kty"] = "EC-HSM" }), "", `key.kty is "EC-HSM"`, ErrKEK},
		"kty missing":      {inner(func(m map[string]any) { delete(m, "kty") }), "", "key.kty is missing", ErrKEK},
		"no kid":           {inner(func(m map[string]any) { delete(m, "kid") }), "", "key.kid is missing", ErrKEK},
		"bad kid":          {inner(func(m map[string]any) { m["kid"] = "https://x.example.com/keys/a/" + v32 }), "", "key.kid: byok: invalid kid", ErrKid},
		"versionless kid":  {inner(func(m map[string]any) { m["kid"] = "https://x1x.vault.azure.net/keys/a" }), "", "has no key version", ErrKid},
		"private d":        {inner(func(m map[string]any) { m["d"] = "AQAB" }), "", "key.d is present: the file holds private key material", ErrKEK},
		"private qi":       {inner(func(m map[string]any) { m["qi"] = "AQAB" }), "", "key.qi is present", ErrKEK},
		"private bare p":   {edit(jwk, func(m map[string]any) { m["p"] = "AQAB" }), "", "p is present", ErrKEK},
		"no n":             {inner(func(m map[string]any) { delete(m, "n") }), "", "key.n or key.e is missing", ErrKEK},
		"n std b64":        {inner(func(m map[string]any) { m["n"] = "ab+/" }), "", "standard base64 alphabet", ErrKEK},
		"n empty":          {inner(func(m map[string]any) { m["n"] = "" }), "", "key.n: is empty", ErrKEK},
		"e even":           {inner(func(m map[string]any) { m["e"] = "AQAA" }), "", "public exponent is 65536", ErrKEK},
		"e huge":           {inner(func(m map[string]any) { m["e"] = "AQAAAAAB" }), "", "key.e is too large", ErrKEK},
		"n short":          {inner(func(m map[string]any) { m["n"] = "AQAB" }), "", "RSA key is 17 bits", ErrKEK},
		"neither":          {[]byte(`{"a":1}`), "", `neither a "key" member nor a "kty" member`, ErrKEK},
		"duplicate member": {[]byte(`{"kty":"RSA","kty":"RSA"}`), "", `member "kty" appears twice`, ErrKEK},
		"truncated JSON":   {show[:len(show)/2], "", "truncated JSON", ErrKEK},
		"JSON array":       {[]byte(`{"key":[1]}`), "", "wrong type", ErrKEK},
		"trailing JSON":    {append(bytes.Clone(show), "{}"...), "", "data after the JSON value", ErrKEK},
		"huge":             {bytes.Repeat([]byte{' '}, maxKEKFile+1), "", "at most a few KiB", ErrKEK},
	} {
		t.Run(name, func(t *testing.T) {
			k, err := ParseKEK(tc.data, tc.kid)
			if err == nil {
				t.Fatalf("accepted: %+v", k)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("err %v does not wrap %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "byok: ") && !strings.HasPrefix(err.Error(), "key.kid: byok: ") {
				t.Errorf("err = %v; want the package prefix", err)
			}
		})
	}
	_ = kid
}

// TestKEKErrorKinds: the refusals a hint depends on are told apart with
// errors.Is, never by their text.
func TestKEKErrorKinds(t *testing.T) {
	for name, tc := range map[string]struct {
		file string
		kind error
	}{
		"ec key":    {"kek-ec-p256.pem", ErrKEKType},
		"rsa-1024":  {"kek-rsa1024.pem", ErrKEKType},
		"wrong ops": {"kek-wrong-ops.json", ErrKEKOps},
		"not a key": {"kek-garbage.pem", nil},
		"truncated": {"kek-truncated.pem", nil},
	} {
		_, err := ParseKEK(vec(t, tc.file), "")
		if !errors.Is(err, ErrKEK) {
			t.Errorf("%s: %v, want ErrKEK", name, err)
		}
		for _, k := range []error{ErrKEKType, ErrKEKOps} {
			if errors.Is(err, k) != (k == tc.kind) {
				t.Errorf("%s: errors.Is(%v) = %v", name, k, !(k == tc.kind))
			}
		}
		if strings.Count(err.Error(), "byok: ") != 1 {
			t.Errorf("%s: %q", name, err)
		}
	}
}

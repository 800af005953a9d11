package byok

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fuzz targets for every parser. Their seed corpora (the test vectors) run
// as ordinary tests; longer runs happen outside CI:
//
//	go test ./byok -run '^$' -fuzz FuzzParseBlob -fuzztime 5m

func addVectors(f *testing.F, match func(name string) bool) {
	entries, err := os.ReadDir(vectorsDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if match(e.Name()) {
			f.Add(mustRead(f, filepath.Join(vectorsDir, e.Name())))
		}
	}
}

func FuzzParseBlob(f *testing.F) {
	addVectors(f, func(n string) bool { return strings.HasSuffix(n, ".byok") })
	f.Add([]byte(`{"schema_version":"1.0.0","header":{"kid":"https://a-b.vault.azure.net/keys/k/` + v32 + `","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"AAAA","generator":"\u2028"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBlob(data)
		if err != nil {
			return
		}
		m := b.Marshal()
		b2, err := ParseBlob(m)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, m)
		}
		if !bytes.Equal(b2.Marshal(), m) {
			t.Fatal("Marshal is not stable")
		}
		if b2.Kid != b.Kid || b2.Generator != b.Generator || !bytes.Equal(b2.Ciphertext, b.Ciphertext) {
			t.Fatal("round trip changed a field")
		}
		// Canonical inputs (what keyrite writes) round-trip byte for byte.
		if bytes.HasPrefix(data, []byte(`{"schema_version":"1.0.0","header":{"kid":"`)) && bytes.HasSuffix(data, []byte("}\n")) &&
			!bytes.ContainsAny(data, " \t\r=\\") && bytes.Count(data, []byte("\n")) == 1 && !bytes.Equal(m, data) &&
			bytes.Contains(data, []byte(`"},"ciphertext":"`)) && (b.Generator == "" || bytes.HasSuffix(data, []byte(`"generator":"`+b.Generator+`"}`+"\n"))) {
			t.Fatalf("canonical-looking input does not round-trip:\n%s\n%s", data, m)
		}
		_ = b.Describe(nil)
	})
}

func FuzzParseKid(f *testing.F) {
	for _, s := range []string{
		testKid("kek-rsa2048"),
		"https://contoso-hsm.managedhsm.azure.net/keys/k/" + v32,
		"https://kv1.vault.azure.cn/keys/k/" + v32,
		"http://x.vault.azure.net/keys/a",
		"https://user@x.vault.azure.net:443/keys/a/b?c#d",
		"https://xn--80ak6aa92e.vault.azure.net/keys/a/" + v32,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKid(s)
		if err != nil {
			return
		}
		if k.URL != s || k.VaultURL()+"/keys/"+k.Name+"/"+k.Version != s {
			t.Fatalf("accepted %q but it is not canonical: %+v", s, k)
		}
		if k.Service == "" || k.Cloud == "" || len(k.Version) != 32 {
			t.Fatalf("incomplete: %+v", k)
		}
	})
}

func FuzzParseKEK(f *testing.F) {
	addVectors(f, func(n string) bool { return strings.HasPrefix(n, "kek-") })
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKEK(data, "")
		if err != nil {
			return
		}
		if !containsInt(kekBits, k.Bits()) {
			t.Fatalf("accepted RSA-%d", k.Bits())
		}
		// The fingerprint is the same whichever form the key is given in.
		again, err := ParseKEK(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.SPKI}), k.Kid)
		if err != nil || again.Fingerprint() != k.Fingerprint() {
			t.Fatalf("SPKI of an accepted key does not re-parse the same: %v", err)
		}
	})
}

func FuzzParseTargetFile(f *testing.F) {
	addVectors(f, func(n string) bool { return strings.HasPrefix(n, "target-") })
	f.Fuzz(func(t *testing.T, data []byte) {
		tg, err := ParseTargetFile(data)
		if err != nil {
			return
		}
		info, err := ClassifyPlaintext(tg.Plaintext)
		if err != nil {
			t.Fatalf("accepted target's plaintext not recognised: %v", err)
		}
		if !info.Canonical || info.String() != tg.String() {
			t.Fatalf("accepted %s, plaintext classified %+v", tg, *info)
		}
	})
}

func FuzzClassifyPlaintext(f *testing.F) {
	addVectors(f, func(n string) bool { return strings.HasPrefix(n, "target-") && strings.HasSuffix(n, ".pem") })
	f.Fuzz(func(t *testing.T, data []byte) {
		if b, _ := pem.Decode(data); b != nil {
			data = b.Bytes
		}
		info, err := ClassifyPlaintext(data)
		if err != nil {
			return
		}
		if ok, why := IsCanonical(data); ok != info.Canonical || why != info.Reason {
			t.Fatal("IsCanonical disagrees with ClassifyPlaintext")
		}
	})
}

package emulator

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/byok"
)

// cbc encrypts pt with AES-CBC (no padding) under key and iv, with
// crypto/aes and crypto/cipher: the independent answer.
func cbc(t testing.TB, key, iv, pt []byte) []byte {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(pt))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, pt)
	return out
}

func encBody(alg string, value, iv []byte) string {
	m := map[string]string{"alg": alg, "value": b64u(value)}
	if iv != nil {
		m["iv"] = b64u(iv)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// importAES imports key into the HSM hsm1 as oct-HSM with ops, through a
// .byok wrapped under a KEK the emulator made, and returns the kid.
func importAES(t *testing.T, e *Emulator, name string, key []byte, ops []string) string {
	t.Helper()
	w := do(e, "POST", "/mhsm/hsm1/keys/kek/create?api-version=7.5", `{"kty":"RSA-HSM","key_size":2048,"key_ops":["import"]}`)
	if w.Code != 200 {
		t.Fatalf("create KEK: %d %s", w.Code, w.Body)
	}
	var kb keyBundle
	json.Unmarshal(w.Body.Bytes(), &kb)
	pub := &struct{ N, E []byte }{kb.Key.N, kb.Key.E}
	kek, err := byok.ParseKEK(jwkPEM(t, pub.N, pub.E), kb.Key.Kid)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := byok.Wrap(kek, key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blob := byok.NewBlob(kek, ct, "test").Marshal()
	body, _ := json.Marshal(map[string]any{"key": map[string]any{"kty": "oct-HSM", "key_ops": ops, "key_hsm": b64u(blob)}})
	w = do(e, "PUT", "/mhsm/hsm1/keys/"+name+"?api-version=7.5", string(body))
	if w.Code != 200 {
		t.Fatalf("import: %d %s", w.Code, w.Body)
	}
	json.Unmarshal(w.Body.Bytes(), &kb)
	return kb.Key.Kid
}

func jwkPEM(t *testing.T, n, e []byte) []byte {
	t.Helper()
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestEncryptImportedAES: an imported AES key encrypts as crypto/aes does
// (AES-CBC, no padding), by version and as the current version; its bytes
// are kept in a 0600 state file.
func TestEncryptImportedAES(t *testing.T) {
	e := newEmu(t)
	for _, n := range []int{16, 24, 32} {
		key := make([]byte, n)
		rand.Read(key)
		name := "aes" + string(rune('0'+n/8))
		kid := importAES(t, e, name, key, []string{"encrypt", "decrypt"})
		version := kid[strings.LastIndex(kid, "/")+1:]
		alg := map[int]string{16: "A128CBC", 24: "A192CBC", 32: "A256CBC"}[n]
		iv, pt := make([]byte, 16), make([]byte, 48)
		rand.Read(iv)
		rand.Read(pt)
		for _, path := range []string{"/keys/" + name + "/" + version + "/encrypt", "/keys/" + name + "/encrypt", "/keys/" + name + "//encrypt"} {
			w := do(e, "POST", "/mhsm/hsm1"+path+"?api-version=7.5", encBody(alg, pt, iv))
			if w.Code != 200 {
				t.Fatalf("%s: %d %s", path, w.Code, w.Body)
			}
			var res struct {
				Kid   string `json:"kid"`
				Value b64url `json:"value"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Kid != kid {
				t.Fatalf("%s: answer %s: %v", path, w.Body, err)
			}
			if want := cbc(t, key, iv, pt); !bytes.Equal(res.Value, want) {
				t.Errorf("%s: ciphertext differs from crypto/aes's", path)
			}
		}
		// The key check value the uploader asks for: zero iv, zero block.
		w := do(e, "POST", "/mhsm/hsm1/keys/"+name+"/encrypt?api-version=7.5", encBody(alg, make([]byte, 16), make([]byte, 16)))
		var res struct{ Value b64url }
		json.Unmarshal(w.Body.Bytes(), &res)
		kcv, _ := byok.KCV(key)
		if got, _ := byok.FormatKCV(res.Value); got != kcv {
			t.Errorf("AES-%d: KCV through encrypt %s; byok.KCV %s", 8*n, got, kcv)
		}
		// The state file holding the key bytes is 0600.
		p := filepath.Join(e.cfg.StateDir, "services", "mhsm-hsm1", "keys", name, version+".json")
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("state file %s: %v %v", p, st, err)
		}
	}
}

func TestEncryptRefusals(t *testing.T) {
	e := newEmu(t)
	key := make([]byte, 32)
	rand.Read(key)
	importAES(t, e, "enc", key, []string{"encrypt", "decrypt"})
	importAES(t, e, "wraponly", key, []string{"wrapKey", "unwrapKey"})
	if w := do(e, "POST", "/mhsm/hsm1/keys/rsa/create?api-version=7.5", `{"kty":"RSA-HSM","key_size":2048}`); w.Code != 200 {
		t.Fatalf("create RSA: %d %s", w.Code, w.Body)
	}
	if w := do(e, "POST", "/mhsm/hsm1/keys/off/create?api-version=7.5", `{"kty":"oct-HSM","key_size":256,"attributes":{"enabled":false}}`); w.Code != 200 {
		t.Fatalf("create disabled: %d %s", w.Code, w.Body)
	}
	z := make([]byte, 16)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"op not allowed", "POST", "/keys/wraponly/encrypt", encBody("A256CBC", z, z), 403, "Forbidden", "Operation encrypt is not permitted on this key."},
		{"disabled", "POST", "/keys/off/encrypt", encBody("A256CBC", z, z), 403, "Forbidden", "disabled key"},
		{"key size", "POST", "/keys/enc/encrypt", encBody("A128CBC", z, z), 400, "BadParameter", "A128CBC needs a 128-bit key; this key is 256 bits"},
		{"padded alg", "POST", "/keys/enc/encrypt", encBody("A256CBCPAD", z, z), 400, "BadParameter", `"A256CBCPAD" is not supported`},
		{"gcm", "POST", "/keys/enc/encrypt", encBody("A256GCM", z, z), 400, "BadParameter", "not supported"},
		{"no iv", "POST", "/keys/enc/encrypt", encBody("A256CBC", z, nil), 400, "BadParameter", "iv is required"},
		{"short iv", "POST", "/keys/enc/encrypt", encBody("A256CBC", z, make([]byte, 12)), 400, "BadParameter", "iv is 12 bytes"},
		{"partial block", "POST", "/keys/enc/encrypt", encBody("A256CBC", make([]byte, 20), z), 400, "BadParameter", "value is 20 bytes"},
		{"empty value", "POST", "/keys/enc/encrypt", `{"alg":"A256CBC","value":"","iv":"` + b64u(z) + `"}`, 400, "BadParameter", "value is required"},
		{"aad", "POST", "/keys/enc/encrypt", `{"alg":"A256CBC","value":"` + b64u(z) + `","iv":"` + b64u(z) + `","aad":"AA"}`, 400, "BadParameter", "aad and tag are not allowed"},
		{"no alg", "POST", "/keys/enc/encrypt", `{"value":"` + b64u(z) + `"}`, 400, "BadParameter", "alg is required"},
		{"bad base64", "POST", "/keys/enc/encrypt", `{"alg":"A256CBC","value":"!!","iv":"` + b64u(z) + `"}`, 400, "BadParameter", "not valid"},
		{"rsa key", "POST", "/keys/rsa/encrypt", encBody("A256CBC", z, z), 400, "BadParameter", "only for oct-HSM keys"},
		{"missing key", "POST", "/keys/nope/encrypt", encBody("A256CBC", z, z), 404, "KeyNotFound", "was not found"},
		{"missing version", "POST", "/keys/enc/0123/encrypt", encBody("A256CBC", z, z), 404, "KeyNotFound", "version 0123"},
		{"GET", "GET", "/keys/enc/encrypt", "", 405, "MethodNotAllowed", "not allowed"},
	} {
		w := do(e, tc.method, "/mhsm/hsm1"+tc.path+"?api-version=7.5", tc.body)
		code, msg := errorOf(t, w)
		if w.Code != tc.status || code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %s %q; want %d %s containing %q", tc.name, w.Code, code, msg, tc.status, tc.code, tc.msg)
		}
		if strings.Contains(w.Body.String(), b64u(key)) {
			t.Errorf("%s: the answer contains the key", tc.name)
		}
	}
	// A generated oct-HSM key encrypts too.
	w := do(e, "POST", "/mhsm/hsm1/keys/gen/create?api-version=7.5", `{"kty":"oct-HSM","key_size":128}`)
	if w.Code != 200 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if w := do(e, "POST", "/mhsm/hsm1/keys/gen/encrypt?api-version=7.5", encBody("A128CBC", z, z)); w.Code != 200 {
		t.Errorf("generated key: %d %s", w.Code, w.Body)
	}
}

func FuzzDecodeEncrypt(f *testing.F) {
	z := b64u(make([]byte, 16))
	for _, s := range []string{
		`{"alg":"A256CBC","value":"` + z + `","iv":"` + z + `"}`,
		`{"alg":"A128CBC","value":"` + z + `","iv":"` + z + `","aad":"AA"}`,
		`{"alg":"A256GCM","value":"` + z + `"}`,
		`{"alg":"A192CBC","value":"AA","iv":"AA"}`,
		`{"alg":null}`, `[]`, `{"value":1}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, bits := range []int{128, 192, 256} {
			req, perr := decodeEncrypt(body, bits)
			if perr != nil {
				if req != nil || perr.msg == "" {
					t.Fatalf("refusal with a request or no message: %v", perr)
				}
				continue
			}
			if cbcAlgs[*req.Alg] != bits || len(*req.IV) != 16 || len(*req.Value) == 0 || len(*req.Value)%16 != 0 {
				t.Fatalf("accepted %q", body)
			}
		}
	})
}

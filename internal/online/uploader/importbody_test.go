package uploader

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestImportBodyAsTheCLISends: the BYOK import request carries the key
// enabled explicitly (attributes.enabled true, as the az CLI sends it),
// key_hsm as the base64url of the .byok file, the declared kty and
// key_ops, and hsm true.
func TestImportBodyAsTheCLISends(t *testing.T) {
	var mu sync.Mutex
	var body []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		body = b
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":{"code":"BadParameter","message":"stop here"}}`))
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeCertPEM(t, ca, srv.Certificate().Raw)
	c, err := New(Config{CAFile: ca, Token: "t", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte(`{"schema_version":"1.0.0","header":{"kid":"k","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"AA","generator":"x"}`)
	_, err = c.ImportBYOK(ctx(t), srv.URL, ImportSpec{Name: "app", Kty: "RSA-HSM", KeyOps: []string{"sign", "verify"}, BYOK: blob})
	if err == nil {
		t.Fatal("the stand-in's refusal was not reported")
	}
	mu.Lock()
	defer mu.Unlock()
	var got struct {
		Hsm        *bool `json:"hsm"`
		Attributes *struct {
			Enabled *bool `json:"enabled"`
		} `json:"attributes"`
		Key struct {
			Kty    string   `json:"kty"`
			KeyOps []string `json:"key_ops"`
			KeyHSM string   `json:"key_hsm"`
		} `json:"key"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if got.Attributes == nil || got.Attributes.Enabled == nil || !*got.Attributes.Enabled {
		t.Errorf("attributes.enabled not true: %s", body)
	}
	if got.Hsm == nil || !*got.Hsm || got.Key.Kty != "RSA-HSM" || len(got.Key.KeyOps) != 2 {
		t.Errorf("body %s", body)
	}
	if dec, err := base64.RawURLEncoding.DecodeString(got.Key.KeyHSM); err != nil || string(dec) != string(blob) {
		t.Errorf("key_hsm %q is not the base64url of the .byok file (%v)", got.Key.KeyHSM, err)
	}
}

func writeCertPEM(t *testing.T, path string, der []byte) {
	t.Helper()
	p := "-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END CERTIFICATE-----\n"
	if err := os.WriteFile(path, []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
}

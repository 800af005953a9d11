package securitydomain

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const vectorDir = "../testvectors/sd"

type manifest struct {
	KDFKAT struct {
		KeyHex  string `json:"key_hex"`
		Label   string `json:"label"`
		Context string `json:"context"`
		Bits    int    `json:"bits"`
		OutHex  string `json:"out_hex"`
	} `json:"kdf_kat"`
	Sets []struct {
		Dir          string `json:"dir"`
		N            int    `json:"N"`
		Quorum       int    `json:"quorum"`
		SDFile       string `json:"sd_file"`
		WrappingKeys []struct {
			Index   int    `json:"index"`
			X       int    `json:"x"`
			Key     string `json:"key"`
			Cert    string `json:"cert"`
			RSABits int    `json:"rsa_bits"`
			X5T256  string `json:"x5t#S256"`
			X5T     string `json:"x5t"`
		} `json:"wrapping_keys"`
		RestoreWithKeys []string `json:"restore_with_keys"`
		ExchangeKey     string   `json:"exchange_private_key"`
		ExchangeCertCLI string   `json:"exchange_cert_from_cli_init_recovery"`
		ExchangeCertRef string   `json:"exchange_cert_reference"`
		ExchangeX5T256  string   `json:"exchange_cert_x5t#S256"`
		TransferKey     string   `json:"transfer_key_response"`
		DownloadRequest string   `json:"download_request_body_from_cli"`
		RestoreBlobCLI  string   `json:"restore_blob_from_cli"`
		UploadRequest   string   `json:"upload_request_body_from_cli"`
		Expected        string   `json:"expected_plaintexts"`
		KAT             struct {
			MasterKeyHex       string            `json:"master_key_hex"`
			SharePlaintextsHex []string          `json:"share_plaintexts_hex"`
			DerivedKeysHex     map[string]string `json:"derived_keys_hex"`
		} `json:"kat"`
	} `json:"sets"`
	Negative struct {
		Dir          string `json:"dir"`
		SDGood       string `json:"sd_good"`
		ExchangeKey  string `json:"exchange_private_key"`
		ExchangeCert string `json:"exchange_cert"`
		Expected     string `json:"expected_plaintexts"`
		Cases        []struct {
			Case            string   `json:"case"`
			SDFile          string   `json:"sd_file"`
			RestoreWithKeys []string `json:"restore_with_keys"`
			CLIRestoreBlob  string   `json:"cli_restore_blob"`
		} `json:"cases"`
	} `json:"negative"`
}

func loadManifest(t testing.TB) *manifest {
	t.Helper()
	var m manifest
	if err := json.Unmarshal(readFile(t, filepath.Join(vectorDir, "manifest.json")), &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readKey(t testing.TB, path string) *rsa.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKeyPEM(readFile(t, path), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return k
}

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	c, err := ParseCertificate(readFile(t, path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// custodiansFrom loads key files and their .cer certificates.
func custodiansFrom(t testing.TB, dir string, keys []string) []Custodian {
	t.Helper()
	var cs []Custodian
	for _, k := range keys {
		p := filepath.Join(dir, k)
		cs = append(cs, Custodian{Name: k, Cert: readCert(t, CertPathFor(p)), Key: SoftwareKey(readKey(t, p))})
	}
	return cs
}

func expectedPlaintexts(t testing.TB, path string) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(readFile(t, path), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func checkPayloads(t testing.TB, got []Payload, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d payloads, want %d", len(got), len(want))
	}
	for _, p := range got {
		if hex.EncodeToString(p.Data) != want[p.Tag] {
			t.Errorf("payload %q differs from the expected plaintext", p.Tag)
		}
	}
}

func TestKDFKnownAnswer(t *testing.T) {
	m := loadManifest(t)
	key, _ := hex.DecodeString(m.KDFKAT.KeyHex)
	out, err := KDF(key, m.KDFKAT.Label, m.KDFKAT.Context, m.KDFKAT.Bits)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(out) != m.KDFKAT.OutHex {
		t.Fatalf("KDF = %x, want %s", out, m.KDFKAT.OutHex)
	}
	for _, bits := range []int{0, -8, 7, 520, 1024} {
		if _, err := KDF(key, "l", "", bits); err == nil {
			t.Errorf("KDF(%d bits) succeeded", bits)
		}
	}
}

func TestVectors(t *testing.T) {
	m := loadManifest(t)
	for _, set := range m.Sets {
		t.Run(set.Dir, func(t *testing.T) {
			dir := filepath.Join(vectorDir, set.Dir)
			sdBytes := readFile(t, filepath.Join(dir, set.SDFile))
			sd, err := ParseSD(sdBytes)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sd.Marshal(), sdBytes) {
				t.Error("Marshal does not give back the service's bytes")
			}
			if sd.Required != set.Quorum || len(sd.Shares) != set.N {
				t.Fatalf("required %d shares %d, want %d and %d", sd.Required, len(sd.Shares), set.Quorum, set.N)
			}

			// Certificates, thumbprints and the CLI's download request.
			var certs []*x509.Certificate
			var all []string
			for i, wk := range set.WrappingKeys {
				c := readCert(t, filepath.Join(dir, wk.Cert))
				if X5T256(c) != wk.X5T256 || x5t(c) != wk.X5T || sd.Shares[i].X5T256 != wk.X5T256 {
					t.Errorf("%s: thumbprints differ", wk.Cert)
				}
				if c.PublicKey.(*rsa.PublicKey).N.BitLen() != wk.RSABits {
					t.Errorf("%s: not RSA-%d", wk.Cert, wk.RSABits)
				}
				certs = append(certs, c)
				all = append(all, wk.Key)
			}
			req, err := DownloadRequest(certs, set.Quorum)
			if err != nil {
				t.Fatal(err)
			}
			// The vector holds the CLI's body indented; on the wire it is
			// json.dumps' default layout (pinned byte for byte by
			// TestRecordedServiceSD): the same JSON.
			if want := readFile(t, filepath.Join(dir, set.DownloadRequest)); !sameJSON(t, req, want) {
				t.Errorf("download request differs from the CLI's:\n%s\nwant\n%s", req, want)
			}
			pc, q, err := ParseDownloadRequest(req)
			if err != nil || q != set.Quorum || len(pc) != len(certs) {
				t.Errorf("ParseDownloadRequest: %v", err)
			}

			// Known answers: shares, master key, derived keys.
			cs := custodiansFrom(t, dir, all)
			var shares [][]byte
			for i, c := range cs {
				j := sd.shares[sd.shareFor(X5T256(c.Cert))]
				pt, err := j.openRSA(c.Key)
				if err != nil {
					t.Fatalf("share %d: %v", i, err)
				}
				if hex.EncodeToString(pt) != set.KAT.SharePlaintextsHex[i] {
					t.Errorf("share %d plaintext differs", i)
				}
				if x, err := ShareX(pt); err != nil || x != set.WrappingKeys[i].X {
					t.Errorf("share %d: x = %d, %v; want %d", i, x, err, set.WrappingKeys[i].X)
				}
				shares = append(shares, pt)
			}
			forEachSubset(len(shares), set.Quorum, func(idx []int) {
				var sub [][]byte
				for _, k := range idx {
					sub = append(sub, shares[k])
				}
				mk, err := Combine(sub)
				if err != nil || hex.EncodeToString(mk) != set.KAT.MasterKeyHex {
					t.Errorf("subset %v: master %x, %v", idx, mk, err)
				}
			})
			mk, _ := hex.DecodeString(set.KAT.MasterKeyHex)
			for tag, want := range set.KAT.DerivedKeysHex {
				if got := hex.EncodeToString(dataKey(mk, tag)); got != want {
					t.Errorf("derived key %s = %s, want %s", tag, got, want)
				}
			}

			// Exchange key in all its forms.
			exCert := readCert(t, filepath.Join(dir, set.ExchangeCertRef))
			exKey := readKey(t, filepath.Join(dir, set.ExchangeKey))
			for _, f := range []string{set.ExchangeCertCLI, set.ExchangeCertRef, set.TransferKey} {
				c, err := ParseExchangeKey(readFile(t, filepath.Join(dir, f)))
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if !c.Equal(exCert) || X5T256(c) != set.ExchangeX5T256 {
					t.Errorf("%s: a different certificate", f)
				}
			}
			if got, want := ExchangeCertPEM(exCert), readFile(t, filepath.Join(dir, set.ExchangeCertCLI)); !bytes.Equal(got, want) {
				t.Errorf("ExchangeCertPEM differs from init-recovery's file:\n%s\nwant\n%s", got, want)
			}
			tk, err := TransferKeyJSON(exCert, "https://example.managedhsm.azure.net/securitydomain/transfer_key")
			if err != nil {
				t.Fatal(err)
			}
			if want := readFile(t, filepath.Join(dir, set.TransferKey)); !bytes.Equal(tk, want) {
				t.Errorf("TransferKeyJSON differs:\n%s\nwant\n%s", tk, want)
			}

			// The CLI's blob opens to the expected plaintexts.
			want := expectedPlaintexts(t, filepath.Join(dir, set.Expected))
			got, err := OpenRestoreBlob(readFile(t, filepath.Join(dir, set.RestoreBlobCLI)), exKey, exCert)
			if err != nil {
				t.Fatal(err)
			}
			checkPayloads(t, got, want)

			// Our restore with the manifest's keys, opened by the service side.
			res, err := Restore(sd, exCert, custodiansFrom(t, dir, set.RestoreWithKeys), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			blob := res.Blob.Marshal()
			checkBlobLayout(t, blob, readFile(t, filepath.Join(dir, set.RestoreBlobCLI)))
			got, err = OpenRestoreBlob(blob, exKey, exCert)
			if err != nil {
				t.Fatal(err)
			}
			checkPayloads(t, got, want)
		})
	}
}

// checkBlobLayout compares our blob's layout with the CLI's: the same bytes
// once every base64url string is blanked out.
func checkBlobLayout(t testing.TB, ours, cli []byte) {
	t.Helper()
	blank := func(b []byte) string {
		var out strings.Builder
		in := false
		for _, c := range string(b) {
			if c == '"' {
				in = !in
				out.WriteRune(c)
				continue
			}
			if !in || !(c == '.' || c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				out.WriteRune(c)
			}
		}
		return out.String()
	}
	if blank(ours) != blank(cli) {
		t.Errorf("blob layout differs from the CLI's:\n%s\nwant\n%s", blank(ours), blank(cli))
	}
	if bytes.HasSuffix(ours, []byte("\n")) {
		t.Error("blob ends with a newline")
	}
}

func forEachSubset(n, k int, f func([]int)) {
	idx := make([]int, k)
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth == k {
			f(append([]int(nil), idx...))
			return
		}
		for i := start; i < n; i++ {
			idx[depth] = i
			rec(i+1, depth+1)
		}
	}
	rec(0, 0)
}

func TestNegativeVectors(t *testing.T) {
	m := loadManifest(t)
	neg := m.Negative
	dir := filepath.Join(vectorDir, neg.Dir)
	exCert := readCert(t, filepath.Join(dir, neg.ExchangeCert))
	exKey := readKey(t, filepath.Join(dir, neg.ExchangeKey))
	want := expectedPlaintexts(t, filepath.Join(dir, neg.Expected))

	// The good SD restores with every pair.
	good, err := ParseSD(readFile(t, filepath.Join(dir, neg.SDGood)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Restore(good, exCert, custodiansFrom(t, dir, []string{"wrap_2.pem", "wrap_0.pem"}), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenRestoreBlob(res.Blob.Marshal(), exKey, exCert)
	if err != nil {
		t.Fatal(err)
	}
	checkPayloads(t, got, want)

	wantErr := map[string]struct {
		is  error
		msg string
	}{
		"foreign_cert_share":       {ErrInsufficientShares, "opened 1 of the 2 required (wrap_1.pem: securitydomain: no share for this certificate"},
		"fewer_keys_than_quorum":   {ErrTooFewKeys, "1 given, the security domain needs 2"},
		"fewer_shares_than_quorum": {ErrInsufficientShares, "the security domain holds 1 share, fewer than the 2 required"},
		"tampered_encdata_tag":     {ErrAuthentication, `EncData.data[1] (tag "base_enclave_backup")`},
		"truncated_encdata_tag":    {ErrInvalidSD, "EncData.data[0].compact_jwe: JWE authentication tag is 16 bytes, want 32"},
	}
	for _, c := range neg.Cases {
		t.Run(c.Case, func(t *testing.T) {
			w, ok := wantErr[c.Case]
			if !ok {
				t.Fatalf("no expectation for vector %s", c.Case)
			}
			sd, err := ParseSD(readFile(t, filepath.Join(dir, c.SDFile)))
			if err == nil {
				_, err = Restore(sd, exCert, custodiansFrom(t, dir, c.RestoreWithKeys), rand.Reader)
			}
			if err == nil {
				t.Fatal("restore succeeded")
			}
			if !errors.Is(err, w.is) || !strings.Contains(err.Error(), w.msg) {
				t.Fatalf("error %q, want %v containing %q", err, w.is, w.msg)
			}
			if c.CLIRestoreBlob != "" {
				// The CLI accepted this one; its blob still opens, which shows
				// the ciphertext itself was intact.
				got, err := OpenRestoreBlob(readFile(t, filepath.Join(dir, c.CLIRestoreBlob)), exKey, exCert)
				if err != nil {
					t.Fatal(err)
				}
				checkPayloads(t, got, want)
			}
		})
	}
}

// sameJSON reports whether a and b hold the same JSON value, key order
// included (compared after re-indenting both).
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var ia, ib bytes.Buffer
	if err := json.Indent(&ia, a, "", "  "); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if err := json.Indent(&ib, b, "", "  "); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return bytes.Equal(ia.Bytes(), ib.Bytes())
}

package securitydomain

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedFiles adds every vector file matching pattern to the corpus.
func seedFiles(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(filepath.Join(vectorDir, p))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// seedShrunk adds every vector file matching patterns and, when shrink
// returns one, a shrunk copy of it. The vectors are several kilobytes, and
// each execution and each minimization step costs in proportion (see
// TestMain); the shrunk copies have the same structure with one-block
// ciphertexts and 2-byte RSA ciphertexts, which the parsers do not tell
// apart from real ones (they do no cryptography), at a fifth of the size.
func seedShrunk(f *testing.F, shrink func([]byte) []byte, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(filepath.Join(vectorDir, p))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			if s := shrink(b); s != nil {
				f.Add(s)
			}
		}
	}
}

// shrinkJWE keeps a compact JWE's header, IV and tag and cuts its encrypted
// key (if any) to 2 bytes and its ciphertext to one block.
func shrinkJWE(s string) string {
	p := strings.Split(s, ".")
	if len(p) != 5 {
		return s
	}
	if p[1] != "" {
		p[1] = "AAA"
	}
	if len(p[3]) > 22 {
		p[3] = p[3][:21] + "A"
	}
	return strings.Join(p, ".")
}

// FuzzParseSD: no panic; whatever parses re-encodes to a form that parses to
// the same thing.
func FuzzParseSD(f *testing.F) {
	seedShrunk(f, func(b []byte) []byte {
		sd, err := ParseSD(b)
		if err != nil {
			return nil
		}
		for i := range sd.Data {
			sd.Data[i].CompactJWE = shrinkJWE(sd.Data[i].CompactJWE)
		}
		for i := range sd.Shares {
			sd.Shares[i].EncKey = shrinkJWE(sd.Shares[i].EncKey)
		}
		return sd.Marshal()
	}, "*/sd.json", "negative/*.json")
	f.Add([]byte(`{"EncData":{},"SharedKeys":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := ParseSD(data)
		if err != nil {
			return
		}
		enc := sd.Marshal()
		sd2, err := ParseSD(enc)
		if err != nil {
			t.Fatalf("re-encoded SD does not parse: %v", err)
		}
		if !bytes.Equal(sd2.Marshal(), enc) {
			t.Fatal("re-encoding is not stable")
		}
	})
}

// FuzzParseJWE: no panic; a parsed JWE re-serializes to the same string.
func FuzzParseJWE(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(vectorDir, "*/sd.json"))
	for _, name := range files {
		b, _ := os.ReadFile(name)
		if sd, err := ParseSD(b); err == nil {
			for _, d := range sd.Data {
				f.Add(shrinkJWE(d.CompactJWE))
			}
			for _, s := range sd.Shares {
				f.Add(shrinkJWE(s.EncKey))
			}
			f.Add(sd.Data[0].CompactJWE)
		}
	}
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, s string) {
		j, err := parseJWE(s)
		if err != nil {
			return
		}
		if j.String() != s {
			t.Fatalf("re-serialized JWE differs: %q", j.String())
		}
		key := make([]byte, 64)
		j.open(key) // must not panic
	})
}

// FuzzParseExchangeKey: no panic on any input.
func FuzzParseExchangeKey(f *testing.F) {
	seedFiles(f, "*/exchange_cert*.pem", "*/transfer_key_response.json")
	f.Add([]byte(`{"transfer_key": "{\"x5c\": []}"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseExchangeKey(data)
		if err != nil {
			return
		}
		if _, err := ParseExchangeKey(ExchangeCertPEM(c)); err != nil {
			t.Fatalf("a parsed exchange key does not survive ExchangeCertPEM: %v", err)
		}
	})
}

// FuzzParseRestoreBlob: no panic; a parsed blob re-encodes to a blob that
// parses to the same layout.
func FuzzParseRestoreBlob(f *testing.F) {
	seedShrunk(f, func(b []byte) []byte {
		rb, err := ParseRestoreBlob(b)
		if err != nil {
			return nil
		}
		for i := range rb.Data {
			rb.Data[i].CompactJWE = shrinkJWE(rb.Data[i].CompactJWE)
		}
		rb.EncKey = shrinkJWE(rb.EncKey)
		return rb.Marshal()
	}, "*/restore_blob.json", "negative/*cli_restore_blob.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseRestoreBlob(data)
		if err != nil {
			return
		}
		enc := b.Marshal()
		b2, err := ParseRestoreBlob(enc)
		if err != nil {
			t.Fatalf("re-encoded blob does not parse: %v", err)
		}
		if !bytes.Equal(b2.Marshal(), enc) {
			t.Fatal("re-encoding is not stable")
		}
	})
}

// FuzzShamirCombine: no panic; any success gives len/2 bytes, and shares
// made by Split always combine to the secret.
func FuzzShamirCombine(f *testing.F) {
	var m manifest
	if b, err := os.ReadFile(filepath.Join(vectorDir, "manifest.json")); err == nil && json.Unmarshal(b, &m) == nil {
		for _, s := range m.Sets {
			f.Add(strings.Join(s.KAT.SharePlaintextsHex, ","), uint8(s.Quorum))
		}
	}
	f.Add("0102,0104", uint8(2))
	f.Fuzz(func(t *testing.T, hexShares string, k uint8) {
		var shares [][]byte
		for _, h := range strings.Split(hexShares, ",") {
			b := make([]byte, len(h)/2)
			n := 0
			for i := 0; i+1 < len(h); i += 2 {
				var v byte
				for _, c := range h[i : i+2] {
					v <<= 4
					switch {
					case c >= '0' && c <= '9':
						v |= byte(c - '0')
					case c >= 'a' && c <= 'f':
						v |= byte(c - 'a' + 10)
					}
				}
				b[n] = v
				n++
			}
			shares = append(shares, b[:n])
		}
		if int(k) < len(shares) && k >= 2 {
			shares = shares[:k]
		}
		out, err := Combine(shares)
		if err == nil && len(out) != len(shares[0])/2 {
			t.Fatalf("Combine gave %d bytes from %d-byte shares", len(out), len(shares[0]))
		}
	})
}

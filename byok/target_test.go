package byok

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestParseTargetFileRefusals(t *testing.T) {
	ecPEM := vec(t, "target-ec-p256.pem")
	block, _ := pem.Decode(ecPEM)
	kekPub := vec(t, "kek-rsa2048.pem")
	for name, tc := range map[string]struct {
		data        []byte
		want        string
		unsupported bool
	}{
		"empty":           {nil, "file is empty", false},
		"RSA-1024":        {vec(t, "target-rsa1024.pem"), "RSA-1024 is not accepted for import; expected 2048, 3072 or 4096 bits", true},
		"secp256k1":       {vec(t, "target-secp256k1.pem"), "secp256k1 (P-256K) is not accepted for import", true},
		"secp256k1 SEC1":  {vec(t, "target-secp256k1.sec1.pem"), "secp256k1 (P-256K) is not accepted for import", true},
		"Ed25519":         {vec(t, "target-ed25519.pem"), "Ed25519 keys are not accepted for import", true},
		"encrypted PKCS8": {vec(t, "target-encrypted.pem"), "private key is encrypted (PKCS#8 ENCRYPTED PRIVATE KEY); decrypt it first", false},
		"encrypted PEM":   {vec(t, "target-encrypted-legacy.pem"), "EC PRIVATE KEY is encrypted (legacy PEM encryption)", false},
		"public key":      {kekPub, "file is a public key (PUBLIC KEY); expected the private key", false},
		"certificate":     {[]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"), "file is a certificate", false},
		"two keys":        {append(bytes.Clone(ecPEM), ecPEM...), `holds "PRIVATE KEY" and also "PRIVATE KEY"`, false},
		"key and cert":    {append(bytes.Clone(ecPEM), "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"...), `and also "CERTIFICATE"`, false},
		"truncated":       {ecPEM[:len(ecPEM)-30], "malformed or truncated", false},
		"junk after":      {append(bytes.Clone(ecPEM), "junk"...), "data after the last PEM block", false},
		"broken before":   {append([]byte("-----BEGIN X-----\nAAAA\n"), ecPEM...), "a PEM block is malformed or truncated", false},
		"bad DER":         {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: block.Bytes[:50]}), "PKCS#8 private key is malformed or truncated", false},
		"bad PKCS1":       {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{0x30, 0}}), "PKCS#1 RSA private key is malformed", false},
		"bad SEC1":        {pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{0x30, 0}}), "SEC1 EC private key is malformed", false},
		"openssh":         {[]byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), "OpenSSH private key format is not accepted", false},
		"headers":         {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"X": "y"}, Bytes: block.Bytes}), "PEM block has headers", false},
		"other type":      {pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{1}}), `PEM block type is "X509 CRL"`, false},
		"hex AES-128":     {[]byte(strings.Repeat("ab", 16)), "32 bytes of printable text (hex or base64?)", false},
		"base64 AES-128":  {[]byte("q83vEjRWeJCrze8SNFZ4kA=="), "24 bytes of printable text", false},
		"zero AES":        {make([]byte, 32), "all zero", false},
		"AES + newline":   {append(bytes.Repeat([]byte{0x91}, 32), '\n'), "33 bytes ending in a newline", false},
		"15 bytes":        {bytes.Repeat([]byte{0x91}, 15), "15 bytes: not PEM, and not a raw AES key of 16, 24 or 32 bytes", false},
		"DER":             {block.Bytes, "perhaps a DER key", false},
		"text":            {[]byte("hello there, this is not a key at all"), "text with no PEM block", false},
		"huge":            {make([]byte, maxTargetFile+1), "at most a few KiB", false},
	} {
		t.Run(name, func(t *testing.T) {
			tg, err := ParseTargetFile(tc.data)
			if err == nil {
				t.Fatalf("accepted %v", tg)
			}
			if !errors.Is(err, ErrTarget) {
				t.Errorf("does not wrap ErrTarget: %v", err)
			}
			if errors.Is(err, ErrUnsupported) != tc.unsupported {
				t.Errorf("errors.Is(ErrUnsupported) = %v: %v", !tc.unsupported, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestParseTargetFileAccepts(t *testing.T) {
	for file, want := range map[string]string{
		"target-rsa2048.pem": "RSA-2048", "target-rsa2048.pkcs1.pem": "RSA-2048",
		"target-rsa3072.pem": "RSA-3072", "target-rsa4096.pem": "RSA-4096",
		"target-ec-p256.pem": "EC P-256", "target-ec-p256.sec1.pem": "EC P-256", "target-ec-p256.openssl.pem": "EC P-256",
		"target-ec-p384.pem": "EC P-384", "target-ec-p521.sec1.pem": "EC P-521",
		"target-aes128.bin": "AES-128", "target-aes192.bin": "AES-192", "target-aes256.bin": "AES-256",
	} {
		tg, err := ParseTargetFile(vec(t, file))
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if tg.String() != want || tg.Type.JWKType() == "" {
			t.Errorf("%s: %s; want %s", file, tg, want)
		}
		if tg.Type == TypeEC && tg.Curve != strings.TrimPrefix(want, "EC ") {
			t.Errorf("%s: curve %q", file, tg.Curve)
		}
	}
	// Text before the block (as openssl pkcs12 writes "Bag Attributes") is allowed.
	data := append([]byte("Bag Attributes\n    localKeyID: 01\n"), vec(t, "target-ec-p256.pem")...)
	if _, err := ParseTargetFile(data); err != nil {
		t.Errorf("with leading text: %v", err)
	}
}

func TestClassifyPlaintext(t *testing.T) {
	ec := expectedPlaintext(t, "target-ec-p256.pem")
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(k) // inner key with curve OID: valid PKCS#8? no: SEC1
	for name, tc := range map[string]struct {
		pt        []byte
		typ       string
		canonical bool
		zeros     int
		err       string
	}{
		"AES-128":        {bytes.Repeat([]byte{1}, 16), "AES-128", true, 0, ""},
		"AES-256":        {bytes.Repeat([]byte{1}, 32), "AES-256", true, 0, ""},
		"EC canonical":   {ec, "EC P-256", true, 0, ""},
		"EC + 6 zeros":   {append(bytes.Clone(ec), make([]byte, 6)...), "EC P-256", false, 6, ""},
		"EC + junk":      {append(bytes.Clone(ec), 1, 2), "EC P-256", false, 0, ""},
		"EC + 9 zeros":   {append(bytes.Clone(ec), make([]byte, 9)...), "EC P-256", false, 0, ""},
		"SEC1 not PKCS8": {sec1, "", false, 0, "not a PKCS#8 private key"},
		"RSA-1024":       {expectedPlaintext(t, "target-rsa1024.pem"), "", false, 0, "RSA-1024 is not accepted"},
		"secp256k1":      {expectedPlaintext(t, "target-secp256k1.pem"), "", false, 0, "secp256k1 (P-256K) is not accepted"},
		"garbage":        {bytes.Repeat([]byte{7}, 40), "", false, 0, "neither an AES key"},
		"20 bytes":       {bytes.Repeat([]byte{7}, 20), "", false, 0, "neither an AES key"},
	} {
		t.Run(name, func(t *testing.T) {
			info, err := ClassifyPlaintext(tc.pt)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrPlaintext) {
					t.Fatalf("err = %v; want %q", err, tc.err)
				}
				if ok, why := IsCanonical(tc.pt); ok || why == "" {
					t.Errorf("IsCanonical = %v, %q", ok, why)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.String() != tc.typ || info.Canonical != tc.canonical || info.TrailingZeros != tc.zeros {
				t.Errorf("got %+v", *info)
			}
			if !tc.canonical && info.Reason == "" {
				t.Error("no reason given")
			}
			if ok, why := IsCanonical(tc.pt); ok != tc.canonical || why != info.Reason {
				t.Errorf("IsCanonical = %v, %q", ok, why)
			}
		})
	}
	// A PKCS#8 whose inner ECPrivateKey repeats the curve (valid, as
	// OpenSSL writes it) is recognised but not canonical.
	var p pkcs8
	if _, err := asn1Unmarshal(ec, &p); err != nil {
		t.Fatal(err)
	}
	p.PrivateKey = sec1
	p.Algo.Parameters.FullBytes = mustMarshalOID(t, oidP256)
	alt, err := asn1Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ClassifyPlaintext(alt)
	if err != nil || info.Canonical || !strings.Contains(info.Reason, "differs from the canonical encoding") {
		t.Errorf("alternative encoding: %+v, %v", info, err)
	}
}

func TestNewTarget(t *testing.T) {
	k224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if _, err := NewTarget(k224); err == nil || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "P-224 is not accepted") {
		t.Errorf("P-224: %v", err)
	}
	if _, err := NewTarget(make([]byte, 20)); err == nil || !errors.Is(err, ErrUnsupported) {
		t.Errorf("20-byte AES: %v", err)
	}
	if _, err := NewTarget("x"); err == nil || !errors.Is(err, ErrUnsupported) {
		t.Errorf("string: %v", err)
	}
	aes := bytes.Repeat([]byte{3}, 16)
	tg, err := NewTarget(aes)
	if err != nil || tg.String() != "AES-128" || &tg.Plaintext[0] == &aes[0] {
		t.Errorf("AES: %v %v (must copy)", tg, err)
	}
	var nilTarget *Target
	nilTarget.Wipe() // no panic
}

package byok

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Fixed values of the .byok format.
const (
	SchemaVersion = "1.0.0"
	AlgDir        = "dir"
	EncRSAAESWrap = "CKM_RSA_AES_KEY_WRAP"
)

// maxBlobFile bounds the input: an RSA-4096 target under an RSA-4096 KEK
// makes a .byok file of about 4 KiB.
const maxBlobFile = 64 << 10

// Blob is a .byok file.
type Blob struct {
	SchemaVersion string // "1.0.0"
	Kid           string // the KEK's key identifier, with version
	Alg           string // "dir"
	Enc           string // "CKM_RSA_AES_KEY_WRAP"
	Ciphertext    []byte // RSA-OAEP(KEK, aes) || AES-KWP(aes, plaintext)
	Generator     string // tool and source HSM; "" when absent

	raw []byte // the bytes ParseBlob read, if any
}

// NewBlob returns the blob for a ciphertext wrapped under kek. kek.Kid must
// be set (the blob names the KEK by it).
func NewBlob(kek *KEK, ciphertext []byte, generator string) *Blob {
	return &Blob{
		SchemaVersion: SchemaVersion,
		Kid:           kek.Kid,
		Alg:           AlgDir,
		Enc:           EncRSAAESWrap,
		Ciphertext:    ciphertext,
		Generator:     generator,
	}
}

// Marshal returns the .byok file:
//
//	{"schema_version":"1.0.0","header":{"kid":"…","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"…","generator":"…"}
//
// followed by one newline ("\n"): members in this order, no other
// whitespace, ciphertext in base64url without padding, strings escaped as
// encoding/json does but without HTML escaping. The generator member is left
// out when Generator is "". ParseBlob followed by Marshal reproduces a file
// in this form byte for byte.
func (b *Blob) Marshal() []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"schema_version":`)
	writeJSONString(&buf, b.SchemaVersion)
	buf.WriteString(`,"header":{"kid":`)
	writeJSONString(&buf, b.Kid)
	buf.WriteString(`,"alg":`)
	writeJSONString(&buf, b.Alg)
	buf.WriteString(`,"enc":`)
	writeJSONString(&buf, b.Enc)
	buf.WriteString(`},"ciphertext":"`)
	buf.WriteString(base64.RawURLEncoding.EncodeToString(b.Ciphertext))
	buf.WriteString(`"`)
	if b.Generator != "" {
		buf.WriteString(`,"generator":`)
		writeJSONString(&buf, b.Generator)
	}
	buf.WriteString("}\n")
	return buf.Bytes()
}

func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	buf.Truncate(buf.Len() - 1)
}

// Validate checks that b, as Marshal writes it, is a file ParseBlob accepts
// (a set, valid kid; the fixed values; a ciphertext of a plausible length),
// so that a writer can refuse to write a blob it could not read back.
func (b *Blob) Validate() error {
	_, err := ParseBlob(b.Marshal())
	return err
}

// Raw returns the bytes ParseBlob read, or Marshal() for a blob made here.
func (b *Blob) Raw() []byte {
	if b.raw != nil {
		return b.raw
	}
	return b.Marshal()
}

// ParseBlob parses a .byok file strictly. It requires:
//
//   - one JSON object, valid UTF-8, with only whitespace around it, no
//     member twice at any level, at most 64 KiB;
//   - members schema_version, header, ciphertext and optionally generator,
//     and no others; header with exactly kid, alg and enc; all strings;
//   - schema_version "1.0.0", alg "dir", enc "CKM_RSA_AES_KEY_WRAP";
//   - kid a valid versioned key identifier (ParseKid);
//   - ciphertext base64url, with or without "=" padding (vendor tools
//     differ), not the standard alphabet, no whitespace; its length a
//     multiple of 8 and at least 256+24 bytes (the smallest RSA part and
//     the smallest AES-KWP part);
//   - generator, when present, a string without control characters.
//
// Every error wraps ErrBlob (and ErrKid for a bad kid) and names the member.
func ParseBlob(data []byte) (*Blob, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBlob}, args...)...)
	}
	if len(data) == 0 {
		return nil, bad("file is empty")
	}
	if len(data) > maxBlobFile {
		return nil, bad("file is %d bytes; a .byok file is at most a few KiB", len(data))
	}
	if !utf8.Valid(data) {
		return nil, bad("not valid UTF-8 text")
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return nil, bad("not a JSON object; expected {\"schema_version\":\"1.0.0\",\"header\":{...},\"ciphertext\":\"...\",...}")
	}
	if b, ok := parseCanonical(data); ok {
		return b, nil
	}
	return parseStrict(data)
}

// parseStrict is ParseBlob's general reader: any member order, whitespace,
// padding variants, with a precise error for each deviation.
func parseStrict(data []byte) (*Blob, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBlob}, args...)...)
	}
	if err := checkJSON(data); err != nil {
		return nil, bad("%v", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, bad("%s", jsonErr(err))
	}
	for name := range top {
		switch name {
		case "schema_version", "header", "ciphertext", "generator":
		default:
			return nil, bad("unknown member %q; expected schema_version, header, ciphertext and generator", name)
		}
	}
	b := &Blob{raw: bytes.Clone(data)}
	var err error
	if b.SchemaVersion, err = jsonString(top, "schema_version", "", true); err != nil {
		return nil, bad("%v", err)
	}
	if b.SchemaVersion != SchemaVersion {
		return nil, bad("schema_version is %q; expected %q", b.SchemaVersion, SchemaVersion)
	}
	hraw, ok := top["header"]
	if !ok {
		return nil, bad("no \"header\" member")
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(hraw, &header); err != nil || header == nil {
		return nil, bad("\"header\" is not a JSON object")
	}
	for name := range header {
		switch name {
		case "kid", "alg", "enc":
		default:
			return nil, bad("unknown member %q in header; expected kid, alg and enc", name)
		}
	}
	if b.Kid, err = jsonString(header, "kid", "header.", true); err != nil {
		return nil, bad("%v", err)
	}
	if _, err := ParseKid(b.Kid); err != nil {
		return nil, fmt.Errorf("%w: header.kid: %w", ErrBlob, err)
	}
	if b.Alg, err = jsonString(header, "alg", "header.", true); err != nil {
		return nil, bad("%v", err)
	}
	if b.Alg != AlgDir {
		return nil, bad("header.alg is %q; expected %q", b.Alg, AlgDir)
	}
	if b.Enc, err = jsonString(header, "enc", "header.", true); err != nil {
		return nil, bad("%v", err)
	}
	if b.Enc != EncRSAAESWrap {
		return nil, bad("header.enc is %q; expected %q", b.Enc, EncRSAAESWrap)
	}
	ct, err := jsonString(top, "ciphertext", "", true)
	if err != nil {
		return nil, bad("%v", err)
	}
	if ct == "" {
		return nil, bad("ciphertext is empty")
	}
	if b.Ciphertext, err = decodeB64URL(ct); err != nil {
		return nil, bad("ciphertext: %v", err)
	}
	if n := len(b.Ciphertext); n%8 != 0 || n < minCiphertext {
		return nil, bad("ciphertext is %d bytes; expected an RSA part of 256, 384 or 512 bytes followed by an AES-KWP part of at least 24 bytes, a multiple of 8", n)
	}
	if b.Generator, err = jsonString(top, "generator", "", false); err != nil {
		return nil, bad("%v", err)
	}
	for _, r := range b.Generator {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return nil, bad("generator contains control characters")
		}
	}
	return b, nil
}

var minCiphertext = kekBits[0]/8 + KWPLen(MinPlaintext)

const (
	canonPrefix    = `{"schema_version":"1.0.0","header":{"kid":"`
	canonMid       = `","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"`
	canonGenerator = `","generator":"`
)

// parseCanonical reads data when it is exactly what Marshal writes, with a
// kid and generator of printable ASCII (no quote or backslash), without
// building JSON maps: the read-back after every export takes this path. It
// applies the same checks as parseStrict and reports ok only when they all
// pass, so the result is what parseStrict returns (a test and a fuzz target
// hold the two to that); anything else goes to parseStrict for its precise
// error.
func parseCanonical(data []byte) (*Blob, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(canonPrefix))
	if !ok {
		return nil, false
	}
	kid, rest, ok := bytes.Cut(rest, []byte(canonMid))
	if !ok || !plainASCII(kid) {
		return nil, false
	}
	ct, rest, ok := bytes.Cut(rest, []byte{'"'})
	if !ok || len(ct) == 0 {
		return nil, false
	}
	var gen []byte
	if g, ok := bytes.CutPrefix(rest, []byte(canonGenerator[1:])); ok {
		if gen, rest, ok = bytes.Cut(g, []byte{'"'}); !ok || len(gen) == 0 || !plainASCII(gen) {
			return nil, false
		}
	}
	if string(rest) != "}\n" {
		return nil, false
	}
	if _, err := ParseKid(string(kid)); err != nil {
		return nil, false
	}
	// Strict: no padding, no stray bits, so Marshal re-encodes the same text.
	ciphertext, err := base64.RawURLEncoding.Strict().DecodeString(string(ct))
	if err != nil || len(ciphertext)%8 != 0 || len(ciphertext) < minCiphertext {
		return nil, false
	}
	return &Blob{
		SchemaVersion: SchemaVersion, Kid: string(kid), Alg: AlgDir, Enc: EncRSAAESWrap,
		Ciphertext: ciphertext, Generator: string(gen), raw: bytes.Clone(data),
	}, true
}

// plainASCII reports whether b is printable ASCII without '"' or '\\', which
// JSON writes as is.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// jsonString reads member name of obj as a string.
func jsonString(obj map[string]json.RawMessage, name, prefix string, required bool) (string, error) {
	raw, ok := obj[name]
	if !ok {
		if required {
			return "", fmt.Errorf("no %q member", prefix+name)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || strings.TrimSpace(string(raw)) == "null" {
		return "", fmt.Errorf("%s is %s; expected a string", prefix+name, jsonKind(raw))
	}
	return s, nil
}

func jsonKind(raw json.RawMessage) string {
	t := strings.TrimSpace(string(raw))
	if t == "" {
		return "empty"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

package transcripts

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrSecret is returned (wrapped) when an event or artifact would carry what
// looks like secret material. The transcript refuses it; nothing is written.
var ErrSecret = errors.New("transcripts: refusing what looks like secret material")

// MaxArtifactSize bounds one artifact (security domains are the largest
// public files a ceremony handles, a few hundred KiB).
const MaxArtifactSize = 16 << 20

// publicKinds are the only artifact kinds a caller may record.
var publicKinds = map[Kind]bool{
	KindKEK: true, KindBYOK: true, KindCertificate: true, KindSecurityDomain: true,
	KindRestoreBlob: true, KindDownloadRequest: true, KindExchangeKey: true,
	KindPublicKey: true, KindReport: true, KindServiceResponse: true,
	KindSelfTest: true, KindAttributes: true, KindTokenInfo: true,
}

// CheckArtifact applies the rules every artifact must pass:
//   - Name is a plain file name: 1 to 128 characters from [A-Za-z0-9._-], not
//     starting with a dot; no directories.
//   - Kind is one of the public kinds declared in this package.
//   - Data is not empty and at most MaxArtifactSize bytes.
//   - Data does not look like private or secret key material, or a PIN: no
//     secret in one of the written forms secretForms lists (PEM private key
//     armour, PuTTY key files, age identities, a PKCS#11 URI's pin-value, a
//     PIN or password given as a value), no DER PKCS#8 / PKCS#1 / SEC 1
//     private key anywhere in it, raw or inside a base64 run, no JSON Web Key
//     with private members (d, p, q, dp, dq, qi, k), and no bare 16, 24 or 32
//     byte binary blob (the shape of a raw AES key).
//
// The checks are a last line of defence, not a licence: callers pass only
// public values. They are deliberately conservative; a public file they
// reject is a bug to report, a secret they accept is a bug to fix here.
func CheckArtifact(a Artifact) error {
	if err := checkName(a.Name); err != nil {
		return err
	}
	if !publicKinds[a.Kind] {
		return fmt.Errorf("transcripts: artifact %q: kind %q is not a public artifact kind", a.Name, a.Kind)
	}
	if len(a.Data) == 0 {
		return fmt.Errorf("transcripts: artifact %q is empty", a.Name)
	}
	if len(a.Data) > MaxArtifactSize {
		return fmt.Errorf("transcripts: artifact %q is %d bytes, more than the %d allowed", a.Name, len(a.Data), MaxArtifactSize)
	}
	if why := secretInData(a.Data); why != "" {
		return fmt.Errorf("%w: artifact %q (%s) contains %s", ErrSecret, a.Name, a.Kind, why)
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("transcripts: artifact name %q: want a plain file name of 1 to 128 characters from A-Z a-z 0-9 . _ -, not starting with a dot", name)
	}
	return nil
}

// secretForms are the written forms of secrets, each as specific as its
// format allows, so that ordinary words pass: "the custodians' private
// keys", "the PIN counter", "--pin-env NAME", "age-plugin-yubikey" (a
// program) and a URI's pin-source (a file name) are public. anchor is a
// lowercase substring every match contains, found first (ASCII
// case-insensitively) so that the expression runs only on text that may
// match: every field of every line is checked again when a transcript is
// read.
var secretForms = []struct {
	what, anchor string
	re           *regexp.Regexp
}{
	// PEM armour (RFC 7468) of a private key: PKCS#8 "PRIVATE KEY",
	// "ENCRYPTED PRIVATE KEY", PKCS#1 "RSA", SEC 1 "EC", "OPENSSH", PGP's
	// "PRIVATE KEY BLOCK", SSH2's "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY
	// ----". Labels are upper case; the dashes may be lost in a copy, the
	// label is enough. With the dashes, any case.
	{"a PEM private key", "private", regexp.MustCompile(`(BEGIN|END) ([A-Z0-9-]+ )*PRIVATE KEY|(?i:-{4,}\s*(BEGIN|END)\s[^\n]{0,64}?PRIVATE\s+KEY)`)},
	// PuTTY's key file (.ppk) holds the private key.
	{"a PuTTY private key file", "putty-user-key-file-", regexp.MustCompile(`PuTTY-User-Key-File-[0-9]+:`)},
	// age X25519 identity (Bech32, upper or lower case).
	{"an age identity", "age-secret-key-", regexp.MustCompile(`(?i)AGE-SECRET-KEY-`)},
	// age plugin identity (e.g. a YubiKey identity file's line): the
	// plugin's name, then Bech32's separator 1 and data. The program
	// age-plugin-NAME is not one.
	{"an age plugin identity", "age-plugin-", regexp.MustCompile(`(?i)AGE-PLUGIN-[A-Z0-9._+-]*1[02-9AC-HJ-NP-Z]{6,}`)},
	// RFC 7512 URI attribute carrying a PIN.
	{"a PKCS#11 URI's pin-value", "pin-value", regexp.MustCompile(`(?i)pin-value[ \t]*=`)},
	// A PIN or password given as a value: pin=1234, --so-pin=..., password =
	// ..., "pin": "...". The value must follow on the same line: base64 may
	// end in "pin=" but never goes on after its padding.
	{"a PIN given as a value", "pin", regexp.MustCompile(`(?i)(^|[^A-Za-z0-9])(so[-_]?pin|user[-_]?pin|pin)[ \t]*=[ \t]*[^\s&;,'"]|"(so[-_]?pin|user[-_]?pin|pin)"[ \t]*:[ \t]*"[^"]`)},
	{"a PUK given as a value", "puk", regexp.MustCompile(`(?i)(^|[^A-Za-z0-9])puk[ \t]*=[ \t]*[^\s&;,'"]|"puk"[ \t]*:[ \t]*"[^"]`)},
	{"a password given as a value", "pass", regexp.MustCompile(`(?i)(^|[^A-Za-z0-9])(password|passwd|passphrase)[ \t]*=[ \t]*[^\s&;,'"]|"(password|passwd|passphrase)"[ \t]*:[ \t]*"[^"]`)},
}

// secretForm says which of secretForms data holds, or "".
func secretForm(data []byte) string {
	for _, f := range secretForms {
		if bytesContainsFold(data, f.anchor) && f.re.Match(data) {
			return f.what
		}
	}
	return ""
}

// secretInData says why data looks secret, or "" if it does not.
func secretInData(data []byte) string {
	if why := secretForm(data); why != "" {
		return why
	}
	if (len(data) == 16 || len(data) == 24 || len(data) == 32) && !isPrintable(data) {
		return "a bare binary blob of a raw AES key's size"
	}
	if off := findDERPrivateKey(data); off >= 0 {
		return fmt.Sprintf("a DER private key at byte %d", off)
	}
	if why := privateInBase64Runs(string(data)); why != "" {
		return why
	}
	if why := privateJWK(data); why != "" {
		return why
	}
	return ""
}

// bytesContainsFold reports whether data contains s, ASCII case-insensitively.
func bytesContainsFold(data []byte, s string) bool {
	n := len(s)
	if n == 0 || len(data) < n {
		return false
	}
	c0 := s[0] | 0x20
	for i := 0; i+n <= len(data); i++ {
		if data[i]|0x20 != c0 {
			continue
		}
		j := 1
		for j < n && lowerASCII(data[i+j]) == lowerASCII(s[j]) {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 0x20
	}
	return c
}

func isPrintable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

// findDERPrivateKey returns the offset of something shaped like a DER
// private key (PKCS#8, PKCS#1 RSA, SEC 1 EC) anywhere in data, or -1. Every
// such structure is SEQUENCE { INTEGER 0|1, ... }; candidates are judged by
// their shape alone, never handed to a key parser, so that a hostile file
// cannot make the scan slow (parsing validates keys, which is costly).
func findDERPrivateKey(data []byte) int {
	for i := 0; i+4 < len(data); i++ {
		if data[i] != 0x30 {
			continue
		}
		hdr, n := derLength(data[i+1:])
		if hdr == 0 || n < 16 {
			continue
		}
		start := i + 1 + hdr
		end := start + n
		if end > len(data) || start+3 > len(data) {
			continue
		}
		// INTEGER 0 (PKCS#8, PKCS#1) or INTEGER 1 (SEC 1, PKCS#8 v2).
		if data[start] != 0x02 || data[start+1] != 0x01 || data[start+2] > 1 {
			continue
		}
		body := data[start:end]
		if looksPKCS8(body) || looksPKCS1(body) || looksSEC1(body) {
			return i
		}
	}
	return -1
}

// tlv splits one DER element off b: its tag, contents and the rest.
func tlv(b []byte) (tag byte, content, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	hdr, n := derLength(b[1:])
	if hdr == 0 || 1+hdr+n > len(b) {
		return 0, nil, nil, false
	}
	return b[0], b[1+hdr : 1+hdr+n], b[1+hdr+n:], true
}

// looksPKCS8: INTEGER 0|1, AlgorithmIdentifier SEQUENCE { OID, ... },
// privateKey OCTET STRING.
func looksPKCS8(body []byte) bool {
	_, _, rest, ok := tlv(body) // version
	if !ok {
		return false
	}
	tag, alg, rest, ok := tlv(rest)
	if !ok || tag != 0x30 || len(alg) == 0 || alg[0] != 0x06 {
		return false
	}
	tag, _, _, ok = tlv(rest)
	return ok && tag == 0x04
}

// looksPKCS1: INTEGER 0, then at least eight more INTEGERs (n, e, d, p, q,
// dp, dq, qinv).
func looksPKCS1(body []byte) bool {
	rest := body
	for k := 0; k < 9; k++ {
		tag, _, r, ok := tlv(rest)
		if !ok || tag != 0x02 {
			return false
		}
		rest = r
	}
	return true
}

// looksSEC1: INTEGER 1, privateKey OCTET STRING of a curve scalar's size,
// then nothing or the [0] parameters / [1] public key.
func looksSEC1(body []byte) bool {
	tag, v, rest, ok := tlv(body)
	if !ok || tag != 0x02 || len(v) != 1 || v[0] != 1 {
		return false
	}
	tag, k, rest, ok := tlv(rest)
	if !ok || tag != 0x04 || len(k) < 20 || len(k) > 72 {
		return false
	}
	if len(rest) == 0 {
		return true
	}
	return rest[0] == 0xa0 || rest[0] == 0xa1
}

// derLength decodes a DER length; it returns the number of length bytes
// (0 on error) and the length.
func derLength(b []byte) (int, int) {
	if len(b) == 0 {
		return 0, 0
	}
	if b[0] < 0x80 {
		return 1, int(b[0])
	}
	k := int(b[0] & 0x7f)
	if k == 0 || k > 3 || len(b) < 1+k {
		return 0, 0
	}
	n := 0
	for _, c := range b[1 : 1+k] {
		n = n<<8 | int(c)
	}
	return 1 + k, n
}

// minB64Run is the shortest base64 run worth decoding: no private key's DER
// is shorter than 48 bytes (64 base64 characters).
const minB64Run = 64

var lineJoiner = strings.NewReplacer("\r\n", "", "\n", "", "\\n", "")

func isB64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '_' || c == '-' || c == '='
}

// b64Runs returns the maximal runs of base64 or base64url characters at
// least minB64Run long.
func b64Runs(s string) []string {
	var runs []string
	for i := 0; i < len(s); {
		if !isB64Char(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isB64Char(s[j]) {
			j++
		}
		if j-i >= minB64Run {
			runs = append(runs, s[i:j])
		}
		i = j
	}
	return runs
}

// privateInBase64Runs decodes every long base64 or base64url run in s
// (PEM bodies with their line breaks removed, JSON strings) and looks for a
// DER private key in it. It takes a string so that checkText, run on every
// field of every line a transcript is read with, passes its text uncopied.
func privateInBase64Runs(s string) string {
	if len(s) < minB64Run {
		return ""
	}
	if strings.ContainsAny(s, "\r\n\\") {
		// Join PEM-style wrapped lines so a multi-line body is one run.
		s = lineJoiner.Replace(s)
	}
	for _, run := range b64Runs(s) {
		raw := strings.TrimRight(run, "=")
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			// Try each alignment: the run may start mid-token.
			for skip := 0; skip < 4 && skip < len(raw); skip++ {
				s := raw[skip:]
				if len(s)%4 == 1 {
					s = s[:len(s)-1]
				}
				b, err := enc.DecodeString(s)
				if err != nil {
					continue
				}
				if off := findDERPrivateKey(b); off >= 0 {
					return "a base64-encoded DER private key"
				}
			}
		}
	}
	return ""
}

// privateJWK refuses JSON holding a JSON Web Key with private members, at any
// depth.
func privateJWK(data []byte) string {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return ""
	}
	var v any
	if json.Unmarshal(t, &v) != nil {
		return ""
	}
	var walk func(any) string
	walk = func(v any) string {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["kty"]; ok {
				for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := x[m]; ok {
						return fmt.Sprintf("a JSON Web Key with the private member %q", m)
					}
				}
			}
			for _, e := range x {
				if w := walk(e); w != "" {
					return w
				}
			}
		case []any:
			for _, e := range x {
				if w := walk(e); w != "" {
					return w
				}
			}
		}
		return ""
	}
	return walk(v)
}

// deniedParamWords are words that may not appear in a parameter name: a
// parameter so named would be a secret, whatever its value.
var deniedParamWords = map[string]bool{
	"pin": true, "sopin": true, "puk": true, "password": true, "passwd": true, "passphrase": true,
	"pass": true, "pwd": true, "secret": true, "secrets": true, "private": true, "priv": true,
	"privkey": true, "plaintext": true, "plain": true,
	"seed": true, "mnemonic": true, "credential": true, "credentials": true, "bearer": true,
	"apikey": true, "cleartext": true, "identity": true, "otp": true, "totp": true,
}

// checkParamName refuses parameter names containing a denied word. Names
// are split into words at non-letters/digits and at lower-to-upper case
// changes ("soPin", "user_pin", "wrapping-key-password" all refused).
func checkParamName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("transcripts: parameter name %q: want 1 to 64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("transcripts: parameter name %q: want letters, digits, '_', '-' or '.'", name)
		}
	}
	ws := splitWords(name)
	for _, w := range ws {
		if deniedParamWords[w] {
			return fmt.Errorf("%w: parameter %q names a secret (%q); transcripts keep only public parameters", ErrSecret, name, w)
		}
	}
	// Shares are counted and numbered in public ("shares", "shares_used"),
	// but a share itself is secret: "share", "share_value", "shares_hex"...
	hasShare, hasMaterial := false, len(ws) == 1
	for _, w := range ws {
		hasShare = hasShare || w == "share" || w == "shares"
		hasMaterial = hasMaterial || shareMaterialWords[w]
	}
	if hasShare && hasMaterial && (len(ws) > 1 || ws[0] == "share") {
		return fmt.Errorf("%w: parameter %q names a secret share; transcripts keep only public parameters", ErrSecret, name)
	}
	squashed := strings.ToLower(name)
	for _, w := range deniedParamSubstrings {
		if strings.Contains(squashed, w) {
			return fmt.Errorf("%w: parameter %q names a secret (%q); transcripts keep only public parameters", ErrSecret, name, w)
		}
	}
	return nil
}

var shareMaterialWords = map[string]bool{
	"value": true, "data": true, "bytes": true, "hex": true, "b64": true, "base64": true,
	"material": true, "raw": true, "content": true, "text": true,
}

// deniedParamSubstrings catch run-together names ("userpin", "privatekey").
var deniedParamSubstrings = []string{
	"password", "passwd", "passphrase", "secret", "private", "privkey", "sopin", "userpin",
	"mnemonic", "plaintext", "cleartext", "credential",
}

func splitWords(s string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	var prev rune
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if unicode.IsUpper(r) && unicode.IsLower(prev) {
				flush()
			}
			cur = append(cur, r)
		default:
			flush()
		}
		prev = r
	}
	flush()
	return words
}

// checkText refuses free text (actions, results, deviations, parameter
// values) carrying secret markers, control characters or invalid UTF-8.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("transcripts: %s is %d bytes, more than the %d allowed", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("transcripts: %s is not valid UTF-8", field)
	}
	if why := secretForm([]byte(s)); why != "" {
		return fmt.Errorf("%w: %s contains %s", ErrSecret, field, why)
	}
	if why := privateInBase64Runs(s); why != "" {
		return fmt.Errorf("%w: %s contains %s", ErrSecret, field, why)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("transcripts: %s contains the control character %U", field, r)
		}
	}
	return nil
}

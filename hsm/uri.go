package hsm

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/miekg/pkcs11"
)

// URI is a parsed PKCS#11 URI (RFC 7512) naming a token and an object on it:
//
//	pkcs11:token=vendor;object=app-key;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so
//
// # Validation rules
//
// ParseURI is strict, so that a URI cannot select something other than what
// its reader believes:
//
//   - The scheme is "pkcs11:" (any case). The path holds ";"-separated
//     attributes, the optional query (after the first "?") "&"-separated ones.
//   - Path attributes: token, manufacturer, serial, model (token selection),
//     object, id, type (object selection). Query attributes: module-path,
//     pin-source. Any other attribute, including the RFC's slot-*, library-*
//     and vendor x-* ones, is refused rather than ignored, because ignoring
//     a narrowing attribute could select a different key.
//   - pin-value is refused: PINs never go on a command line. module-name is
//     refused: give module-path.
//   - Each attribute at most once; no empty attributes or values; names in
//     lower case.
//   - Values use only the characters RFC 7512 allows unencoded (unreserved
//     and ":[]@!$'()*+,=" in the path, plus "&" in the path and "/?|" in the
//     query); anything else, including spaces and "/" in the path, must be
//     percent-encoded as %XX. A "%" not followed by two hex digits is an error.
//   - Decoded text values must be UTF-8 without control characters; token
//     is at most 32 bytes, manufacturer 32, model 16, serial 16 (the
//     CK_TOKEN_INFO field widths). id is raw bytes.
//   - type is one of private, public, secret-key, cert, data.
//   - module-path must be absolute. pin-source must be an absolute path or a
//     file: URI with an absolute path ("|command" sources are refused).
//
// String re-encodes a URI canonically; ParseURI(u.String()) gives back u.
type URI struct {
	Token        string
	Manufacturer string
	Serial       string
	Model        string
	Object       string
	ID           []byte
	Type         string // "private", "public", "secret-key", "cert" or "data"; "" for any
	ModulePath   string
	PINSource    string
}

// Object types of the "type" attribute and their CKA_CLASS.
var uriTypes = map[string]uint{
	"private":    pkcs11.CKO_PRIVATE_KEY,
	"public":     pkcs11.CKO_PUBLIC_KEY,
	"secret-key": pkcs11.CKO_SECRET_KEY,
	"cert":       pkcs11.CKO_CERTIFICATE,
	"data":       pkcs11.CKO_DATA,
}

const (
	resAvail      = ":[]@!$'()*+,="
	pathResAvail  = resAvail + "&"
	queryResAvail = resAvail + "/?|"
)

// IsURI reports whether s looks like a PKCS#11 URI (starts with "pkcs11:"),
// so callers can tell a URI from a file name before parsing.
func IsURI(s string) bool {
	return len(s) >= 7 && strings.EqualFold(s[:7], "pkcs11:")
}

// ParseURI parses a PKCS#11 URI under the rules in the URI doc comment.
// Errors wrap ErrURI and say which attribute is wrong and why.
func ParseURI(s string) (*URI, error) {
	if !IsURI(s) {
		return nil, uriErr("it must start with \"pkcs11:\"")
	}
	rest := s[7:]
	p, q, hasQuery := strings.Cut(rest, "?")
	u := &URI{}
	seen := map[string]bool{}
	if p != "" {
		for _, attr := range strings.Split(p, ";") {
			name, raw, err := splitAttr(attr, "path", seen)
			if err != nil {
				return nil, err
			}
			v, err := decode(name, raw, pathResAvail)
			if err != nil {
				return nil, err
			}
			if err := u.setPath(name, v); err != nil {
				return nil, err
			}
		}
	}
	if hasQuery {
		if q == "" {
			return nil, uriErr("empty query after \"?\"")
		}
		for _, attr := range strings.Split(q, "&") {
			name, raw, err := splitAttr(attr, "query", seen)
			if err != nil {
				return nil, err
			}
			if name == "pin-value" {
				return nil, uriErr("pin-value is refused: a PIN must never be on the command line; give it with --pin-env, --pin-file or at the prompt")
			}
			v, err := decode(name, raw, queryResAvail)
			if err != nil {
				return nil, err
			}
			if err := u.setQuery(name, v); err != nil {
				return nil, err
			}
		}
	}
	return u, nil
}

func uriErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrURI, fmt.Sprintf(format, args...))
}

func splitAttr(attr, where string, seen map[string]bool) (name, value string, err error) {
	if attr == "" {
		return "", "", uriErr("empty %s attribute (stray \";\" or \"&\")", where)
	}
	name, value, ok := strings.Cut(attr, "=")
	if pinLike(name) && name != "pin-value" {
		// A misspelt pin-value: refused like pin-value, and not quoted.
		return "", "", uriErr("a %s attribute looks like pin-value and is refused: a PIN must never be on the command line; give it with --pin-env, --pin-file or at the prompt", where)
	}
	if !ok {
		return "", "", uriErr("%s attribute %q has no \"=\"", where, trunc(attr))
	}
	if name == "" {
		return "", "", uriErr("%s attribute with no name before \"=\"", where)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return "", "", uriErr("attribute name %q: only lower-case letters, digits and \"-\" are allowed", trunc(name))
		}
	}
	if seen[name] {
		return "", "", uriErr("attribute %q appears more than once", name)
	}
	seen[name] = true
	if value == "" {
		return "", "", uriErr("attribute %q has an empty value", name)
	}
	return name, value, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// decode percent-decodes raw, refusing characters RFC 7512 does not allow
// unencoded in this component.
func decode(name, raw, allowed string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) {
				return nil, uriErr("attribute %q: \"%%\" at offset %d is not followed by two hex digits", name, i)
			}
			b, err := hex.DecodeString(raw[i+1 : i+3])
			if err != nil {
				return nil, uriErr("attribute %q: \"%%\" at offset %d is not followed by two hex digits", name, i)
			}
			out = append(out, b[0])
			i += 2
		case isUnreserved(c) || strings.IndexByte(allowed, c) >= 0:
			out = append(out, c)
		default:
			return nil, uriErr("attribute %q: character %q at offset %d must be percent-encoded (as %%%02X)", name, rune(c), i, c)
		}
	}
	return out, nil
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func text(name string, v []byte, max int) (string, error) {
	if !utf8.Valid(v) {
		return "", uriErr("attribute %q is not valid UTF-8 after percent-decoding", name)
	}
	for _, r := range string(v) {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", uriErr("attribute %q contains a control character (U+%04X)", name, r)
		}
	}
	if max > 0 && len(v) > max {
		return "", uriErr("attribute %q is %d bytes long; PKCS#11 allows at most %d", name, len(v), max)
	}
	return string(v), nil
}

func (u *URI) setPath(name string, v []byte) error {
	var err error
	switch name {
	case "token":
		u.Token, err = text(name, v, 32)
	case "manufacturer":
		u.Manufacturer, err = text(name, v, 32)
	case "serial":
		u.Serial, err = text(name, v, 16)
	case "model":
		u.Model, err = text(name, v, 16)
	case "object":
		u.Object, err = text(name, v, 0)
	case "id":
		u.ID = bytes.Clone(v)
	case "type":
		t := string(v)
		if _, ok := uriTypes[t]; !ok {
			return uriErr("type %q is not one of private, public, secret-key, cert, data", trunc(t))
		}
		u.Type = t
	case "module-path", "pin-source", "pin-value", "module-name":
		return uriErr("attribute %q belongs in the query (after \"?\"), not the path", name)
	case "slot-id", "slot-description", "slot-manufacturer", "library-manufacturer", "library-description", "library-version":
		return uriErr("attribute %q is not supported: name the token with token=, and optionally manufacturer=, model=, serial=", name)
	default:
		return uriErr("unknown path attribute %q (keyrite accepts token, manufacturer, serial, model, object, id, type)", trunc(name))
	}
	return err
}

func (u *URI) setQuery(name string, v []byte) error {
	switch name {
	case "module-path":
		p, err := text(name, v, 4096)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(p, "/") {
			return uriErr("module-path %q must be an absolute path", trunc(p))
		}
		u.ModulePath = p
		return nil
	case "pin-source":
		p, err := text(name, v, 4096)
		if err != nil {
			return err
		}
		if _, err := pinFile(p); err != nil {
			return err
		}
		u.PINSource = p
		return nil
	case "module-name":
		return uriErr("module-name is not supported: give the library's absolute path as module-path")
	case "token", "manufacturer", "serial", "model", "object", "id", "type":
		return uriErr("attribute %q belongs in the path (before \"?\"), not the query", name)
	}
	return uriErr("unknown query attribute %q (keyrite accepts module-path and pin-source)", trunc(name))
}

func pinFile(src string) (string, error) {
	p := src
	if strings.HasPrefix(src, "file:") {
		fu, err := url.Parse(src)
		if err != nil || (fu.Host != "" && fu.Host != "localhost") || fu.RawQuery != "" || fu.Fragment != "" {
			return "", uriErr("pin-source %q is not a file: URI with a local absolute path", trunc(src))
		}
		p = fu.Path
	}
	if !strings.HasPrefix(p, "/") || path.Clean(p) == "/" {
		return "", uriErr("pin-source %q must be an absolute file path or a file: URI (command sources like \"|prog\" are refused)", trunc(src))
	}
	return p, nil
}

// PINFile returns the file named by pin-source, or "" when there is none.
func (u *URI) PINFile() string {
	if u.PINSource == "" {
		return ""
	}
	p, _ := pinFile(u.PINSource)
	return p
}

// String encodes u canonically: path attributes in the order token,
// manufacturer, serial, model, object, id, type; id fully percent-encoded;
// then module-path and pin-source.
func (u *URI) String() string {
	var b strings.Builder
	b.WriteString("pkcs11:")
	var path []string
	add := func(name, v string) {
		if v != "" {
			path = append(path, name+"="+encode(v, pathResAvail))
		}
	}
	add("token", u.Token)
	add("manufacturer", u.Manufacturer)
	add("serial", u.Serial)
	add("model", u.Model)
	add("object", u.Object)
	if len(u.ID) > 0 {
		var id strings.Builder
		for _, c := range u.ID {
			fmt.Fprintf(&id, "%%%02X", c)
		}
		path = append(path, "id="+id.String())
	}
	add("type", u.Type)
	b.WriteString(strings.Join(path, ";"))
	var query []string
	if u.ModulePath != "" {
		query = append(query, "module-path="+encode(u.ModulePath, queryResAvail))
	}
	if u.PINSource != "" {
		query = append(query, "pin-source="+encode(u.PINSource, queryResAvail))
	}
	if len(query) > 0 {
		b.WriteString("?")
		b.WriteString(strings.Join(query, "&"))
	}
	return b.String()
}

// encode percent-encodes v for a component; "&" is always encoded and ";"
// is never allowed unencoded, so the result re-parses to v.
func encode(v, allowed string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if isUnreserved(c) || (c != '&' && strings.IndexByte(allowed, c) >= 0) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Redacted is String; URIs hold no secrets (pin-value is refused), but
// callers printing a URI should use this name so that remains a decision.
func (u *URI) Redacted() string { return u.String() }

// TokenFilter selects the token the URI names.
func (u *URI) TokenFilter() TokenFilter {
	return TokenFilter{Label: u.Token, Manufacturer: u.Manufacturer, Model: u.Model, Serial: u.Serial}
}

// ObjectTemplate is the C_FindObjects template for the URI's object, id and
// type attributes (empty if none is set).
func (u *URI) ObjectTemplate() []*pkcs11.Attribute {
	var t []*pkcs11.Attribute
	if u.Object != "" {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object))
	}
	if len(u.ID) > 0 {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_ID, bytes.Clone(u.ID)))
	}
	if u.Type != "" {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_CLASS, uriTypes[u.Type]))
	}
	return t
}

// ObjectDescription names the URI's object for messages:
// `object "app-key" (id 01, type private)`.
func (u *URI) ObjectDescription() string {
	var parts []string
	if len(u.ID) > 0 {
		parts = append(parts, "id "+hex.EncodeToString(u.ID))
	}
	if u.Type != "" {
		parts = append(parts, "type "+u.Type)
	}
	s := "object"
	if u.Object != "" {
		s += fmt.Sprintf(" %q", u.Object)
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// RedactPIN returns s with the value of every pin-value attribute replaced
// by "REDACTED", so that a URI that failed to parse (ParseURI refuses
// pin-value) can be echoed in an error without the PIN. Misspelt forms count
// too (any case, percent-encoded, "pin-value:1234", "pin-value =1234"): an
// attribute whose letters, once decoded, begin with "pinvalue" is redacted
// whole.
func RedactPIN(s string) string {
	var b strings.Builder
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && strings.IndexByte(";?&#", s[i]) < 0 {
			continue
		}
		seg := s[start:i]
		if start == 0 && IsURI(seg) {
			b.WriteString(seg[:7])
			seg = seg[7:]
		}
		switch name, _, ok := strings.Cut(seg, "="); {
		case !pinLike(seg):
			b.WriteString(seg)
		case ok && pinLike(name):
			b.WriteString(name + "=REDACTED")
		default:
			b.WriteString("pin-value=REDACTED")
		}
		if i < len(s) {
			b.WriteByte(s[i])
		}
		start = i + 1
	}
	return b.String()
}

// pinLike reports whether an attribute (or its name) is pin-value, however
// spelt: its letters, lowercased and percent-decoded, begin with "pinvalue".
func pinLike(attr string) bool {
	if d, err := url.PathUnescape(attr); err == nil {
		attr = d
	}
	var letters []byte
	for _, c := range []byte(strings.ToLower(attr)) {
		if c >= 'a' && c <= 'z' {
			letters = append(letters, c)
			if len(letters) == len("pinvalue") {
				break
			}
		}
	}
	return string(letters) == "pinvalue"
}

package securitydomain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// pyQuote encodes s as a JSON string the way Python's json.dumps does with its
// defaults (ensure_ascii=True): the az CLI wrote every file we must match.
func pyQuote(s string) string {
	// Fast path: printable ASCII without quote or backslash (every base64url
	// field, tag and algorithm name) is written as is.
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return `"` + s + `"`
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r > 0x7e:
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// objectFields decodes one JSON object, strictly: exact (case-sensitive) keys,
// no duplicate keys, nothing after the object.
func objectFields(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	m := make(map[string]json.RawMessage)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not JSON: %v", err)
		}
		k, ok := t.(string)
		if !ok {
			return nil, errors.New("not JSON: object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("not JSON: %v", err)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		m[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return m, nil
}

// fieldSet checks that an object has exactly the required keys plus any of
// the optional ones, naming the first offender.
func fieldSet(m map[string]json.RawMessage, where string, required []string, optional ...string) error {
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("%s: missing %q", where, k)
		}
	}
	for k := range m {
		if !contains(required, k) && !contains(optional, k) {
			return fmt.Errorf("%s: unexpected key %q", where, k)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// jsonString decodes a JSON string value.
func jsonString(raw json.RawMessage, where string) (string, error) {
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil || s == nil {
		return "", fmt.Errorf("%s: want a JSON string, found %s", where, quoteShort(raw))
	}
	return *s, nil
}

// jsonInt decodes a JSON integer value.
func jsonInt(raw json.RawMessage, where string) (int, error) {
	var n json.Number
	if t := bytes.TrimSpace(raw); len(t) == 0 || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) {
		return 0, fmt.Errorf("%s: want an integer, found %s", where, quoteShort(raw))
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("%s: want an integer, found %s", where, quoteShort(raw))
	}
	i, err := n.Int64()
	if err != nil || i < -1<<31 || i > 1<<31-1 {
		return 0, fmt.Errorf("%s: want an integer, found %s", where, quoteShort(raw))
	}
	return int(i), nil
}

// jsonArray decodes a JSON array into its raw elements.
func jsonArray(raw json.RawMessage, where string) ([]json.RawMessage, error) {
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil || a == nil {
		return nil, fmt.Errorf("%s: want a JSON array, found %s", where, quoteShort(raw))
	}
	return a, nil
}

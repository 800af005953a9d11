package hsm

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		in   string
		want URI
	}{
		{"pkcs11:token=vendor;object=app-key?module-path=/usr/lib/softhsm/libsofthsm2.so",
			URI{Token: "vendor", Object: "app-key", ModulePath: "/usr/lib/softhsm/libsofthsm2.so"}},
		{"PKCS11:object=my%20key;id=%01%02;type=private",
			URI{Object: "my key", ID: []byte{1, 2}, Type: "private"}},
		{"pkcs11:token=a=b;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=1234abcd",
			URI{Token: "a=b", Manufacturer: "SoftHSM project", Model: "SoftHSM v2", Serial: "1234abcd"}},
		{"pkcs11:object=k&v?pin-source=file:/run/pin&module-path=/opt/lib.so",
			URI{Object: "k&v", PINSource: "file:/run/pin", ModulePath: "/opt/lib.so"}},
		{"pkcs11:", URI{}},
		{"pkcs11:id=abc", URI{ID: []byte("abc")}},
		{"pkcs11:object=%C3%A9t%C3%A9", URI{Object: "été"}},
	}
	for _, tt := range tests {
		u, err := ParseURI(tt.in)
		if err != nil {
			t.Errorf("ParseURI(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(*u, tt.want) {
			t.Errorf("ParseURI(%q) = %+v, want %+v", tt.in, *u, tt.want)
		}
		u2, err := ParseURI(u.String())
		if err != nil || !reflect.DeepEqual(u, u2) {
			t.Errorf("round trip of %q via %q: %+v, %v", tt.in, u.String(), u2, err)
		}
	}
}

func TestParseURIErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"file:/x", `it must start with "pkcs11:"`},
		{"pkcs11:token=a?pin-value=1234", "pin-value is refused"},
		{"pkcs11:pin-value=1234", `"pin-value" belongs in the query`},
		{"pkcs11:token=a;token=b", `"token" appears more than once`},
		{"pkcs11:token=", `"token" has an empty value`},
		{"pkcs11:token", `has no "="`},
		{"pkcs11:token=a;", "empty path attribute"},
		{"pkcs11:;token=a", "empty path attribute"},
		{"pkcs11:token=a?", `empty query after "?"`},
		{"pkcs11:token=a?module-path=/x&", "empty query attribute"},
		{"pkcs11:Token=a", "only lower-case letters"},
		{"pkcs11:slot-id=1", `"slot-id" is not supported`},
		{"pkcs11:x-vendor=1", `unknown path attribute "x-vendor"`},
		{"pkcs11:token=a?module-name=softhsm2", "module-name is not supported"},
		{"pkcs11:token=a?foo=bar", `unknown query attribute "foo"`},
		{"pkcs11:token=a?object=b", `"object" belongs in the path`},
		{"pkcs11:object=a b", `character ' ' at offset 1 must be percent-encoded (as %20)`},
		{"pkcs11:object=a/b", `character '/' at offset 1 must be percent-encoded`},
		{"pkcs11:object=a%2", `"%" at offset 1 is not followed by two hex digits`},
		{"pkcs11:object=a%zz", `"%" at offset 1 is not followed by two hex digits`},
		{"pkcs11:object=%ff", "not valid UTF-8"},
		{"pkcs11:object=a%0Ab", "control character (U+000A)"},
		{"pkcs11:token=" + strings.Repeat("x", 33), "33 bytes long; PKCS#11 allows at most 32"},
		{"pkcs11:serial=" + strings.Repeat("1", 17), "at most 16"},
		{"pkcs11:type=secret", `type "secret" is not one of`},
		{"pkcs11:token=a?module-path=lib.so", "must be an absolute path"},
		{"pkcs11:token=a?pin-source=|/bin/pin", "command sources"},
		{"pkcs11:token=a?pin-source=file://host/pin", "not a file: URI with a local absolute path"},
		{"pkcs11:token=a?pin-source=pin.txt", "must be an absolute file path"},
	}
	for _, tt := range tests {
		_, err := ParseURI(tt.in)
		if err == nil {
			t.Errorf("ParseURI(%q) succeeded, want error containing %q", tt.in, tt.want)
			continue
		}
		if !errors.Is(err, ErrURI) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseURI(%q) = %q, want ErrURI containing %q", tt.in, err, tt.want)
		}
	}
}

func TestURIHelpers(t *testing.T) {
	u, err := ParseURI("pkcs11:token=t;object=o;id=%01;type=secret-key?pin-source=file:/run/p")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(u.ObjectTemplate()); got != 3 {
		t.Errorf("template has %d attributes", got)
	}
	if got := u.ObjectDescription(); got != `object "o" (id 01, type secret-key)` {
		t.Errorf("description = %q", got)
	}
	if u.PINFile() != "/run/p" {
		t.Errorf("PINFile = %q", u.PINFile())
	}
	if u.TokenFilter().Label != "t" {
		t.Errorf("filter = %+v", u.TokenFilter())
	}
	if !IsURI("PkCs11:") || IsURI("pkcs11") || IsURI("./key.pem") {
		t.Error("IsURI")
	}
}

// FuzzParseURI: no panics; anything accepted re-encodes to a URI that parses
// to the same value, and the canonical encoding is a fixed point.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=vendor;object=app-key?module-path=/usr/lib/softhsm/libsofthsm2.so",
		"pkcs11:object=my%20key;id=%01%02;type=private",
		"pkcs11:token=a=b;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=1234abcd",
		"pkcs11:object=k&v?pin-source=file:/run/pin&module-path=/opt/lib.so",
		"pkcs11:token=a?pin-value=1234",
		"pkcs11:object=%C3%A9t%C3%A9",
		"pkcs11:",
		"pkcs11:object=a%2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			if !errors.Is(err, ErrURI) {
				t.Fatalf("error does not wrap ErrURI: %v", err)
			}
			return
		}
		enc := u.String()
		u2, err := ParseURI(enc)
		if err != nil {
			t.Fatalf("%q parsed, but its encoding %q does not: %v", s, enc, err)
		}
		if !reflect.DeepEqual(u, u2) {
			t.Fatalf("%q -> %+v -> %q -> %+v", s, u, enc, u2)
		}
		if u2.String() != enc {
			t.Fatalf("encoding not canonical: %q vs %q", enc, u2.String())
		}
	})
}

func TestRedactPIN(t *testing.T) {
	for in, want := range map[string]string{
		"pkcs11:object=a?pin-value=1234":                "pkcs11:object=a?pin-value=REDACTED",
		"pkcs11:object=a?PIN-VALUE=1234&module-path=/x": "pkcs11:object=a?PIN-VALUE=REDACTED&module-path=/x",
		"pkcs11:pin-value=12;object=b?pin-value=34":     "pkcs11:pin-value=REDACTED;object=b?pin-value=REDACTED",
		"pkcs11:object=a?module-path=/x":                "pkcs11:object=a?module-path=/x",
		// Misspelt forms are redacted too.
		"pkcs11:object=a?pin%2Dvalue=7777&module-path=/x": "pkcs11:object=a?pin%2Dvalue=REDACTED&module-path=/x",
		"pkcs11:object=a?pin-value%3D7777":                "pkcs11:object=a?pin-value=REDACTED",
		"pkcs11:object=a?pin-value =7777":                 "pkcs11:object=a?pin-value =REDACTED",
		"pkcs11:object=a?pin-value:7777#x":                "pkcs11:object=a?pin-value=REDACTED#x",
		"pkcs11:object=pin-value;id=%01?pin-source=/p":    "pkcs11:object=pin-value;id=%01?pin-source=/p",
	} {
		if got := RedactPIN(in); got != want {
			t.Errorf("RedactPIN(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMisspeltPINValueNotQuoted: a pin-value attribute spelt wrong is
// refused like pin-value, without its value in the error.
func TestMisspeltPINValueNotQuoted(t *testing.T) {
	for _, s := range []string{
		"pkcs11:object=a?pin%2Dvalue=7777",
		"pkcs11:object=a?pin-value%3D7777",
		"pkcs11:object=a?pin-value =7777",
		"pkcs11:object=a?pin-value:7777",
		"pkcs11:object=a?PIN-VALUE=7777",
		"pkcs11:object=a;pin-value:7777",
	} {
		_, err := ParseURI(s)
		if err == nil || strings.Contains(err.Error(), "7777") || !strings.Contains(err.Error(), "pin-value") {
			t.Errorf("ParseURI(%q): %v", s, err)
		}
	}
}

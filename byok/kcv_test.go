package byok

import (
	"encoding/hex"
	"errors"
	"testing"
)

// TestKCVKnownAnswers checks KCV against published answers: AES-ECB of
// the zero block under the all-zero keys (NIST AESAVS known-answer
// values; also what `openssl enc -aes-N-ecb -nopad` gives).
func TestKCVKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want string
	}{
		{"00000000000000000000000000000000", "66e94b"},                                 // AES-128: 66e94bd4ef8a2c3b...
		{"000000000000000000000000000000000000000000000000", "aae069"},                 // AES-192: aae06992acbf52a3...
		{"0000000000000000000000000000000000000000000000000000000000000000", "dc95c0"}, // AES-256: dc95c078a2408989...
	} {
		k, _ := hex.DecodeString(tc.key)
		got, err := KCV(k)
		if err != nil || got != tc.want {
			t.Errorf("KCV(%d-byte zero key) = %q, %v; want %q", len(k), got, err, tc.want)
		}
	}
	if _, err := KCV(make([]byte, 20)); !errors.Is(err, ErrKCV) {
		t.Errorf("20-byte key: %v", err)
	}
	tg, _ := NewTarget(make([]byte, 16))
	if got, err := tg.KCV(); err != nil || got != "66e94b" {
		t.Errorf("Target.KCV = %q, %v", got, err)
	}
}

func TestParseKCV(t *testing.T) {
	if b, err := ParseKCV("0a1b2c"); err != nil || hex.EncodeToString(b) != "0a1b2c" {
		t.Fatalf("ParseKCV: %x %v", b, err)
	}
	for _, bad := range []string{"", "0A1B2C", "0a1b2", "0a1b2c3d", "0a1b2g", "not available"} {
		if _, err := ParseKCV(bad); !errors.Is(err, ErrKCV) {
			t.Errorf("ParseKCV(%q) = %v", bad, err)
		}
	}
	if _, err := FormatKCV([]byte{1, 2}); !errors.Is(err, ErrKCV) {
		t.Error("FormatKCV accepted 2 bytes")
	}
	if s, _ := FormatKCV([]byte{1, 2, 3, 4, 5}); s != "010203" {
		t.Errorf("FormatKCV = %q", s)
	}
}

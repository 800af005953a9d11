package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSources(t *testing.T) {
	t.Setenv("KR_TEST_PIN", "1234")
	s := &Source{Kind: "PIN", Env: "KR_TEST_PIN"}
	b, err := s.Read("")
	if err != nil || string(b) != "1234" {
		t.Fatalf("%q %v", b, err)
	}
	p := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(p, []byte("5678\n"), 0o600)
	s = &Source{Kind: "PIN", File: p}
	b, err = s.Read("")
	if err != nil || string(b) != "5678" {
		t.Fatalf("%q %v", b, err)
	}
	s = &Source{Kind: "PIN", Env: "KR_TEST_UNSET_VAR"}
	if _, err := s.Read(""); err == nil || !strings.Contains(err.Error(), "KR_TEST_UNSET_VAR") {
		t.Fatalf("%v", err)
	}
	os.WriteFile(p, []byte("\n"), 0o600)
	s = &Source{Kind: "PIN", File: p}
	if _, err := s.Read(""); err == nil {
		t.Fatal("empty file accepted")
	}
}

func TestFileTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pin")
	big := strings.Repeat("7", MaxFileSize+1)
	if err := os.WriteFile(p, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := (&Source{Kind: "PIN", File: p}).Read("")
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("oversized pin file: %v", err)
	}
	if strings.Contains(err.Error(), "7777") {
		t.Fatalf("error echoes the file's content: %v", err)
	}
	// A device that never ends is refused, not read forever.
	if _, err := (&Source{Kind: "PIN", File: "/dev/zero"}).Read(""); err == nil {
		t.Fatal("/dev/zero accepted as a pin file")
	}
}

// TestEnvNameNotEchoed: a PIN given where the variable's name belongs is
// refused without repeating it.
func TestEnvNameNotEchoed(t *testing.T) {
	for _, name := range []string{"123456", "my pin", "p@ss"} {
		_, err := (&Source{Kind: "PIN", Env: name}).Read("")
		if err == nil || strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "not a valid name") {
			t.Errorf("--pin-env %q: %v", name, err)
		}
	}
	t.Setenv("KR_PIN_2", "2468")
	if b, err := (&Source{Kind: "PIN", Env: "KR_PIN_2"}).Read(""); err != nil || string(b) != "2468" {
		t.Fatalf("%q %v", b, err)
	}
}

package byok

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The canonical fast path must agree with the strict reader on every input
// it accepts: same fields, and Marshal gives back the input.
func checkCanonicalAgrees(t *testing.T, data []byte) {
	t.Helper()
	fast, ok := parseCanonical(data)
	if !ok {
		return
	}
	strict, err := parseStrict(data)
	if err != nil {
		t.Fatalf("fast path accepted what the strict reader refuses (%v):\n%q", err, data)
	}
	if !reflect.DeepEqual(fast, strict) {
		t.Fatalf("fast path %+v\nstrict     %+v", fast, strict)
	}
	if got := fast.Marshal(); string(got) != string(data) {
		t.Fatalf("Marshal differs from the input:\n%q\n%q", got, data)
	}
}

func TestParseCanonicalAgreesWithStrict(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(vectorsDir, "*.byok"))
	if len(files) == 0 {
		t.Fatal("no .byok vectors")
	}
	took := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := parseCanonical(data); ok {
			took++
		}
		checkCanonicalAgrees(t, data)
	}
	if took == 0 {
		t.Fatal("the fast path took none of keyrite's own vectors")
	}
	// Fresh blobs from Marshal always take it.
	kek := kekFromFile(t, filepath.Join(vectorsDir, "kek-rsa2048.json"))
	ct, err := Wrap(kek, make([]byte, 32), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, gen := range []string{"", "keyrite test; SoftHSM", `quote " and \ backslash`, "non-ASCII é", "line\u2028sep"} {
		data := NewBlob(kek, ct, gen).Marshal()
		checkCanonicalAgrees(t, data)
		b, err := ParseBlob(data)
		if err != nil || b.Generator != gen {
			t.Errorf("generator %q: %v, %+v", gen, err, b)
		}
	}
}

func FuzzParseCanonical(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(vectorsDir, "*.byok"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCanonicalAgrees(t, data)
	})
}

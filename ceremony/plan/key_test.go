package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/transcripts"
)

// TestReviewerOnToken: a reviewer whose key is an ECDSA P-256 key on a
// token (SoftHSM) signs the plan; the signature counts like a file key's.
func TestReviewerOnToken(t *testing.T) {
	tok := softhsmtest.New(t, "review-card")
	tok.Tool(t, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "rob-card", "--id", "0d")
	pin := func(string) ([]byte, error) { return []byte(tok.PIN), nil }
	key, err := OpenKey(tok.URI("rob-card"), pin, hsm.LoginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer key.Close()
	if key.Default != "rob-card" {
		t.Errorf("default name %q, want the object's label", key.Default)
	}
	s, err := transcripts.NewSigner("rob", key)
	if err != nil {
		t.Fatal(err)
	}
	// The plan lists rob with the card's key.
	text := readTestdata(t, "byok.yaml")
	text = strings.Replace(text, "rob+20894028+AZvvkzqYk7r2ng5LLJ+oyJuFLp8IeKhxtyxOJx6T63tE", s.VerifierKey(), 1)
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "files"), os.DirFS(filepath.Join(testdata, "files"))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if who, ok := p.ReviewerFor(key.Public()); !ok || who.Name != "rob" {
		t.Fatalf("ReviewerFor the card's key: %v %v", who, ok)
	}
	sig, err := p.Sign(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	sig, err = p.Sign(testSigner(t, "rita"), sig)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.CheckReview(sig); !r.Met || strings.Join(r.Signed, ",") != "rita,rob" {
		t.Fatalf("review with a card signature: %+v", r)
	}
}

func TestOpenKeyFile(t *testing.T) {
	k, err := OpenKey(filepath.Join(testdata, "keys", "rita.pem"), nil, hsm.LoginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if k.Default != "rita" {
		t.Errorf("default name %q", k.Default)
	}
	for _, bad := range []string{filepath.Join(testdata, "files", "kek.pem"), filepath.Join(testdata, "nope.pem"), "pkcs11:token=x;object=y"} {
		if _, err := OpenKey(bad, nil, hsm.LoginOptions{}); err == nil {
			t.Errorf("OpenKey(%s): no error", bad)
		}
	}
}

package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/transcripts"
)

func testSigner(t *testing.T, name string) *transcripts.Signer {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, "keys", name+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := transcripts.ParseSigningKeyPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	s, err := transcripts.NewSigner(name, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReviewSignatures(t *testing.T) {
	text := readTestdata(t, "byok.yaml")
	p, err := Parse("byok.yaml", testdata, []byte(text), OSFiles)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.CheckReview(nil); r.Met || !r.NoFile || len(r.Missing) != 2 {
		t.Fatalf("no signature file: %+v", r)
	}

	sig, err := p.Sign(testSigner(t, "rita"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.CheckReview(sig); r.Met || strings.Join(r.Signed, ",") != "rita" || strings.Join(r.Missing, ",") != "rob" {
		t.Fatalf("after rita: %+v", r)
	}
	if _, err := p.Sign(testSigner(t, "rita"), sig); !errors.Is(err, ErrAlreadySigned) {
		t.Errorf("rita again: %v; want ErrAlreadySigned", err)
	}
	// Neither someone outside the plan nor a person the review policy
	// does not count can sign.
	if _, err := p.Sign(testSigner(t, "mallory"), sig); !errors.Is(err, ErrNotReviewer) {
		t.Errorf("mallory: %v; want ErrNotReviewer", err)
	}
	if _, err := p.Sign(testSigner(t, "alice"), sig); !errors.Is(err, ErrNotReviewer) {
		t.Errorf("alice (operator): %v; want ErrNotReviewer", err)
	}
	sig2, err := p.Sign(testSigner(t, "rob"), sig)
	if err != nil {
		t.Fatal(err)
	}
	r := p.CheckReview(sig2)
	if !r.Met || strings.Join(r.Signed, ",") != "rita,rob" || len(r.Missing) != 0 || len(r.Problems) != 0 || r.Stale != "" {
		t.Fatalf("after rita and rob: %+v", r)
	}
	if !strings.Contains(string(sig2), p.Digest.Hex()) {
		t.Error("the signature file does not name the plan's digest")
	}

	// Any change to the plan, a comment even, voids the signatures.
	for _, change := range []string{text + "# reviewed\n", strings.Replace(text, "size: 3072", "size: 4096", 1)} {
		p2, err := Parse("byok.yaml", testdata, []byte(change), OSFiles)
		if err != nil {
			t.Fatal(err)
		}
		r := p2.CheckReview(sig2)
		if r.Met || r.Stale == "" || len(r.Signed) != 0 {
			t.Errorf("changed plan: %+v; want stale, not met", r)
		}
		if _, err := p2.Sign(testSigner(t, "rob"), sig2); !errors.Is(err, ErrStale) {
			t.Errorf("signing a changed plan over old signatures: %v; want ErrStale", err)
		}
		if _, err := p2.Sign(testSigner(t, "rob"), nil); err != nil {
			t.Errorf("signing a changed plan afresh: %v", err)
		}
	}

	// A signature altered, or made by a key of the same name that the
	// plan does not list, does not count.
	forged := strings.Replace(string(sig2), "— rob ", "— rob X", 1)
	if r := p.CheckReview([]byte(forged)); r.Met || len(r.Problems) == 0 {
		t.Errorf("altered signature: %+v", r)
	}
	data, _ := os.ReadFile(filepath.Join(testdata, "keys", "mallory.pem"))
	mkey, _ := transcripts.ParseSigningKeyPEM(data)
	fakeRob, err := transcripts.NewSigner("rob", mkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Sign(fakeRob, sig); !errors.Is(err, ErrNotReviewer) {
		t.Errorf("mallory's key named rob: %v; want ErrNotReviewer", err)
	}
	if r := p.CheckReview([]byte("not a note")); r.Met || len(r.Problems) != 1 {
		t.Errorf("garbage signature file: %+v", r)
	}
}

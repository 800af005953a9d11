package custody

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/vault/shamir"
)

// Fuzz targets for the parsers fuzz_test.go does not cover: recipient
// strings, identity files, and the combine step (Shamir combine of share
// values and the payload check). Seeds come from testdata.

func addTestdata(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParseRecipient: no panic; an accepted recipient's canonical string
// parses again to the same canonical string and kind.
func FuzzParseRecipient(f *testing.F) {
	for _, n := range []string{"age1.pub", "age2.pub", "ssh_ed25519.pub", "ssh_rsa.pub"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("age1pq1qqqq")
	f.Add("age1tag1qqqq")
	f.Add("age1nosuchplugin1qqqq")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecipient(s, nil)
		if err != nil {
			return
		}
		r2, err := ParseRecipient(r.String, nil)
		if err != nil {
			t.Fatalf("canonical string of an accepted recipient does not parse: %v", err)
		}
		if r2.String != r.String || r2.Kind != r.Kind {
			t.Fatalf("recipient %q (%s) re-parses as %q (%s)", r.String, r.Kind, r2.String, r2.Kind)
		}
	})
}

// FuzzParseIdentities: no panic on any identity file, encrypted ssh keys
// included (the passphrase source refuses, so nothing is decrypted).
func FuzzParseIdentities(f *testing.F) {
	addTestdata(f, "age1.key", "age2.key", "ssh_ed25519", "ssh_ed25519_enc", "ssh_rsa")
	f.Add([]byte("# comment\n\nAGE-PLUGIN-NOSUCHPLUGIN-1QQQQ\n"))
	errNo := errors.New("no passphrase")
	f.Fuzz(func(t *testing.T, data []byte) {
		ids, err := ParseIdentities("fuzz", data, nil, func(string) ([]byte, error) { return nil, errNo })
		if err == nil && len(ids) == 0 {
			t.Fatal("no error and no identity")
		}
	})
}

// FuzzCombineParts: no panic in the combine step for any share values; a
// payload that passes openPayload gives a secret no longer than the payload.
func FuzzCombineParts(f *testing.F) {
	var splitID [16]byte
	secret := []byte("the secret")
	payload, commitment := padPayload(f, secret, splitID)
	parts, err := shamir.Split(payload, 3, 2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(parts[0], parts[1], commitment[:])
	f.Add(parts[0], parts[0], commitment[:])
	f.Add([]byte{1}, []byte{2}, []byte{})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		if len(a) > 2*maxPayload || len(b) > 2*maxPayload {
			return
		}
		p, err := shamir.Combine([][]byte{a, b})
		if err != nil {
			return
		}
		var com [32]byte
		copy(com[:], c)
		s, err := openPayload(p, splitID, com)
		if err == nil && len(s) >= len(p) {
			t.Fatalf("a %d-byte secret from a %d-byte payload", len(s), len(p))
		}
		if err == nil && bytes.Equal(com[:], commitment[:]) && !bytes.Equal(s, secret) {
			t.Fatal("the seed commitment opened to another secret")
		}
	})
}

// padPayload builds a payload and its commitment the way Split does, with a
// fixed commitment key so that the seeds are the same on every run.
func padPayload(f *testing.F, secret []byte, splitID [16]byte) ([]byte, [32]byte) {
	f.Helper()
	p, _ := makePayload(splitID, secret)
	clear(p[:commitKeySize])
	return p, commit(p[:commitKeySize], splitID, secret)
}

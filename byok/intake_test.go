package byok

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyrite/keyrite/internal/base/fsx"
)

// TestKEKIntakeValidate: one row per refusal, matched with errors.Is/As.
func TestKEKIntakeValidate(t *testing.T) {
	const v = "../testvectors/byok/"
	const kid = "https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"
	dir := t.TempDir()
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, make([]byte, MaxKEKFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	var (
		ke *KidError
		fe *KEKFileError
	)
	for _, tc := range []struct {
		name    string
		req     KEKRequest
		is      []error
		as      any
		wantKid string
	}{
		{name: "pem without kid", req: KEKRequest{File: v + "kek-rsa2048.pem"}},
		{name: "pem with kid", req: KEKRequest{File: v + "kek-rsa2048.pem", Kid: kid}, wantKid: kid},
		{name: "jwk carries its kid", req: KEKRequest{File: v + "kek-rsa2048.json"}, wantKid: kid},
		{name: "bad kid", req: KEKRequest{File: v + "kek-rsa2048.pem", Kid: "http://x.vault.azure.net/keys/k/0123"}, is: []error{ErrKid}, as: &ke},
		{name: "missing file", req: KEKRequest{File: filepath.Join(dir, "none.pem")}, is: []error{ErrKEKFile}, as: &fe},
		{name: "directory", req: KEKRequest{File: dir}, is: []error{ErrKEKFile}, as: &fe},
		{name: "too large", req: KEKRequest{File: big}, is: []error{ErrKEKFile, fsx.ErrTooLarge}, as: &fe},
		{name: "garbage", req: KEKRequest{File: v + "kek-garbage.pem"}, is: []error{ErrKEK}, as: &fe},
		{name: "RSA-1024", req: KEKRequest{File: v + "kek-rsa1024.pem"}, is: []error{ErrKEK, ErrKEKType}},
		{name: "EC", req: KEKRequest{File: v + "kek-ec-p256.pem"}, is: []error{ErrKEK, ErrKEKType}},
		{name: "private key", req: KEKRequest{File: v + "kek-rsa2048.key.pem"}, is: []error{ErrKEK}},
		{name: "wrong ops", req: KEKRequest{File: v + "kek-wrong-ops.json"}, is: []error{ErrKEK, ErrKEKOps}},
		{name: "kid mismatch", req: KEKRequest{File: v + "kek-rsa2048.json", Kid: kid[:len(kid)-32] + "ffffffffffffffffffffffffffffffff"}, is: []error{ErrKidMismatch}, as: &fe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := tc.req.Validate()
			if tc.is == nil && tc.as == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				res, err := in.Run()
				if err != nil || res.KEK.Kid != tc.wantKid || (tc.wantKid != "") != (res.Kid != nil) || res.Fingerprint.Hex() == "" || len(res.Data) == 0 {
					t.Fatalf("result %+v, %v", res, err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.is {
				if !errors.Is(err, want) {
					t.Errorf("%v: does not match %v", err, want)
				}
			}
			if tc.as != nil && !errors.As(err, tc.as) {
				t.Errorf("%v: not a %T", err, tc.as)
			}
			if errors.Is(err, ErrKid) && tc.as == nil {
				t.Errorf("%v: not a KidError", err)
			}
		})
	}
}

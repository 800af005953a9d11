package sdop

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
)

// TestCheckBlob: the read-back refuses a blob that is not the one made.
func TestCheckBlob(t *testing.T) {
	set := "../../testvectors/sd/n3_q2_rsa2048"
	sd, err := ReadSD(filepath.Join(set, "sd.json"))
	if err != nil {
		t.Fatal(err)
	}
	exch, err := ReadExchangeKey(filepath.Join(set, "exchange_cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	l := custodian.NewLoader(custodian.Options{})
	defer l.Close()
	cs, err := loadKeys(l, []string{filepath.Join(set, "wrap_0.pem"), filepath.Join(set, "wrap_1.pem")})
	if err != nil {
		t.Fatal(err)
	}
	res, err := securitydomain.Restore(sd.SD, exch.Cert, cs, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blob := res.Blob.Marshal()
	if err := checkBlob(blob, exch.Cert, res.Payloads); err != nil {
		t.Fatal(err)
	}
	other, err := securitydomain.ParseCertificate(must(os.ReadFile(filepath.Join(set, "wrap_0.cer"))))
	if err != nil {
		t.Fatal(err)
	}
	off := func(i, by int) []securitydomain.PayloadInfo {
		p := append([]securitydomain.PayloadInfo(nil), res.Payloads...)
		p[i].Size += by
		return p
	}
	renamed := append([]securitydomain.PayloadInfo(nil), res.Payloads...)
	renamed[1].Tag = "other"
	for _, tc := range []struct {
		name     string
		blob     []byte
		payloads []securitydomain.PayloadInfo
		text     string
	}{
		{"not a blob", []byte("{}"), res.Payloads, "invalid restore blob"},
		{"another layout", bytes.ReplaceAll(blob, []byte(", "), []byte(",")), res.Payloads, "does not re-encode"},
		{"fewer entries made", blob, res.Payloads[:2], "holds 3 entries, want 2"},
		{"another tag", blob, renamed, `EncData.data[1] is "base_enclave_backup", want "other"`},
		{"a shorter plaintext", blob, off(0, -16), "bytes of ciphertext for"},
		{"a longer plaintext", blob, off(2, 16), "bytes of ciphertext for"},
	} {
		if err := checkBlob(tc.blob, exch.Cert, tc.payloads); !errors.Is(err, ErrReadBack) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.text)
		}
	}
	if err := checkBlob(blob, other, res.Payloads); !errors.Is(err, ErrReadBack) || !strings.Contains(err.Error(), "is wrapped to") {
		t.Errorf("another exchange key: %v", err)
	}
	if err := sameBlob(blob[:len(blob)-1], blob); err == nil {
		t.Error("a shorter file read back as the same")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

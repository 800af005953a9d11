package custody

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParseManifest(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "s")
	var rs []*Recipient
	for _, p := range []string{"testdata/age1.pub", "testdata/ssh_ed25519.pub", "testdata/ssh_rsa.pub"} {
		r, err := LoadRecipient(p, nil)
		if err != nil {
			f.Fatal(err)
		}
		rs = append(rs, r)
	}
	res, err := Split([]byte("1234"), 2, rs)
	if err != nil {
		f.Fatal(err)
	}
	if err := WriteDir(dir, res); err != nil {
		f.Fatal(err)
	}
	mb, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	f.Add(mb)
	f.Add(bytes.Replace(mb, []byte(`"threshold": 2`), []byte(`"threshold": 1`), 1))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"keyrite-custody-manifest/v1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Marshal(), b) {
			t.Fatal("accepted a manifest that does not re-encode to the same bytes")
		}
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseShare(f *testing.F) {
	s := &Share{Threshold: 2, Total: 3, Index: 1, Value: make([]byte, 65)}
	s.Value[64] = 9
	f.Add(s.Marshal())
	s.Value = make([]byte, 129)
	s.Value[128] = 200
	s.Index, s.Threshold, s.Total = 255, 255, 255
	f.Add(s.Marshal())
	f.Add([]byte(shareHeader + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseShare(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatal("accepted a share that does not re-encode to the same bytes")
		}
	})
}

package custody

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/plugin"
	"golang.org/x/crypto/ssh"
)

type custodian struct {
	rcpt *Recipient
	id   age.Identity
}

func x25519Custodian(t testing.TB) custodian {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRecipient(id.Recipient().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return custodian{r, id}
}

func ed25519Custodian(t testing.TB) custodian {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRecipient(string(ssh.MarshalAuthorizedKey(spk)), nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := agessh.NewEd25519Identity(priv)
	if err != nil {
		t.Fatal(err)
	}
	return custodian{r, id}
}

func split(t testing.TB, secret []byte, m int, cs []custodian) string {
	t.Helper()
	rs := make([]*Recipient, len(cs))
	for i, c := range cs {
		rs[i] = c.rcpt
	}
	res, err := Split(secret, m, rs)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "split")
	if err := WriteDir(dir, res); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRoundTrip splits M-of-N for every 2 ≤ M ≤ N ≤ 5, to X25519 and
// ssh-ed25519 recipients alternately, and combines with every subset of
// identities: every subset of M or more gives the secret back, every smaller
// one fails with ErrTooFewShares.
func TestRoundTrip(t *testing.T) {
	secret := []byte("123456")
	for n := 2; n <= 5; n++ {
		cs := make([]custodian, n)
		for i := range cs {
			if i%2 == 0 {
				cs[i] = x25519Custodian(t)
			} else {
				cs[i] = ed25519Custodian(t)
			}
		}
		for m := 2; m <= n; m++ {
			t.Run(fmt.Sprintf("%d-of-%d", m, n), func(t *testing.T) {
				dir := split(t, secret, m, cs)
				for mask := 1; mask < 1<<n; mask++ {
					var ids []age.Identity
					var want []int
					for i := range n {
						if mask&(1<<i) != 0 {
							ids = append(ids, cs[i].id)
							want = append(want, i+1)
						}
					}
					got, res, err := Combine(dir, ids)
					if len(ids) < m {
						if !errors.Is(err, ErrTooFewShares) {
							t.Fatalf("shares %v: got %v, want ErrTooFewShares", want, err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("shares %v: %v", want, err)
					}
					if !bytes.Equal(got, secret) {
						t.Fatalf("shares %v: wrong secret", want)
					}
					if fmt.Sprint(res.Opened) != fmt.Sprint(want) || len(res.Unopened) != n-len(want) {
						t.Fatalf("shares %v: result %+v", want, res)
					}
				}
			})
		}
	}
}

func TestSecretSizes(t *testing.T) {
	cs := []custodian{x25519Custodian(t), x25519Custodian(t)}
	ids := []age.Identity{cs[0].id, cs[1].id}
	for _, size := range []int{1, 6, 27, 28, 29, 92, 93, 1000, MaxSecretSize} {
		secret := make([]byte, size)
		rand.Read(secret)
		dir := split(t, secret, 2, cs)
		got, _, err := Combine(dir, ids)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("size %d: %v", size, err)
		}
	}
}

// TestShareSizeHidesPINLength: 4- and 8-digit PINs give share files of one size.
func TestShareSizeHidesPINLength(t *testing.T) {
	cs := []custodian{x25519Custodian(t), x25519Custodian(t)}
	rs := []*Recipient{cs[0].rcpt, cs[1].rcpt}
	a, err := Split([]byte("1234"), 2, rs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Split([]byte("12345678"), 2, rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Shares[0].Data) != len(b.Shares[0].Data) {
		t.Errorf("share sizes differ: %d and %d", len(a.Shares[0].Data), len(b.Shares[0].Data))
	}
}

func TestSplitValidation(t *testing.T) {
	c1, c2, c3 := x25519Custodian(t), x25519Custodian(t), x25519Custodian(t)
	rs := []*Recipient{c1.rcpt, c2.rcpt, c3.rcpt}
	dup, _ := ParseRecipient(c2.rcpt.String, nil)
	tests := []struct {
		name   string
		secret []byte
		m      int
		rs     []*Recipient
		want   string
	}{
		{"empty secret", nil, 2, rs, "the secret is empty"},
		{"huge secret", make([]byte, MaxSecretSize+1), 2, rs, "more than the 16384 allowed"},
		{"threshold 1", []byte("x"), 1, rs, "threshold 1: want at least 2"},
		{"threshold above N", []byte("x"), 4, rs, "threshold 4 but only 3 recipients"},
		{"duplicate", []byte("x"), 2, []*Recipient{c1.rcpt, c2.rcpt, dup}, "recipients 2 and 3 are the same key"},
		{"nil recipient", []byte("x"), 2, []*Recipient{c1.rcpt, nil}, "recipient 2 is missing"},
		{"256 recipients", []byte("x"), 2, make([]*Recipient, 256), "256 recipients: at most 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Split(tt.secret, tt.m, tt.rs)
			if !errors.Is(err, ErrInvalidSplit) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalidSplit containing %q", err, tt.want)
			}
		})
	}
}

func TestMaxShares(t *testing.T) {
	if testing.Short() {
		t.Skip("255 encryptions")
	}
	rs := make([]*Recipient, MaxShares)
	cs := make([]custodian, MaxShares)
	for i := range rs {
		cs[i] = x25519Custodian(t)
		rs[i] = cs[i].rcpt
	}
	dir := split(t, []byte("pin"), 5, cs)
	var ids []age.Identity
	for _, c := range cs[250:] {
		ids = append(ids, c.id)
	}
	got, _, err := Combine(dir, ids)
	if err != nil || string(got) != "pin" {
		t.Fatal(err)
	}
}

func TestWriteDirRefusesExisting(t *testing.T) {
	cs := []custodian{x25519Custodian(t), x25519Custodian(t)}
	res, err := Split([]byte("x"), 2, []*Recipient{cs[0].rcpt, cs[1].rcpt})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // exists, empty
	if err := WriteDir(dir, res); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("got %v, want fs.ErrExist", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Fatalf("left temporary files behind: %v", entries)
	}
}

func TestTamperedShare(t *testing.T) {
	cs := []custodian{x25519Custodian(t), ed25519Custodian(t), x25519Custodian(t)}
	ids := []age.Identity{cs[0].id, cs[1].id, cs[2].id}
	for _, i := range []int{0, 40, -1} { // in the header, in the header MAC area, in the payload
		dir := split(t, []byte("secret"), 2, cs)
		p := filepath.Join(dir, ShareFileName(2, 3))
		b, _ := os.ReadFile(p)
		if i < 0 {
			i = len(b) + i
		}
		b[i] ^= 1
		os.Chmod(p, 0o600)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := Combine(dir, ids)
		if !errors.Is(err, ErrShareModified) {
			t.Fatalf("byte %d: got %v, want ErrShareModified", i, err)
		}
		// Someone holding only other shares is also told.
		_, _, err = Combine(dir, ids[:1])
		if !errors.Is(err, ErrShareModified) {
			t.Fatalf("byte %d, other identity: got %v, want ErrShareModified", i, err)
		}
	}
}

func TestMixedSplits(t *testing.T) {
	cs := []custodian{x25519Custodian(t), x25519Custodian(t), x25519Custodian(t)}
	ids := []age.Identity{cs[0].id, cs[1].id, cs[2].id}
	a := split(t, []byte("secret A"), 2, cs)
	b := split(t, []byte("secret B"), 2, cs)
	name := ShareFileName(2, 3)
	data, _ := os.ReadFile(filepath.Join(b, name))
	os.Remove(filepath.Join(a, name))
	os.WriteFile(filepath.Join(a, name), data, 0o600)
	_, _, err := Combine(a, ids)
	if !errors.Is(err, ErrMixedSplits) {
		t.Fatalf("got %v, want ErrMixedSplits", err)
	}
	// Also when the manifest's hash was updated to match.
	m, _ := ReadManifest(a)
	mb, _ := ReadManifest(b)
	m.Files[1].SHA256 = mb.Files[1].SHA256
	os.Remove(filepath.Join(a, ManifestFile))
	os.WriteFile(filepath.Join(a, ManifestFile), m.Marshal(), 0o644)
	_, _, err = Combine(a, ids)
	if !errors.Is(err, ErrMixedSplits) {
		t.Fatalf("got %v, want ErrMixedSplits", err)
	}
}

func TestManifestEdited(t *testing.T) {
	cs := []custodian{x25519Custodian(t), x25519Custodian(t), x25519Custodian(t)}
	ids := []age.Identity{cs[0].id, cs[1].id, cs[2].id}
	edits := map[string]func(m *Manifest){
		"threshold": func(m *Manifest) { m.Threshold = 3 },
		"commitment": func(m *Manifest) {
			m.Commitment.Value = strings.Repeat("ab", 32)
		},
		"split id": func(m *Manifest) { m.SplitID = strings.Repeat("0", 32) },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			dir := split(t, []byte("secret"), 2, cs)
			m, err := ReadManifest(dir)
			if err != nil {
				t.Fatal(err)
			}
			edit(m)
			os.Remove(filepath.Join(dir, ManifestFile))
			os.WriteFile(filepath.Join(dir, ManifestFile), m.Marshal(), 0o644)
			if _, _, err := Combine(dir, ids); !errors.Is(err, ErrMixedSplits) {
				t.Fatalf("got %v, want ErrMixedSplits", err)
			}
		})
	}
}

// TestCommitmentCatchesWrongQuorum forges a consistent 2-of-3 set of shares
// that were really cut 3-of-3: combining two of them yields a wrong value,
// which the commitment must catch.
func TestCommitmentCatchesWrongQuorum(t *testing.T) {
	cs := []custodian{x25519Custodian(t), x25519Custodian(t), x25519Custodian(t)}
	ids := []age.Identity{cs[0].id, cs[1].id, cs[2].id}
	dir := split(t, []byte("secret"), 3, cs)
	m, _ := ReadManifest(dir)
	m.Threshold = 2
	for i, f := range m.Files {
		p := filepath.Join(dir, f.File)
		ct, _ := os.ReadFile(p)
		sh, err := openShare(ct, ids)
		if err != nil {
			t.Fatal(err)
		}
		sh.Threshold = 2
		ct, err = encrypt(sh.Marshal(), cs[i].rcpt)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(p)
		os.WriteFile(p, ct, 0o600)
		m.Files[i].SHA256 = fmt.Sprintf("%x", sha256Sum(ct))
	}
	os.Remove(filepath.Join(dir, ManifestFile))
	os.WriteFile(filepath.Join(dir, ManifestFile), m.Marshal(), 0o644)
	if _, _, err := Combine(dir, ids[:2]); !errors.Is(err, ErrCommitment) {
		t.Fatalf("got %v, want ErrCommitment", err)
	}
}

func TestMissingShareFiles(t *testing.T) {
	cs := []custodian{x25519Custodian(t), x25519Custodian(t), x25519Custodian(t)}
	dir := split(t, []byte("secret"), 2, cs)
	os.Remove(filepath.Join(dir, ShareFileName(1, 3)))
	_, res, err := Combine(dir, []age.Identity{cs[0].id, cs[1].id})
	if !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("got %v", err)
	}
	want := "opened 1 of the 2 needed (opened share 2; no identity opens share 3; missing share file 1)"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if fmt.Sprint(res.Missing) != "[1]" {
		t.Errorf("missing %v", res.Missing)
	}
	got, _, err := Combine(dir, []age.Identity{cs[1].id, cs[2].id})
	if err != nil || string(got) != "secret" {
		t.Fatal(err)
	}
}

func TestTestdataKeys(t *testing.T) {
	var rs []*Recipient
	var ids []age.Identity
	for _, name := range []string{"age1", "ssh_ed25519", "ssh_rsa", "age2"} {
		pub := "testdata/" + name + ".pub"
		key := "testdata/" + name
		if strings.HasPrefix(name, "age") {
			key += ".key"
		}
		r, err := LoadRecipient(pub, nil)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
		id, err := LoadIdentities(key, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id...)
	}
	if rs[1].Kind != "ssh-ed25519" || rs[2].Kind != "ssh-rsa" || rs[0].Kind != "x25519" {
		t.Fatalf("kinds %s %s %s", rs[0].Kind, rs[1].Kind, rs[2].Kind)
	}
	if rs[1].Label != "custodian-ed25519@test" || strings.Contains(rs[1].String, "@") {
		t.Errorf("ssh label %q, string %q", rs[1].Label, rs[1].String)
	}
	res, err := Split([]byte("so-pin-87654321"), 3, rs)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteDir(dir, res); err != nil {
		t.Fatal(err)
	}
	for _, q := range [][]age.Identity{ids[:3], ids[1:], {ids[0], ids[2], ids[3]}} {
		got, _, err := Combine(dir, q)
		if err != nil || string(got) != "so-pin-87654321" {
			t.Fatal(err)
		}
	}
}

func TestEncryptedSSHIdentity(t *testing.T) {
	r, err := LoadRecipient("testdata/ssh_ed25519_enc.pub", nil)
	if err != nil {
		t.Fatal(err)
	}
	other := x25519Custodian(t)
	res, err := Split([]byte("pin"), 2, []*Recipient{r, other.rcpt})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteDir(dir, res); err != nil {
		t.Fatal(err)
	}
	asked := 0
	ids, err := LoadIdentities("testdata/ssh_ed25519_enc", nil, func(prompt string) ([]byte, error) {
		asked++
		return []byte("correct horse"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if asked != 0 {
		t.Error("passphrase asked before it was needed")
	}
	got, _, err := Combine(dir, append(ids, other.id))
	if err != nil || string(got) != "pin" {
		t.Fatal(err)
	}
	if asked != 1 {
		t.Errorf("passphrase asked %d times", asked)
	}
	if _, err := LoadIdentities("testdata/ssh_ed25519_enc", nil, nil); err == nil {
		t.Error("encrypted key without a passphrase source accepted")
	}
}

func TestParseRecipientErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty recipient"},
		{"AGE-SECRET-KEY-1ZD544TSKMC9S220JZAXHP9TLEMWQ5EJ6FASWZJ0X24ESJ6ZTDU3QCQC98U", "looks like an age identity"},
		{"age1notbech32", "invalid age X25519 recipient"},
		{"ssh-ed25519 AAAA", "invalid ssh public key"},
		{"ssh-dss AAAAB3NzaC1kc3MAAACBAP", "invalid ssh public key"},
		{"pgp:foo", "unknown recipient type"},
		{"age1tag1abc", "tagged age recipients are not supported"},
		{"age1x\x1b[2J", "control characters"},
	}
	for _, tt := range tests {
		_, err := ParseRecipient(tt.in, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET-KEY") {
			t.Errorf("%q: error quotes the input: %v", tt.in, err)
		}
	}
	ecdsa := "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEuFIZ+vfnYkx8FnkwbYF0AaOxXiMKGrRvG45xUHaB2FbgYamoT6cYj5xFSv9NRPK7qv+sQw4dfaTuq5uVbRWRc="
	if _, err := ParseRecipient(strings.Replace(ecdsa, "ecdsa-sha2-nistp256", "ssh-ecdsa", 1), nil); err == nil {
		t.Error("bogus key type accepted")
	}
}

func TestLoadRecipientFile(t *testing.T) {
	dir := t.TempDir()
	two := filepath.Join(dir, "two")
	a, _ := os.ReadFile("testdata/age1.pub")
	b, _ := os.ReadFile("testdata/age2.pub")
	os.WriteFile(two, append(a, b...), 0o644)
	if _, err := LoadRecipient(two, nil); err == nil || !strings.Contains(err.Error(), "holds 2 recipient lines") {
		t.Errorf("got %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# nothing\n\n"), 0o644)
	if _, err := LoadRecipient(empty, nil); err == nil || !strings.Contains(err.Error(), "holds no recipient") {
		t.Errorf("got %v", err)
	}
	if _, err := LoadRecipient(filepath.Join(dir, "nope"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v", err)
	}
	// An identity on the command line is refused without being echoed.
	for _, id := range []string{"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ", "age-secret-key-1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"} {
		_, err := LoadRecipient(id, nil)
		if err == nil || strings.Contains(strings.ToUpper(err.Error()), "QQQQ") || !strings.Contains(err.Error(), "not a recipient") {
			t.Errorf("identity as recipient: %v", err)
		}
	}
	r, err := LoadRecipient("testdata/age1.pub", nil)
	if err != nil || r.Label != "testdata/age1.pub" {
		t.Errorf("got %v, %+v", err, r)
	}
}

func TestParseIdentitiesErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "holds no identity"},
		{"# only a comment\n", "holds no identity"},
		{"age13j8zj2tdffc2j65pn6c7nwwqmxdmh80jm2hs7vs488cfwlupyg2shhe6rw\n", "this is a recipient (public key)"},
		{"AGE-SECRET-KEY-1NOTVALIDBECH32\n", "line 1: invalid identity"},
		{"hello\n", "line 1: not an age identity"},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", "not a usable ssh private key"},
		{"\xff\xfe", "not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := ParseIdentities("id.txt", []byte(tt.in), nil, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "NOTVALID") {
			t.Errorf("error quotes the key: %v", err)
		}
	}
}

func TestPluginNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	rcpt := plugin.EncodeRecipient("yubikey", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33})
	_, err := ParseRecipient(rcpt, nil)
	if !errors.Is(err, ErrPluginNotFound) || !strings.Contains(err.Error(), "age-plugin-yubikey is not on PATH") {
		t.Fatalf("got %v", err)
	}
	id := plugin.EncodeIdentity("yubikey", []byte{1, 2, 3})
	_, err = ParseIdentities("yk.txt", []byte(id+"\n"), nil, nil)
	if !errors.Is(err, ErrPluginNotFound) {
		t.Fatalf("got %v", err)
	}
}

func TestShareMarshalRoundTrip(t *testing.T) {
	s := &Share{Threshold: 2, Total: 3, Index: 3, Value: make([]byte, 65)}
	s.Value[64] = 7
	rand.Read(s.SplitID[:])
	b := s.Marshal()
	p, err := ParseShare(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Marshal(), b) {
		t.Fatal("re-encoding differs")
	}
	bad := map[string]string{
		"index 0":      strings.Replace(string(b), "index: 3", "index: 0", 1),
		"index > N":    strings.Replace(string(b), "index: 3", "index: 4", 1),
		"leading zero": strings.Replace(string(b), "index: 3", "index: 03", 1),
		"M > N":        strings.Replace(string(b), "threshold: 2", "threshold: 4", 1),
		"no newline":   strings.TrimSuffix(string(b), "\n"),
		"crlf":         strings.ReplaceAll(string(b), "\n", "\r\n"),
		"upper hex":    strings.Replace(string(b), "split-id: ", "split-id: A", 1)[:0] + strings.Replace(string(b), fmt.Sprintf("%x", s.SplitID[:1]), strings.ToUpper(fmt.Sprintf("%x", s.SplitID[:1]))+"X", 1),
		"extra line":   string(b) + "x\n",
	}
	for name, in := range bad {
		if _, err := ParseShare([]byte(in)); !errors.Is(err, ErrShareFormat) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

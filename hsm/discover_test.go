package hsm_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/miekg/pkcs11"
)

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestModuleSearch: p11-kit configuration (relative and absolute module
// paths, later directories overriding earlier ones, malformed and hidden
// files skipped) and well-known paths, one candidate per real path.
func TestModuleSearch(t *testing.T) {
	root := t.TempDir()
	share, etc, user := filepath.Join(root, "share"), filepath.Join(root, "etc"), filepath.Join(root, "user")
	modDir := filepath.Join(root, "lib", "pkcs11")
	lib := filepath.Join(root, "lib")
	for _, f := range []string{"pkcs11/opensc-pkcs11.so", "softhsm/libsofthsm2.so", "vendor/libvendor.so", "vendor/libvendor2.so", "other/libother.so"} {
		writeFile(t, filepath.Join(lib, f), "ELF")
	}
	// A well-known path that is a symlink to the configured SoftHSM module.
	if err := os.Symlink(filepath.Join(lib, "softhsm/libsofthsm2.so"), filepath.Join(lib, "libsofthsm2.so")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(share, "opensc-pkcs11.module"), "# opensc\nmodule: opensc-pkcs11.so\n")
	writeFile(t, filepath.Join(share, "softhsm2.module"), "\nmodule: "+filepath.Join(lib, "softhsm/libsofthsm2.so")+"\n")
	writeFile(t, filepath.Join(share, "vendor.module"), "module: "+filepath.Join(lib, "vendor/libvendor.so")+"\ncritical: yes\n")
	writeFile(t, filepath.Join(etc, "vendor.module"), "module: "+filepath.Join(lib, "vendor/libvendor2.so")+"\n")
	writeFile(t, filepath.Join(user, "missing.module"), "module: /nonexistent/libnope.so\n")
	writeFile(t, filepath.Join(user, "relmissing.module"), "module: libnope.so\n")
	writeFile(t, filepath.Join(user, "bad.module"), "this is not a key value line\nmodule: "+filepath.Join(lib, "other/libother.so")+"\n")
	writeFile(t, filepath.Join(user, ".hidden.module"), "module: "+filepath.Join(lib, "other/libother.so")+"\n")
	writeFile(t, filepath.Join(user, "notes.txt"), "module: "+filepath.Join(lib, "other/libother.so")+"\n")
	writeFile(t, filepath.Join(user, "nomodule.module"), "enable-in: p11-kit-proxy\n")

	s := hsm.ModuleSearch{
		ConfigDirs: []string{share, etc, user},
		ModuleDirs: []string{filepath.Join(root, "nope"), modDir},
		WellKnown: []hsm.KnownModule{
			{Product: "SoftHSM2", Patterns: []string{filepath.Join(lib, "libsofthsm2.so"), filepath.Join(lib, "softhsm/libsofthsm2.so")}},
			{Product: "OpenSC", Patterns: []string{filepath.Join(lib, "*/opensc-pkcs11.so")}},
			{Product: "Nothing", Patterns: []string{filepath.Join(lib, "none/*.so")}},
		},
	}
	got := s.Modules()
	var lines []string
	for _, c := range got {
		lines = append(lines, fmt.Sprintf("%s|%s|%s|%s", c.Name, c.Product, strings.TrimPrefix(c.Path, root), strings.Join(c.Sources, ",")))
		if c.Source != c.Sources[0] {
			t.Errorf("%s: Source %q is not Sources[0]", c.Name, c.Source)
		}
	}
	want := []string{
		"opensc-pkcs11|OpenSC|/lib/pkcs11/opensc-pkcs11.so|p11-kit " + share + "/opensc-pkcs11.module,well-known OpenSC",
		"softhsm2|SoftHSM2|/lib/softhsm/libsofthsm2.so|p11-kit " + share + "/softhsm2.module,well-known SoftHSM2",
		"vendor||/lib/vendor/libvendor2.so|p11-kit " + etc + "/vendor.module",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Modules:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestModulesHere: on this machine, SoftHSM2 is found once although it is
// reachable by several paths.
func TestModulesHere(t *testing.T) {
	mod := softhsmtest.Module(t)
	real, err := filepath.EvalSymlinks(mod)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range hsm.Modules() {
		if c.RealPath == real {
			n++
			if c.Product != "SoftHSM2" || !filepath.IsAbs(c.Path) {
				t.Errorf("SoftHSM candidate = %+v", c)
			}
		}
	}
	if n != 1 {
		t.Errorf("SoftHSM2 (%s) listed %d times in %+v", real, n, hsm.Modules())
	}
}

func TestParseModuleConfig(t *testing.T) {
	got, err := hsm.ParseModuleConfig([]byte("# c\n\n  Module :  /usr/lib/x.so  \r\npriority: 5\nmodule: /y.so\nenable-in:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got["module"] != "/y.so" || got["priority"] != "5" || got["enable-in"] != "" || len(got) != 3 {
		t.Errorf("got %q", got)
	}
	if _, err := hsm.ParseModuleConfig([]byte("module: a\nno colon here\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: %v", err)
	}
	if _, err := hsm.ParseModuleConfig([]byte(": value\n")); err == nil {
		t.Errorf("empty key accepted")
	}
}

func FuzzParseModuleConfig(f *testing.F) {
	files, _ := filepath.Glob("/usr/share/p11-kit/modules/*.module")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("# This file describes how to load the opensc module\n# See: http://p11-glue.freedesktop.org/doc/p11-kit/config.html\nmodule: opensc-pkcs11.so\n"))
	f.Add([]byte("module: /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so\ncritical: no\ntrust-policy: yes\nenable-in: p11-kit-proxy, firefox\n"))
	f.Add([]byte("\xef\xbb\xbfmodule: x\x00\r\n:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := hsm.ParseModuleConfig(data)
		if err != nil {
			return
		}
		for k, v := range m {
			if k == "" || k != strings.ToLower(k) || strings.TrimSpace(v) != v || strings.ContainsAny(k+v, "\n") {
				t.Fatalf("key %q value %q", k, v)
			}
		}
	})
}

func TestTokens(t *testing.T) {
	conf, dir := softhsmtest.Env(t)
	a := softhsmtest.AddToken(t, conf, dir, "alice")
	softhsmtest.AddToken(t, conf, dir, "bob")
	a.WrongPIN(t)
	m, err := hsm.Load(a.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ts, err := m.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	byLabel := map[string]hsm.TokenEntry{}
	blank := 0
	for _, e := range ts {
		if !e.Present {
			t.Errorf("SoftHSM slot not present: %+v", e)
		}
		if !e.Initialized {
			blank++
			continue
		}
		byLabel[e.Token.Label] = e
	}
	if blank != 1 || len(byLabel) != 2 {
		t.Fatalf("tokens = %+v", ts)
	}
	al, bo := byLabel["alice"], byLabel["bob"]
	if al.Token.Manufacturer != "SoftHSM project" || al.Token.Model != "SoftHSM v2" || al.Token.Serial == "" || al.SlotDescription == "" || !al.LoginRequired {
		t.Errorf("alice = %+v", al)
	}
	if !al.PINCountLow || al.PINFinalTry || al.PINLocked || !al.PINStatus().CountLow {
		t.Errorf("alice's PIN flags after a wrong PIN: %+v", al)
	}
	if bo.PINCountLow {
		t.Errorf("bob's PIN flags: %+v", bo)
	}
	u := al.URI(a.Module).String()
	pu, err := hsm.ParseURI(u)
	if err != nil {
		t.Fatal(err)
	}
	if slot, err := m.FindToken(pu.TokenFilter()); err != nil || slot.ID != al.SlotID {
		t.Errorf("%s: %v %v", u, slot, err)
	}
}

func selfSigned(t testing.TB, key *ecdsa.PrivateKey, cn string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1900000000, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestListObjects: every kind of object, before and after login; the URI
// of each finds exactly it.
func TestListObjects(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tok.WritePrivateKey(t, rsaKey, softhsmtest.Options{Label: "rsa", ID: "01", Extractable: true, Sensitive: true})
	tok.WritePublicKey(t, &rsaKey.PublicKey, softhsmtest.Options{Label: "rsa", ID: "01"})
	tok.WritePrivateKey(t, p256, softhsmtest.Options{Label: "ec256", ID: "02", Sensitive: true})
	tok.WritePublicKey(t, &p256.PublicKey, softhsmtest.Options{Label: "ec256", ID: "02"})
	tok.WritePrivateKey(t, p384, softhsmtest.Options{Label: "ec384", ID: "03", Extractable: true})
	tok.WriteSecretKey(t, make([]byte, 32), softhsmtest.Options{Label: "aes256", ID: "04", Extractable: true, Sensitive: true})
	tok.WriteSecretKey(t, make([]byte, 16), softhsmtest.Options{Label: "aes128", ID: "05"})
	cert := selfSigned(t, p256, "custodian 2")
	tok.WriteCertificate(t, cert, softhsmtest.Options{Label: "ec256", ID: "02"})

	m, err := hsm.Load(tok.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	slot, err := m.FindToken(hsm.TokenFilter{Label: "vendor"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.OpenReadOnlySession(slot)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before, err := s.ListObjects(hsm.ObjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// pkcs11-tool writes secret keys with CKA_PRIVATE false, private keys true.
	if got := summarize(before); got != "aes128 05 secret-key AES 128 pub\naes256 04 secret-key AES 256 pub extractable sensitive\nec256 02 public-key EC P-256 pub\nec256 02 certificate certificate pub\nrsa 01 public-key RSA 2048 pub" {
		t.Errorf("before login:\n%s", got)
	}
	sum := sha256.Sum256(cert)
	for _, o := range before {
		if o.Class == pkcs11.CKO_CERTIFICATE && (o.CertSHA256 != hex.EncodeToString(sum[:]) || o.CertSubject != "CN=custodian 2") {
			t.Errorf("certificate = %+v", o)
		}
	}
	if err := s.Login([]byte(tok.PIN)); err != nil {
		t.Fatal(err)
	}
	after, err := s.ListObjects(hsm.ObjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"aes128 05 secret-key AES 128 pub",
		"aes256 04 secret-key AES 256 pub extractable sensitive",
		"ec256 02 private-key EC P-256 priv sensitive",
		"ec256 02 public-key EC P-256 pub",
		"ec256 02 certificate certificate pub",
		"ec384 03 private-key EC P-384 priv extractable sensitive", // SoftHSM's default
		"rsa 01 private-key RSA 2048 priv extractable sensitive",
		"rsa 01 public-key RSA 2048 pub",
	}, "\n")
	if got := summarize(after); got != want {
		t.Errorf("after login:\n%s\nwant:\n%s", got, want)
	}
	for _, o := range after {
		if o.Duplicates != 0 || !o.Token {
			t.Errorf("%s: %+v", o.URI, o)
		}
		u, err := hsm.ParseURI(o.URI)
		if err != nil {
			t.Fatalf("%s: %v", o.URI, err)
		}
		if u.ModulePath != tok.Module || u.Token != "vendor" || u.Serial != s.Token().Serial || u.Type == "" {
			t.Errorf("URI %s", o.URI)
		}
		found, err := s.FindURI(u)
		if err != nil {
			t.Errorf("%s: %v", o.URI, err)
			continue
		}
		if found.Handle != o.Handle {
			t.Errorf("%s found handle %d, listed %d", o.URI, found.Handle, o.Handle)
		}
	}

	// Filters.
	for _, c := range []struct {
		f    hsm.ObjectFilter
		want string
	}{
		{hsm.ObjectFilter{Classes: []uint{pkcs11.CKO_PRIVATE_KEY}}, "ec256 ec384 rsa"},
		{hsm.ObjectFilter{Classes: []uint{pkcs11.CKO_SECRET_KEY, pkcs11.CKO_CERTIFICATE}}, "aes128 aes256 ec256"},
		{hsm.ObjectFilter{KeyTypes: []uint{pkcs11.CKK_EC}}, "ec256 ec256 ec384"},
		{hsm.ObjectFilter{KeyTypes: []uint{pkcs11.CKK_AES}, Classes: []uint{pkcs11.CKO_SECRET_KEY, pkcs11.CKO_CERTIFICATE}}, "aes128 aes256"},
		{hsm.ObjectFilter{Classes: []uint{pkcs11.CKO_PUBLIC_KEY}, KeyTypes: []uint{pkcs11.CKK_RSA}}, "rsa"},
		{hsm.ObjectFilter{Label: "AES"}, "aes128 aes256"},
		{hsm.ObjectFilter{Text: "extractable"}, "aes256 ec384 rsa"},
		{hsm.ObjectFilter{Text: "non-extractable"}, "aes128 ec256"},
		{hsm.ObjectFilter{Text: "p-384"}, "ec384"},
		{hsm.ObjectFilter{Text: "rsa 2048 private"}, "rsa"},
		{hsm.ObjectFilter{Text: "cert"}, "ec256"},
		{hsm.ObjectFilter{Text: "zzz"}, ""},
	} {
		got, err := s.ListObjects(c.f)
		if err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, o := range got {
			labels = append(labels, o.Label)
			if !c.f.Match(o) {
				t.Errorf("%+v: %s does not match", c.f, o.URI)
			}
		}
		if strings.Join(labels, " ") != c.want {
			t.Errorf("filter %+v: %q, want %q", c.f, labels, c.want)
		}
	}
}

func summarize(objs []hsm.ObjectInfo) string {
	var lines []string
	for _, o := range objs {
		l := fmt.Sprintf("%s %s %s %s", o.Label, o.ID, o.ClassName, o.TypeString())
		if o.Private {
			l += " priv"
		} else {
			l += " pub"
		}
		if o.Extractable {
			l += " extractable"
		}
		if o.Sensitive {
			l += " sensitive"
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// TestListObjectsDuplicates: two objects the same URI would name are
// flagged, so that a list does not offer an ambiguous URI as exact.
func TestListObjectsDuplicates(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	tok.WriteSecretKey(t, make([]byte, 16), softhsmtest.Options{Label: "twin", ID: "01"})
	tok.WriteSecretKey(t, make([]byte, 32), softhsmtest.Options{Label: "twin", ID: "01"})
	tok.WriteSecretKey(t, make([]byte, 32), softhsmtest.Options{Label: "twin", ID: "02"})
	s := tok.Session(t)
	objs, err := s.ListObjects(hsm.ObjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 || objs[0].Duplicates != 1 || objs[1].Duplicates != 1 || objs[2].Duplicates != 0 {
		t.Errorf("%+v", objs)
	}
}

// TestWaitForToken: a token initialised while WaitForToken waits is found
// at the next poll; tokens already there or excluded by serial are not;
// cancelling the context ends the wait.
func TestWaitForToken(t *testing.T) {
	tok := softhsmtest.New(t, "custodian-1")
	m, err := hsm.Load(tok.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	first, err := m.FindToken(hsm.TokenFilter{Label: "custodian-1"})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		e   hsm.TokenEntry
		err error
	}
	done := make(chan result, 1)
	go func() {
		e, err := hsm.WaitForToken(ctx, m, hsm.TokenWait{ExceptSerials: []string{first.Token.Serial}}, 20*time.Millisecond)
		done <- result{e, err}
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("returned before a second token existed: %+v %v", r.e, r.err)
	default:
	}
	// "Insert" a card: initialise the blank slot through the module.
	ts, err := m.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	var blank *hsm.TokenEntry
	for i := range ts {
		if !ts[i].Initialized {
			blank = &ts[i]
		}
	}
	if blank == nil {
		t.Fatalf("no blank slot in %+v", ts)
	}
	ctx11, ok := m.P11().(*pkcs11.Ctx)
	if !ok {
		t.Fatalf("module is a %T", m.P11())
	}
	if err := ctx11.InitToken(blank.SlotID, tok.SOPIN, "custodian-2"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.e.Token.Label != "custodian-2" || r.e.Token.Serial == first.Token.Serial {
		t.Fatalf("WaitForToken = %+v, %v", r.e, r.err)
	}

	// New: tokens present when the wait began do not count.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel2()
	_, err = hsm.WaitForToken(ctx2, m, hsm.TokenWait{New: true}, 20*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for a token") {
		t.Errorf("new token, none inserted: %v", err)
	}
	// A filter that matches a present token returns at once.
	e, err := hsm.WaitForToken(context.Background(), m, hsm.TokenWait{Filter: hsm.TokenFilter{Label: "custodian-1"}}, time.Hour)
	if err != nil || e.SlotID != first.ID {
		t.Errorf("present token: %+v %v", e, err)
	}
}

// counting counts the calls ListObjects makes.
type counting struct {
	hsm.PKCS11
	gets, finds int
}

func (c *counting) GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error) {
	c.gets++
	return c.PKCS11.GetAttributeValue(sh, o, a)
}

func (c *counting) FindObjectsInit(sh pkcs11.SessionHandle, temp []*pkcs11.Attribute) error {
	c.finds++
	return c.PKCS11.FindObjectsInit(sh, temp)
}

// fillToken creates n token objects on s, of every listed shape: AES keys,
// EC P-256 and RSA-2048 private and public keys, certificates.
func fillToken(t testing.TB, s *hsm.Session, n int) {
	t.Helper()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPriv, err := ec.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	ecParams, _ := hsm.ECParamsFor("P-256")
	point, _ := asn1.Marshal(ecPriv.PublicKey().Bytes())
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e := big.NewInt(int64(rk.E)).Bytes()
	cert := selfSigned(t, ec, "bench")
	for i := range n {
		label, id := fmt.Sprintf("key-%04d", i), []byte{byte(i >> 8), byte(i)}
		common := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		}
		var tmpl []*pkcs11.Attribute
		switch i % 10 {
		case 0, 1, 2, 3:
			tmpl = []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, i%2 == 0),
				pkcs11.NewAttribute(pkcs11.CKA_VALUE, make([]byte, 16+8*(i%3))),
			}
		case 4, 5:
			tmpl = []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, ecParams),
				pkcs11.NewAttribute(pkcs11.CKA_VALUE, ecPriv.Bytes()),
			}
		case 6:
			tmpl = []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, ecParams),
				pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, point),
			}
		case 7:
			tmpl = []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
				pkcs11.NewAttribute(pkcs11.CKA_MODULUS, rk.N.Bytes()),
				pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, e),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE_EXPONENT, rk.D.Bytes()),
				pkcs11.NewAttribute(pkcs11.CKA_PRIME_1, rk.Primes[0].Bytes()),
				pkcs11.NewAttribute(pkcs11.CKA_PRIME_2, rk.Primes[1].Bytes()),
				pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_1, rk.Precomputed.Dp.Bytes()),
				pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_2, rk.Precomputed.Dq.Bytes()),
				pkcs11.NewAttribute(pkcs11.CKA_COEFFICIENT, rk.Precomputed.Qinv.Bytes()),
			}
		case 8:
			tmpl = []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
				pkcs11.NewAttribute(pkcs11.CKA_MODULUS, rk.N.Bytes()),
				pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, e),
			}
		case 9:
			tmpl = []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
				pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
				pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, []byte{0x30, 0}),
				pkcs11.NewAttribute(pkcs11.CKA_VALUE, cert),
			}
		}
		if _, err := s.P11().CreateObject(s.Handle(), append(tmpl, common...)); err != nil {
			t.Fatalf("object %d: %v", i, err)
		}
	}
}

// TestListObjectsCalls: one C_GetAttributeValue per object, and a fixed
// number of searches, whatever the number of objects.
func TestListObjectsCalls(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	mod := softhsmtest.Module(t)
	c := &counting{PKCS11: pkcs11.New(mod)}
	s := tok.SessionWith(t, c)
	fillToken(t, s, 60)
	c.gets, c.finds = 0, 0
	objs, err := s.ListObjects(hsm.ObjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 60 {
		t.Fatalf("%d objects", len(objs))
	}
	// The binding makes two C_GetAttributeValue calls for each (sizes,
	// then values); counted here is one per object.
	if c.gets != 60 || c.finds > 7 {
		t.Errorf("%d GetAttributeValue, %d searches for 60 objects", c.gets, c.finds)
	}
	for _, o := range objs {
		if o.Bits == 0 && o.Class != pkcs11.CKO_CERTIFICATE {
			t.Errorf("no size: %+v", o)
		}
	}

	// Objects of other shapes are listed too: a data object, a session key.
	if _, err := s.P11().CreateObject(s.Handle(), []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "blob"),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, []byte("x")),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GenerateSessionAES(128, hsm.SecretKeyOptions{}); err != nil {
		t.Fatal(err)
	}
	objs, err = s.ListObjects(hsm.ObjectFilter{Text: "blob"})
	if err != nil || len(objs) != 1 || objs[0].ClassName != "data" || !objs[0].Token || objs[0].KeyTypeName != "" || objs[0].URI == "" {
		t.Errorf("data object: %+v %v", objs, err)
	}
	objs, err = s.ListObjects(hsm.ObjectFilter{Text: "session"})
	if err != nil || len(objs) != 1 || objs[0].Token || objs[0].TypeString() != "AES 128" {
		t.Errorf("session key: %+v %v", objs, err)
	}
	objs, err = s.ListObjects(hsm.ObjectFilter{Classes: []uint{pkcs11.CKO_DATA}})
	if err != nil || len(objs) != 1 || objs[0].Label != "blob" {
		t.Errorf("data objects: %+v %v", objs, err)
	}
}

// BenchmarkListObjects1000 lists a logged-in SoftHSM token holding 1,000
// objects of every shape (goal: under 1 s).
func BenchmarkListObjects1000(b *testing.B) {
	tok := softhsmtest.New(b, "bench")
	s := tok.Session(b)
	fillToken(b, s, 1000)
	for b.Loop() {
		objs, err := s.ListObjects(hsm.ObjectFilter{})
		if err != nil {
			b.Fatal(err)
		}
		if len(objs) != 1000 {
			b.Fatalf("%d objects", len(objs))
		}
	}
}

// TestWaitForTokenRescan: with Rescan, a token another process initialises
// (softhsm2-util) is seen; without it SoftHSM would not see it. Rescan is
// refused on a module loaded twice.
func TestWaitForTokenRescan(t *testing.T) {
	conf, dir := softhsmtest.Env(t)
	a := softhsmtest.AddToken(t, conf, dir, "custodian-1")
	m, err := hsm.Load(a.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	first, err := m.FindToken(hsm.TokenFilter{Label: "custodian-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		e   hsm.TokenEntry
		err error
	}
	done := make(chan result, 1)
	go func() {
		e, err := hsm.WaitForToken(ctx, m, hsm.TokenWait{New: true, Rescan: true}, 20*time.Millisecond)
		done <- result{e, err}
	}()
	time.Sleep(100 * time.Millisecond)
	softhsmtest.AddToken(t, conf, dir, "custodian-2")
	r := <-done
	if r.err != nil || r.e.Token.Label != "custodian-2" || r.e.Token.Serial == first.Token.Serial {
		t.Fatalf("WaitForToken = %+v, %v", r.e, r.err)
	}
	// The module works after the rescans.
	if _, err := m.FindToken(hsm.TokenFilter{Label: "custodian-2"}); err != nil {
		t.Fatal(err)
	}

	m2, err := hsm.Load(a.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	_, err = hsm.WaitForToken(ctx2, m, hsm.TokenWait{Filter: hsm.TokenFilter{Label: "nope"}, Rescan: true}, 10*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "loaded 2 times") {
		t.Errorf("rescan of a shared module: %v", err)
	}
}

// TestTokensWithoutSlotInfo: a PKCS11 without C_GetSlotInfo (a fake or
// decorator) still lists its tokens, present by C_GetSlotList.
func TestTokensWithoutSlotInfo(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	c := &counting{PKCS11: pkcs11.New(tok.Module)}
	m, err := hsm.LoadWith(c, tok.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ts, err := m.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || !ts[0].Present || ts[0].SlotDescription != "" {
		t.Errorf("%+v", ts)
	}
}

package securitydomain

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

type testKey struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var (
	keysOnce sync.Once
	keyCache map[string][]testKey
)

// testKeys returns the pre-generated custodian keys of testdata/keys with
// self-signed certificates: "2048" (10), "3072" (4), "4096" (4).
func testKeys(t testing.TB) map[string][]testKey {
	t.Helper()
	keysOnce.Do(func() {
		keyCache = map[string][]testKey{}
		for _, sz := range []struct {
			bits string
			n    int
		}{{"2048", 10}, {"3072", 4}, {"4096", 4}} {
			for i := range sz.n {
				k := readKey(t, filepath.Join("testdata", "keys", fmt.Sprintf("rsa%s_%d.pem", sz.bits, i)))
				c, err := SelfSignedCertificate(k, fmt.Sprintf("custodian %s-%d", sz.bits, i), time.Now(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				keyCache[sz.bits] = append(keyCache[sz.bits], testKey{k, c})
			}
		}
	})
	return keyCache
}

func testPayloads() []Payload {
	big := make([]byte, 12000)
	rand.Read(big)
	return []Payload{
		{Tag: "hsm_backup", Data: big},
		{Tag: "base_enclave_backup", Data: bytes.Repeat([]byte{0x42}, 869)},
		{Tag: "partition_enclave_backup", Data: []byte("exactly 32 bytes of plaintext!!!")},
	}
}

func samePayloads(t testing.TB, got, want []Payload) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d payloads, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Tag != want[i].Tag || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("payload %d (%s) differs", i, want[i].Tag)
		}
	}
}

// roundTrip makes an SD for keys with quorum m, restores it with a random
// quorum of the keys in random order, opens the blob on the service side and
// compares; then runs the drill with every key.
func roundTrip(t *testing.T, keys []testKey, m int, exchange testKey) {
	var certs []*x509.Certificate
	for _, k := range keys {
		certs = append(certs, k.cert)
	}
	payloads := testPayloads()
	sdJSON, err := NewSecurityDomain(certs, m, payloads, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := ParseSD(sdJSON)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sd.Marshal(), sdJSON) {
		t.Fatal("SD does not re-encode to the same bytes")
	}
	perm := mrand.Perm(len(keys))[:m]
	var cs []Custodian
	for _, i := range perm {
		cs = append(cs, Custodian{Name: fmt.Sprint("key", i), Cert: keys[i].cert, Key: SoftwareKey(keys[i].key)})
	}
	res, err := Restore(sd, exchange.cert, cs, rand.Reader)
	if err != nil {
		t.Fatalf("restore with keys %v: %v", perm, err)
	}
	got, err := OpenRestoreBlob(res.Blob.Marshal(), exchange.key, exchange.cert)
	if err != nil {
		t.Fatal(err)
	}
	samePayloads(t, got, payloads)

	var all []Custodian
	for i, k := range keys {
		all = append(all, Custodian{Name: fmt.Sprint("key", i), Cert: k.cert, Key: SoftwareKey(k.key)})
	}
	r, err := Verify(sd, all)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Opened != len(keys) || r.Subsets != binom(len(keys), m) {
		t.Fatalf("drill: %+v", r)
	}
}

func binom(n, k int) int {
	r := 1
	for i := 1; i <= k; i++ {
		r = r * (n - k + i) / i
	}
	return r
}

func TestRoundTripRSA2048AllQuorums(t *testing.T) {
	ks := testKeys(t)
	ex := ks["3072"][3]
	for n := MinCustodians; n <= MaxCustodians; n++ {
		for m := MinQuorum; m <= n; m++ {
			t.Run(fmt.Sprintf("n%d_q%d", n, m), func(t *testing.T) {
				roundTrip(t, ks["2048"][:n], m, ex)
			})
		}
	}
}

func TestRoundTripLargeKeys(t *testing.T) {
	ks := testKeys(t)
	ex := ks["2048"][9]
	mixed := []testKey{ks["3072"][0], ks["4096"][0], ks["3072"][1], ks["4096"][1], ks["2048"][0]}
	cases := []struct {
		name string
		keys []testKey
		m    int
	}{
		{"n3_q2_rsa3072", ks["3072"][:3], 2},
		{"n3_q3_rsa3072", ks["3072"][:3], 3},
		{"n4_q2_rsa4096", ks["4096"][:4], 2},
		{"n4_q4_rsa4096", ks["4096"][:4], 4},
		{"n5_q3_mixed", mixed, 3},
	}
	if testing.Short() {
		cases = cases[:1]
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { roundTrip(t, c.keys, c.m, ex) })
	}
}

func TestNewSecurityDomainRefuses(t *testing.T) {
	ks := testKeys(t)
	var certs []*x509.Certificate
	for _, k := range ks["2048"] {
		certs = append(certs, k.cert)
	}
	p := testPayloads()
	for _, c := range []struct {
		name  string
		certs []*x509.Certificate
		m     int
		p     []Payload
	}{
		{"two_certs", certs[:2], 2, p},
		{"eleven_certs", append(certs[:10:10], ks["3072"][0].cert), 2, p},
		{"quorum_1", certs[:3], 1, p},
		{"quorum_above_n", certs[:3], 4, p},
		{"duplicate_cert", []*x509.Certificate{certs[0], certs[1], certs[0]}, 2, p},
		{"no_payloads", certs[:3], 2, nil},
		{"repeated_tag", certs[:3], 2, []Payload{{"a", []byte{1}}, {"a", []byte{2}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewSecurityDomain(c.certs, c.m, c.p, rand.Reader); err == nil {
				t.Fatal("accepted")
			}
			if _, err := DownloadRequest(c.certs, c.m); err == nil && c.p != nil && c.name != "repeated_tag" {
				t.Fatal("DownloadRequest accepted")
			}
		})
	}
}

package securitydomain

import (
	"crypto/rand"
	"crypto/x509"
	"testing"
)

// BenchmarkRestore is a whole restore of a real-size security domain (3
// entries, ~12 KB of payload, 2-of-3, RSA-2048 custodians and exchange key):
// parse, open two shares, combine, decrypt and re-encrypt every entry, wrap
// the new master key. BenchmarkRestoreRSAPrivate measures the two RSA-2048
// private-key operations alone, the part a smartcard would do.
func BenchmarkRestore(b *testing.B) {
	ks := testKeys(b)["2048"]
	certs := []*x509.Certificate{ks[0].cert, ks[1].cert, ks[2].cert}
	sdJSON, err := NewSecurityDomain(certs, 2, testPayloads(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	cs := []Custodian{
		{Name: "k2", Cert: ks[2].cert, Key: SoftwareKey(ks[2].key)},
		{Name: "k0", Cert: ks[0].cert, Key: SoftwareKey(ks[0].key)},
	}
	ex := ks[9].cert
	b.SetBytes(int64(len(sdJSON)))
	b.ResetTimer()
	for b.Loop() {
		sd, err := ParseSD(sdJSON)
		if err != nil {
			b.Fatal(err)
		}
		res, err := Restore(sd, ex, cs, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		_ = res.Blob.Marshal()
	}
}

func BenchmarkRestoreRSAPrivate(b *testing.B) {
	ks := testKeys(b)["2048"]
	certs := []*x509.Certificate{ks[0].cert, ks[1].cert, ks[2].cert}
	sdJSON, _ := NewSecurityDomain(certs, 2, testPayloads(), rand.Reader)
	sd, _ := ParseSD(sdJSON)
	d0, d2 := SoftwareKey(ks[0].key), SoftwareKey(ks[2].key)
	j0, j2 := sd.shares[0], sd.shares[2]
	b.ResetTimer()
	for b.Loop() {
		if _, err := d2.DecryptOAEPSHA256(j2.encKey); err != nil {
			b.Fatal(err)
		}
		if _, err := d0.DecryptOAEPSHA256(j0.encKey); err != nil {
			b.Fatal(err)
		}
	}
}

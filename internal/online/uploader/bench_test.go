package uploader

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/keyrite/keyrite/internal/online/emulator"
	"github.com/keyrite/keyrite/securitydomain"
)

// BenchmarkImportBYOK measures one import round trip with the Azure SDK over
// HTTPS against the emulator: ImportKey (the emulator parses the .byok,
// unwraps under RSA-2048 and checks the key) plus GetKey and the public-key
// comparison.
func BenchmarkImportBYOK(b *testing.B) {
	t := b
	env := newEnv(t, emulator.Config{})
	vault := env.url + "/kv/demo"
	kek, err := env.client.CreateKEK(ctx(t), vault, "kek", 2048)
	if err != nil {
		b.Fatal(err)
	}
	key := readKey(t, "target_rsa2048.pem").(*rsa.PrivateKey)
	pt, _ := x509.MarshalPKCS8PrivateKey(key)
	blob := makeBYOK(t, kek, pt)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := env.client.ImportBYOK(ctx(t), vault, ImportSpec{Name: fmt.Sprintf("k%d", i), Kty: "RSA-HSM", BYOK: blob, Expected: &key.PublicKey})
		if err != nil || !res.PublicKeyMatch {
			b.Fatal(err)
		}
	}
}

// BenchmarkSecurityDomainUpload measures a restore-blob upload round trip:
// the emulator unwraps the master key with its RSA-2048 exchange key and
// authenticates and decrypts every EncData entry, then the client polls.
func BenchmarkSecurityDomainUpload(b *testing.B) {
	env := newEnv(b, emulator.Config{})
	hsm := env.url + "/mhsm/hsm1"
	certs := []*x509.Certificate{readCert(b, "wrap_0.cer"), readCert(b, "wrap_1.cer"), readCert(b, "wrap_2.cer")}
	d, err := env.client.DownloadSecurityDomain(ctx(b), hsm, certs, 2, nil)
	if err != nil {
		b.Fatal(err)
	}
	exCert, _, _, err := env.client.ExchangeKey(ctx(b), hsm)
	if err != nil {
		b.Fatal(err)
	}
	sd, err := securitydomain.ParseSD(d.SD)
	if err != nil {
		b.Fatal(err)
	}
	var custodians []securitydomain.Custodian
	for _, n := range []string{"wrap_0", "wrap_1"} {
		custodians = append(custodians, securitydomain.Custodian{Name: n, Cert: readCert(b, n+".cer"), Key: securitydomain.SoftwareKey(readKey(b, n+".pem").(*rsa.PrivateKey))})
	}
	res, err := securitydomain.Restore(sd, exCert, custodians, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	blob := res.Blob.Marshal()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := env.client.UploadSecurityDomain(ctx(b), hsm, blob); err != nil {
			b.Fatal(err)
		}
	}
}

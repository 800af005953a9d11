package securitydomain

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"path/filepath"
	"testing"
)

// TestTransferKeyResponse: the service's layout (recorded 2025): compact,
// transfer_key a JSON string holding the JWK with its members in
// alphabetical order, kid "not used", no alg; it reads back with
// ParseExchangeKey.
func TestTransferKeyResponse(t *testing.T) {
	for _, set := range []string{"n3_q2_rsa2048", "n3_q3_rsa3072_4096"} {
		t.Run(set, func(t *testing.T) {
			cert := readCert(t, filepath.Join(vectorDir, set, "exchange_cert_reference.pem"))
			got, err := TransferKeyResponse(cert)
			if err != nil {
				t.Fatal(err)
			}
			pub := cert.PublicKey.(*rsa.PublicKey)
			jwk := `{"e":"` + base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()) +
				`","key_ops":["wrapKey","verify","encrypt"],"kid":"not used","kty":"RSA","n":"` +
				base64.RawURLEncoding.EncodeToString(pub.N.Bytes()) +
				`","x5c":["` + base64.StdEncoding.EncodeToString(cert.Raw) +
				`"],"x5t":"` + x5t(cert) + `","x5t#S256":"` + X5T256(cert) + `"}`
			q, _ := json.Marshal(jwk)
			if want := `{"key_format":"jwk","transfer_key":` + string(q) + `}`; string(got) != want {
				t.Errorf("TransferKeyResponse:\n%s\nwant\n%s", got, want)
			}
			back, err := ParseExchangeKey(got)
			if err != nil || !back.Equal(cert) {
				t.Errorf("ParseExchangeKey: %v", err)
			}
		})
	}
}

// TestTransferKeyResponseRecorded: TransferKeyResponse, given the
// certificate of the transfer key the real service sent (2025,
// testvectors/sd/recorded2025), reproduces that answer byte for byte.
func TestTransferKeyResponseRecorded(t *testing.T) {
	rec := readFile(t, filepath.Join(recordedDir, "transfer_key_response.json"))
	cert, err := ParseExchangeKey(rec)
	if err != nil {
		t.Fatal(err)
	}
	if bits := cert.PublicKey.(*rsa.PublicKey).N.BitLen(); bits != 4096 || X5T256(cert) != "wGaLpPbFtC8C85LDJlnn7jdp53x6NOxS8MZmd-l8Rb0" {
		t.Errorf("RSA-%d, x5t#S256 %s", bits, X5T256(cert))
	}
	got, err := TransferKeyResponse(cert)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(rec) {
		t.Errorf("TransferKeyResponse differs from the recording:\n%.300s\nwant\n%.300s", got, rec)
	}
}

package securitydomain

import (
	"bytes"
	"crypto/rsa"
	"os"
	"path/filepath"
	"testing"
)

// Real service traffic, recorded by the az CLI's tests in April 2025 (see
// testvectors/sd/recorded2025/SOURCE.md). It cannot be opened (the wrapping
// keys' private halves are not public), but everything short of that is
// checked against it: the SD parses and re-encodes to the same bytes, its
// share kids are in the current form, its shares go to exactly the
// request's certificates, the download request parses, and the transfer key
// is read as the service sends it.
const recordedDir = vectorDir + "/recorded2025"

func TestRecordedServiceSD(t *testing.T) {
	data := readFile(t, filepath.Join(recordedDir, "sd.json"))
	sd, err := ParseSD(data)
	if err != nil {
		t.Fatalf("the service's own SD is refused: %v", err)
	}
	if !bytes.Equal(sd.Marshal(), bytes.TrimSpace(data)) {
		t.Error("the service's SD does not re-encode to its own bytes")
	}
	if sd.ShareKidForm() != KidFormPerShare || sd.Version != 2 || sd.Required != 2 || len(sd.Shares) != 3 || len(sd.Data) != 3 {
		t.Errorf("kid form %q, version %d, quorum %d, %d shares, %d entries", sd.ShareKidForm(), sd.Version, sd.Required, len(sd.Shares), len(sd.Data))
	}
	for i, s := range sd.Shares {
		if !uuidForm.MatchString(s.Kid) {
			t.Errorf("share %d kid %q", i, s.Kid)
		}
	}
	certs, quorum, err := ParseDownloadRequest(readFile(t, filepath.Join(recordedDir, "download_request.json")))
	if err != nil {
		t.Fatalf("the az CLI's download request: %v", err)
	}
	if quorum != sd.Required || len(certs) != len(sd.Shares) {
		t.Fatalf("request: %d certificates, quorum %d", len(certs), quorum)
	}
	for i, c := range certs {
		der, err := os.ReadFile(filepath.Join(recordedDir, "wrap_cert_"+string(rune('1'+i))+".der"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.Raw, der) || sd.Shares[i].X5T256 != X5T256(c) {
			t.Errorf("share %d is not addressed to the request's certificate %d", i, i)
		}
	}
	// The request the az CLI sent is byte for byte what DownloadRequest
	// builds from the same certificates.
	if body, err := DownloadRequest(certs, quorum); err != nil || !bytes.Equal(body, readFile(t, filepath.Join(recordedDir, "download_request.json"))) {
		t.Errorf("DownloadRequest differs from the recorded body (err %v)", err)
	}
}

func TestRecordedTransferKey(t *testing.T) {
	cert, err := ParseExchangeKey(readFile(t, filepath.Join(recordedDir, "transfer_key_response.json")))
	if err != nil {
		t.Fatalf("the service's transfer key is refused: %v", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 4096 {
		t.Fatalf("transfer key: %T", cert.PublicKey)
	}
	// What init-recovery writes, read back, is the same certificate.
	again, err := ParseExchangeKey(ExchangeCertPEM(cert))
	if err != nil || !again.Equal(cert) {
		t.Fatalf("the exchange PEM does not read back: %v", err)
	}
}

package uploader

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keyrite/keyrite/securitydomain"
)

// TestRecordedDownloadChecks: the security domain the real service returned
// (recorded 2025, per-share UUID kids) passes the checks the uploader makes
// before keeping a download: parsed, quorum as asked, one share per
// certificate of the request, in order. Before 2025-form kids were
// accepted, this SD was refused and the download could never finish.
func TestRecordedDownloadChecks(t *testing.T) {
	dir := filepath.Join(fuzzVectors, "sd", "recorded2025")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	certs, quorum, err := securitydomain.ParseDownloadRequest(read("download_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSD(read("sd.json"), certs, quorum); err != nil {
		t.Fatalf("the service's SD for the recorded request: %v", err)
	}
	// Another order of the same certificates is refused: the shares are
	// bound to the request as sent.
	certs[0], certs[1] = certs[1], certs[0]
	if err := CheckSD(read("sd.json"), certs, quorum); err == nil {
		t.Error("certificates out of order accepted")
	}
	if err := CheckSD(read("sd.json"), certs[:3], 3); err == nil {
		t.Error("another quorum accepted")
	}
}

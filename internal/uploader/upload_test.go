package uploader

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUploadRequestMatchesCLI pins the upload body to the one the az CLI's
// code built for the same blob.
func TestUploadRequestMatchesCLI(t *testing.T) {
	blob, err := os.ReadFile(filepath.Join("testdata", "vector_restore_blob.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "vector_upload_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := UploadRequest(blob); string(got) != string(want) {
		t.Errorf("upload body differs from the CLI's:\n got %.120q\nwant %.120q", got, want)
	}
	// Escapes as Python's json.dumps (ensure_ascii) does.
	got := string(UploadRequest([]byte("a\"b\\c\n\r\t\b\f\x01\x7fé😀/<>&")))
	want2 := "{\n  \"value\": \"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007f\\u00e9\\ud83d\\ude00/<>&\"\n}"
	if got != want2 {
		t.Errorf("got %q\nwant %q", got, want2)
	}
}

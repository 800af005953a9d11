package uploader

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestUploadRequestMatchesCLI pins the upload body to the one the az CLI's
// code built for the same blob (the vector holds it indented; the wire form,
// as recorded service traffic shows, is json.dumps' default layout).
func TestUploadRequestMatchesCLI(t *testing.T) {
	blob, err := os.ReadFile(filepath.Join("testdata", "vector_restore_blob.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "vector_upload_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, UploadRequest(blob), "", "  "); err != nil {
		t.Fatal(err)
	}
	if got := ind.Bytes(); string(got) != string(want) {
		t.Errorf("upload body differs from the CLI's:\n got %.120q\nwant %.120q", got, want)
	}
	// Escapes as Python's json.dumps (ensure_ascii) does.
	got := string(UploadRequest([]byte("a\"b\\c\n\r\t\b\f\x01\x7fé😀/<>&")))
	want2 := "{\"value\": \"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007f\\u00e9\\ud83d\\ude00/<>&\"}"
	if got != want2 {
		t.Errorf("got %q\nwant %q", got, want2)
	}
}

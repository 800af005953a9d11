package transcripts

import "testing"

// A line break inside base64 changes the bytes but not the decoded value;
// such files are refused so that every accepted file is canonical.
func TestDecodeStdRefusesLineBreaks(t *testing.T) {
	if b, err := decodeStd("YWJj"); err != nil || string(b) != "abc" {
		t.Fatalf("%q %v", b, err)
	}
	for _, s := range []string{"YW\nJj", "YWJj\r", "\nYWJj"} {
		if _, err := decodeStd(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

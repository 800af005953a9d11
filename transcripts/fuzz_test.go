package transcripts

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func goldenLines(f *testing.F) [][]byte {
	data, err := readFileF(filepath.Join(goldenDir, TranscriptFile))
	if err != nil {
		f.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func readFileF(p string) ([]byte, error) { return readFileOS(p) }

// FuzzParseEntry: no panic; anything accepted re-encodes to the same bytes.
func FuzzParseEntry(f *testing.F) {
	for _, l := range goldenLines(f) {
		f.Add(l)
	}
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseEntry(line)
		if err != nil {
			return
		}
		re, err := encodeEntry(e)
		if err != nil || !bytes.Equal(re, line) {
			t.Fatalf("accepted line does not re-encode:\n%s\n%s", line, re)
		}
	})
}

// FuzzParseChain: no panic on any transcript file.
func FuzzParseChain(f *testing.F) {
	data, _ := readFileOS(filepath.Join(goldenDir, TranscriptFile))
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		ch, err := parseChain(data)
		if err == nil && len(ch.entries) == 0 {
			t.Fatal("a transcript without events was accepted")
		}
	})
}

// FuzzParseNote: no panic; accepted notes re-encode to the same bytes, and a
// checkpoint body parsed from one re-encodes too.
func FuzzParseNote(f *testing.F) {
	for name, b := range readTreeF(f, goldenDir) {
		if filepath.Ext(name) == ".note" {
			f.Add(b)
		}
	}
	f.Add([]byte("a\n\n— k AAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		text, sigs, err := ParseNote(msg)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeNote(text, sigs), msg) {
			t.Fatal("accepted note does not re-encode")
		}
		if ref, err := ParseCheckpoint(text); err == nil {
			re, err := CheckpointText(ref)
			if err != nil || !bytes.Equal(re, text) {
				t.Fatal("accepted checkpoint does not re-encode")
			}
		}
	})
}

// FuzzParseEnvelope: no panic on attestation files.
func FuzzParseEnvelope(f *testing.F) {
	for name, b := range readTreeF(f, goldenDir) {
		if filepath.Ext(name) == ".json" {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, _, err := ParseEnvelope(data)
		if err != nil {
			return
		}
		re, err := encodeEnvelope(env)
		if err != nil || !bytes.Equal(re, data) {
			t.Fatal("accepted envelope does not re-encode")
		}
	})
}

// FuzzVerifierKeyAndTrust: no panic on verifier keys and trust files.
func FuzzVerifierKeyAndTrust(f *testing.F) {
	op, wit, _ := goldenSigners(f)
	f.Add(op.VerifierKey())
	f.Add(wit.VerifierKey())
	f.Add(`{"keys":[{"name":"alice","role":"operator","key":"` + op.VerifierKey() + `"}],"policy":{"operator":1}}`)
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := NewVerifier(s); err == nil && v.VerifierKey() != s {
			t.Fatal("accepted key does not re-encode")
		}
		ParseTrust([]byte(s))
	})
}

// FuzzSecretScan: the secret scanner never panics.
func FuzzSecretScan(f *testing.F) {
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04})
	f.Fuzz(func(t *testing.T, data []byte) {
		secretInData(data)
		checkText("f", string(data), 1<<20)
		checkParamName(string(data))
	})
}

// TestFastDecodeAgreesWithEncodingJSON: the fast decoder accepts exactly the
// canonical encoding, including strings json.Marshal escapes, and rejects
// equivalent but non-canonical spellings that encoding/json would decode.
func TestFastDecodeAgreesWithEncodingJSON(t *testing.T) {
	tricky := []string{"a<b>&c", "caf\u00e9", "line\u2028sep", "tab\there", "quote\"back\\slash", "\u00ff\U0001F600", "x/y"}
	for _, s := range tricky {
		e := &Entry{V: 1, Seq: 1, Prev: zeroHash, OperatorTime: "2026-01-02T03:04:05.000Z", Step: "a.b",
			Actor: Actor{Name: s, Role: "operator"}, Action: s, Params: []Param{{"n", s}},
			Tool: Tool{Name: "keyrite", Version: "v1", Revision: "r", GoVersion: "go"}, Result: "ok", Deviations: []string{s}}
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := fastDecode(line)
		if !ok {
			t.Errorf("%q: canonical line refused: %s", s, line)
			continue
		}
		if re, _ := json.Marshal(got); !bytes.Equal(re, line) {
			t.Errorf("%q: decoded differently", s)
		}
	}
	base, _ := json.Marshal(&Entry{V: 1, Seq: 1, Prev: zeroHash, OperatorTime: "2026-01-02T03:04:05.000Z", Step: "a.b",
		Actor: Actor{Name: "al", Role: "operator"}, Action: "x/y é", Tool: Tool{Name: "keyrite", Version: "v1", Revision: "r", GoVersion: "go"}, Result: "ok"})
	variants := []string{
		strings.Replace(string(base), `"al"`, `"\u0061l"`, 1),
		strings.Replace(string(base), `x/y`, `x\/y`, 1),
		strings.Replace(string(base), `é`, `\u00e9`, 1),
		strings.Replace(string(base), `"seq":1`, `"seq":01`, 1),
		strings.Replace(string(base), `"seq":1`, `"seq": 1`, 1),
		strings.Replace(string(base), `"result":"ok"`, `"mechanism":"","result":"ok"`, 1),
		strings.Replace(string(base), `"result":"ok"`, `"result":"ok","deviations":[]`, 1),
		strings.Replace(string(base), `"action":"x/y é"`, `"action":"x/y é","params":[]`, 1),
		strings.Replace(string(base), `x/y é`, "x/y \xe9", 1),
		strings.Replace(string(base), `x/y é`, "x/y <", 1),
	}
	for _, v := range variants {
		if v == string(base) {
			t.Fatalf("variant did not change the line")
		}
		if _, ok := fastDecode([]byte(v)); ok {
			t.Errorf("non-canonical accepted: %s", v)
		}
		if _, err := ParseEntry([]byte(v)); err == nil {
			t.Errorf("ParseEntry accepted non-canonical: %s", v)
		}
	}
}

// FuzzVerify runs Verify over the golden ceremony with a fuzzed transcript
// and a fuzzed signature note: no panic, and never OK unless the transcript
// and note are the golden ones.
func FuzzVerify(f *testing.F) {
	files := readTreeF(f, goldenDir)
	op, _, trust := goldenSigners(f)
	noteName := "signatures/5-" + keyIDHex(op.KeyHash()) + ".note"
	f.Add(files[TranscriptFile], files[noteName])
	f.Fuzz(func(t *testing.T, transcript, note []byte) {
		dir := t.TempDir()
		for name, b := range files {
			switch name {
			case TranscriptFile:
				b = transcript
			case noteName:
				b = note
			}
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := Verify(dir, trust)
		if err == nil && (!bytes.Equal(transcript, files[TranscriptFile]) || !bytes.Equal(note, files[noteName])) {
			t.Fatalf("modified ceremony verified: %+v", rep)
		}
	})
}

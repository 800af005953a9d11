package transcripts

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseTrustRules(t *testing.T) {
	op, wit, _ := goldenSigners(t)
	a, b := op.VerifierKey(), wit.VerifierKey()
	a2 := testSigner(t, "alice2", edKey("alice")).VerifierKey()
	cases := map[string]struct{ json, want string }{
		"ok":             {`{"keys":[{"name":"alice","role":"operator","key":"` + a + `"}],"policy":{"operator":1}}`, ""},
		"unknown field":  {`{"keys":[],"policy":{},"extra":1}`, "unknown field"},
		"no keys":        {`{"keys":[],"policy":{"operator":1}}`, "no keys"},
		"name mismatch":  {`{"keys":[{"name":"bob","role":"operator","key":"` + a + `"}],"policy":{"operator":1}}`, `name "bob" but the key is named "alice"`},
		"duplicate name": {`{"keys":[{"name":"alice","role":"operator","key":"` + a + `"},{"name":"alice","role":"witness","key":"` + a + `"}],"policy":{"operator":1}}`, "listed twice"},
		"bad role":       {`{"keys":[{"name":"alice","role":"Operator","key":"` + a + `"}],"policy":{"operator":1}}`, "role"},
		"empty policy":   {`{"keys":[{"name":"alice","role":"operator","key":"` + a + `"}],"policy":{}}`, "empty policy"},
		"zero count":     {`{"keys":[{"name":"alice","role":"operator","key":"` + a + `"}],"policy":{"operator":0}}`, "want 1 or more"},
		"unreachable":    {`{"keys":[{"name":"alice","role":"operator","key":"` + a + `"},{"name":"bob","role":"operator","key":"` + b + `"}],"policy":{"witness":1}}`, "only 0 witness key"},
		"bad key":        {`{"keys":[{"name":"alice","role":"operator","key":"alice+00000000+AAAA"}],"policy":{"operator":1}}`, "verifier key"},
		"trailing data":  {`{"keys":[{"name":"alice","role":"operator","key":"` + a + `"}],"policy":{"operator":1}} {}`, "data after"},
		"float count":    {`{"keys":[{"name":"alice","role":"operator","key":"` + a + `"}],"policy":{"operator":1.5}}`, "cannot unmarshal"},
		"wrong key id":   {`{"keys":[{"name":"alice","role":"operator","key":"` + strings.Replace(a, "+ca35be5d+", "+ca35be5e+", 1) + `"}],"policy":{"operator":1}}`, "key id"},
		"same key twice": {`{"keys":[{"name":"alice","role":"operator","key":"` + a + `"},{"name":"alice2","role":"witness","key":"` + a2 + `"}],"policy":{"operator":1}}`, "same public key"},
	}
	for name, c := range cases {
		_, err := ParseTrust([]byte(c.json))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		case err != nil && !errors.Is(err, ErrTrust):
			t.Errorf("%s: %v does not wrap ErrTrust", name, err)
		}
	}
}

func TestActedOnChecked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	buildCeremony(t, dir, testOptions())
	c, err := OpenWith(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := c.Checkpoint()
	bad := good
	bad.RootHash = strings.Repeat("0", 64)
	for name, cp := range map[string]CheckpointRef{
		"wrong root":   bad,
		"future size":  {Origin: good.Origin, Size: good.Size + 1, RootHash: good.RootHash},
		"other origin": {Origin: OriginPrefix + strings.Repeat("1", 32), Size: good.Size, RootHash: good.RootHash},
	} {
		if err := c.Record(Event{Step: "uploader.import", Action: "x", Actor: Actor{Role: "uploader"}, ActedOn: &cp}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := c.Record(Event{Step: "uploader.import", Action: "x", Actor: Actor{Role: "uploader"}, ActedOn: &good}); err != nil {
		t.Fatal(err)
	}
}

package transcripts

import (
	"crypto"
	"errors"
	"os"
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
	// The uploader records only uploader.* steps, and only it does: a
	// ceremony step planted as the uploader (who signs nothing) would pass
	// for part of the ceremony.
	if err := c.Record(Event{Step: "byok.export", Action: "x", Actor: Actor{Role: "uploader"}, ActedOn: &good}); err == nil {
		t.Error("a byok.export recorded by the uploader role was accepted")
	}
	if err := c.Record(Event{Step: "uploader.import", Action: "x", Actor: Actor{Role: "operator"}, ActedOn: &good}); err == nil {
		t.Error("an uploader.* step recorded by the operator role was accepted")
	}
}

// A trusted key that signs under another name is a valid signature that does
// not count; Verify says so with a *SignerNameError (before the policy
// problem), and nothing else fails. For Ed25519 the name is part of the key
// ID; for ECDSA it is not, and the report is the same.
func TestSignerNameMismatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"ed25519", edKey("carol")}, {"ecdsa-p256", ecKey(t, "carol")}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "c")
			opts := testOptions()
			buildCeremony(t, dir, opts)
			asBob := testSigner(t, "bob", tc.key)
			asAlice := testSigner(t, "alice", tc.key)
			trust := testTrust(t, map[string]int{"operator": 1}, map[string]*Signer{"bob": asBob}, map[string]string{"bob": "operator"})

			if tk, ok := trust.KeyFor(tc.key.Public()); !ok || tk.Name != "bob" || tk.Role != "operator" {
				t.Fatalf("KeyFor = %+v, %v", tk, ok)
			}
			if _, ok := trust.KeyFor(edKey("other").Public()); ok {
				t.Fatal("KeyFor found a key that is not listed")
			}

			if _, err := SignWith(dir, asAlice, "operator", opts); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(dir, trust)
			var ne *SignerNameError
			if !errors.As(err, &ne) || !errors.Is(err, ErrSignerName) || !errors.Is(err, ErrVerify) || !errors.Is(err, ErrPolicyNotMet) {
				t.Fatalf("Verify: %v", err)
			}
			if ne.Name != "alice" || ne.TrustedName != "bob" || ne.TrustedRole != "operator" || ne.KeyID != keyIDHex(asAlice.KeyHash()) || ne.TrustedKeyID != keyIDHex(asBob.KeyHash()) {
				t.Errorf("SignerNameError = %+v", ne)
			}
			if (ne.KeyID == ne.TrustedKeyID) != (tc.name == "ecdsa-p256") {
				t.Errorf("key IDs %s and %s: the name is part of the key ID for Ed25519 only", ne.KeyID, ne.TrustedKeyID)
			}
			if len(rep.Problems) != 2 || !errors.As(rep.Problems[0].Err(), &ne) || !errors.Is(rep.Problems[1].Err(), ErrPolicyNotMet) {
				t.Fatalf("problems: %+v", rep.Problems)
			}
			sig := rep.Checkpoints[0].Signatures[0]
			if sig.Trusted || !sig.Valid || sig.TrustedAs != "bob" || sig.TrustedAsKeyID != keyIDHex(asBob.KeyHash()) {
				t.Errorf("signature report: %+v", sig)
			}

			// Signing under the trust file's name meets the policy; the
			// other signature is then only reported.
			if tc.name == "ecdsa-p256" {
				// Same key ID, same file names: move the first one away.
				base := filepath.Join(dir, SignaturesDir, "5-"+ne.KeyID)
				os.Remove(base + ".note")
				os.Remove(base + ".dsse.json")
			}
			if _, err := SignWith(dir, asBob, "operator", opts); err != nil {
				t.Fatal(err)
			}
			if rep, err := Verify(dir, trust); err != nil {
				t.Fatalf("after signing as bob: %v %+v", err, rep.Problems)
			}
		})
	}
}

package steps

import (
	"errors"
	"reflect"
	"testing"

	"github.com/keyrite/keyrite/transcripts"
)

func ref(name string, kind transcripts.Kind) transcripts.ArtifactRef {
	return transcripts.ArtifactRef{Name: name, Kind: kind, SHA256: goldenKEK}
}

func ps(kv ...string) []transcripts.Param {
	var out []transcripts.Param
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, transcripts.Param{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

// TestOldExportSpellings: byok.export events as earlier builds and other
// tools recorded them read as today's do.
func TestOldExportSpellings(t *testing.T) {
	byokOut := []transcripts.ArtifactRef{ref("app.byok", transcripts.KindBYOK)}
	for name, tc := range map[string]struct {
		e    transcripts.Entry
		want func(x *BYOKExport) bool
	}{
		"key_ops for ops": {
			transcripts.Entry{Outputs: byokOut, Params: ps("name", "app", "target", "RSA-2048", "key_ops", "sign,verify")},
			func(x *BYOKExport) bool { return reflect.DeepEqual(x.Ops, []string{"sign", "verify"}) },
		},
		"ops before key_ops": {
			transcripts.Entry{Outputs: byokOut, Params: ps("key_ops", "sign", "target", "RSA-2048", "ops", "verify")},
			func(x *BYOKExport) bool { return reflect.DeepEqual(x.Ops, []string{"verify"}) },
		},
		"no ops": {
			transcripts.Entry{Outputs: byokOut, Params: ps("target", "RSA-2048", "ops", "")},
			func(x *BYOKExport) bool { return x.Ops == nil },
		},
		"target_spki_sha256 for public_key_sha256": {
			transcripts.Entry{Outputs: byokOut, Params: ps("target", "EC P-384", "target_spki_sha256", goldenKEK)},
			func(x *BYOKExport) bool { return x.PublicKeySHA256 == goldenKEK && x.PublicKey == nil },
		},
		"kek_fingerprint for kek_sha256": {
			transcripts.Entry{Outputs: byokOut, Params: ps("target", "AES-128", "kek_fingerprint", goldenKEK)},
			func(x *BYOKExport) bool { return x.KEKSHA256 == goldenKEK },
		},
		"key_uri for source": {
			transcripts.Entry{Outputs: byokOut, Params: ps("target", "AES-128", "key_uri", "pkcs11:token=vendor;object=app-key")},
			func(x *BYOKExport) bool { return x.Source == "pkcs11:token=vendor;object=app-key" },
		},
		"RSA target only": {
			transcripts.Entry{Outputs: byokOut, Params: ps("target", "RSA-4096", "crv", "P-256")},
			func(x *BYOKExport) bool { return x.Kty == "RSA-HSM" && x.Crv == "" },
		},
		"EC target only": {
			transcripts.Entry{Outputs: byokOut, Params: ps("target", "EC P-521")},
			func(x *BYOKExport) bool { return x.Kty == "EC-HSM" && x.Crv == "P-521" },
		},
		"AES target only": {
			transcripts.Entry{Outputs: byokOut, Params: ps("target", "AES-192")},
			func(x *BYOKExport) bool { return x.Kty == "oct-HSM" && x.Crv == "" },
		},
		"kty and crv over target": {
			transcripts.Entry{Outputs: byokOut, Params: ps("target", "something else", "kty", "EC-HSM", "crv", "P-256")},
			func(x *BYOKExport) bool { return x.Kty == "EC-HSM" && x.Crv == "P-256" && x.Target == "something else" },
		},
		"public key DER as an input": {
			transcripts.Entry{Outputs: byokOut, Inputs: []transcripts.ArtifactRef{ref("kek.pem", transcripts.KindKEK), ref("app.pub.der", transcripts.KindPublicKey)},
				Params: ps("target", "RSA-2048")},
			func(x *BYOKExport) bool {
				return x.PublicKey != nil && x.PublicKey.Name == "app.pub.der" && x.KEK.Name == "kek.pem"
			},
		},
		"public key output before input": {
			transcripts.Entry{Outputs: append(byokOut, ref("out.pem", transcripts.KindPublicKey)), Inputs: []transcripts.ArtifactRef{ref("in.der", transcripts.KindPublicKey)},
				Params: ps("target", "RSA-2048")},
			func(x *BYOKExport) bool { return x.PublicKey.Name == "out.pem" },
		},
	} {
		t.Run(name, func(t *testing.T) {
			tc.e.Step, tc.e.Seq = StepBYOKExport, 4
			x, err := ParseBYOKExport(&tc.e)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(x) {
				t.Errorf("parsed %+v", x)
			}
		})
	}
}

// TestExportRefused: what no reader could use is refused, naming the event.
func TestExportRefused(t *testing.T) {
	for _, tc := range []struct {
		outputs []transcripts.ArtifactRef
		params  []transcripts.Param
		want    string
	}{
		{nil, ps("target", "RSA-2048"), "byok.export event 4: it has no .byok output artifact"},
		{[]transcripts.ArtifactRef{ref("a.byok", transcripts.KindBYOK), ref("b.byok", transcripts.KindBYOK)}, ps("target", "RSA-2048"),
			"byok.export event 4: it has two .byok outputs (a.byok, b.byok)"},
		{[]transcripts.ArtifactRef{ref("a.byok", transcripts.KindBYOK)}, ps("name", "a"), "byok.export event 4: it records neither param target nor kty"},
		{[]transcripts.ArtifactRef{ref("a.byok", transcripts.KindBYOK)}, ps("target", "RSA-1024"),
			`byok.export event 4: param target "RSA-1024" is not RSA-2048/3072/4096, EC P-256/P-384/P-521 or AES-128/192/256`},
		{[]transcripts.ArtifactRef{ref("a.byok", transcripts.KindBYOK)}, ps("kty", "RSA-HSM", "crv", "P-256"), `byok.export event 4: crv "P-256" given for kty RSA-HSM`},
		{[]transcripts.ArtifactRef{ref("a.byok", transcripts.KindBYOK)}, ps("kty", "EC-HSM"), `byok.export event 4: crv "" for EC-HSM; expected P-256, P-384 or P-521`},
		{[]transcripts.ArtifactRef{ref("a.byok", transcripts.KindBYOK)}, ps("kty", "OKP"), `byok.export event 4: kty "OKP"; expected RSA-HSM, EC-HSM or oct-HSM`},
	} {
		e := &transcripts.Entry{Step: StepBYOKExport, Seq: 4, Outputs: tc.outputs, Params: tc.params}
		_, err := ParseBYOKExport(e)
		var ee *EntryError
		if err == nil || err.Error() != tc.want || !errors.As(err, &ee) || ee.Seq != 4 {
			t.Errorf("got %v, want %s", err, tc.want)
		}
		if s, err := Parse(e); s != nil || err == nil {
			t.Errorf("Parse: %v, %v", s, err)
		}
	}
	if _, err := ParseSDRestore(&transcripts.Entry{Step: StepBYOKExport, Seq: 2}); err == nil || err.Error() != "byok.export event 2: not a sd.restore event" {
		t.Errorf("wrong kind: %v", err)
	}
}

// TestOldImportCheck: imports recorded before public_key_check existed say
// what they checked through public_key_match.
func TestOldImportCheck(t *testing.T) {
	for _, tc := range []struct {
		params []transcripts.Param
		want   string
	}{
		{ps("public_key_match", "true", "match_reason", "same"), CheckMatch},
		{ps("public_key_match", "false", "match_reason", "nothing recorded"), CheckNotCompared},
		{ps("public_key_match", "not applicable"), CheckNotApplicable},
		{ps("public_key_match", "false", "public_key_check", CheckMismatch), CheckMismatch},
		{nil, CheckNotCompared},
	} {
		e := &transcripts.Entry{Step: StepUploaderImport, Params: append(ps("export_seq", "4", "byok_file", "a.byok", "kid", "k"), tc.params...)}
		x, err := ParseUploaderImport(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := x.PublicKey.RecordedCheck(); got != tc.want {
			t.Errorf("%v: check %q, want %q", tc.params, got, tc.want)
		}
		if x.Lookup || x.BYOK.Name != "a.byok" {
			t.Errorf("%+v", x)
		}
	}
}

// TestClaims: what replay checks, from known kinds and from others by the
// same names.
func TestClaims(t *testing.T) {
	for name, tc := range map[string]struct {
		e    transcripts.Entry
		want Claims
	}{
		"export": {transcripts.Entry{Step: StepBYOKExport, Outputs: []transcripts.ArtifactRef{ref("a.byok", transcripts.KindBYOK)},
			Params: ps("kid", "K", "kek_fingerprint", "F", "target", "AES-256", "quorum", "ignored")}, Claims{KEKKid: "K", KEKSHA256: "F", Target: "AES-256"}},
		"kek.inspect":                           {transcripts.Entry{Step: "kek.inspect", Params: ps("kid", "K", "kek_sha256", "S")}, Claims{KEKKid: "K", KEKSHA256: "S"}},
		"restore":                               {transcripts.Entry{Step: StepSDRestore, Params: ps("quorum", "2 of 3", "kid", "ignored")}, Claims{Quorum: "2 of 3"}},
		"import: its kid is the imported key's": {transcripts.Entry{Step: StepUploaderImport, Params: ps("kid", "K", "byok_file", "a.byok")}, Claims{}},
		"export that does not parse": {transcripts.Entry{Step: StepBYOKExport, Params: ps("kid", "K", "target", "RSA-1")},
			Claims{KEKKid: "K", Target: "RSA-1"}},
	} {
		if got := ClaimsOf(&tc.e); got != tc.want {
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		}
	}
}

func TestUnknownStep(t *testing.T) {
	if s, err := Parse(&transcripts.Entry{Step: "witness.confirm"}); s != nil || err != nil {
		t.Errorf("Parse of another kind: %v, %v", s, err)
	}
}

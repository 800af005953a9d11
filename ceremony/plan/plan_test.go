package plan

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const testdata = "testdata"

// Test keys (their private halves are in testdata/keys for the signing tests).
const (
	vkAlice = "alice+17e39a15+AZJ5GInwaF0swtP1MJD1vnmgUxNzvE/Fzwiz5r0hoH0K"
	vkBob   = "bob+e001e97f+AZIgnTC4EOsh6jINlkdZ6/On5hDpKrssoxcz7axC7V/u"
	vkCarol = "carol+0370c5c2+AQpHfo+2Bp2ZRJo+VKNhoBIkYJO8lMuH6ndpCiOHSxHM"
	vkDave  = "dave+6c5d27ed+AYEdUUNYKBMWOW2XCfpz1TZp235gIdtfL8WM+U20jAJ1"
	vkErin  = "erin+3ba16907+AekefZWPS10IaqAfryfMu7W23ZcnoHnz9hZCQr0T8aeb"
	vkRita  = "rita+a02c6f28+ASkwxlLNzPFMgONF544RzkQu05CZp16rGDmTQedx7rz6"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestTestdataPlans(t *testing.T) {
	for name, steps := range map[string]int{"byok.yaml": 10, "activation.yaml": 7, "restore.yaml": 10} {
		p, err := Read(filepath.Join(testdata, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(p.Steps) != steps {
			t.Errorf("%s: %d steps, want %d", name, len(p.Steps), steps)
		}
		for i, s := range p.Steps {
			if s.N != i+1 || s.Kind == "" || len(s.Who) == 0 || s.Action == "" {
				t.Errorf("%s: step %d incomplete: %+v", name, i+1, s)
			}
			for _, who := range s.Who {
				if _, ok := p.Person(who); !ok {
					t.Errorf("%s: step %d names %q, not a person of the plan", name, s.N, who)
				}
			}
		}
		if p.Closing() == nil || p.ReviewTrust() == nil {
			t.Errorf("%s: no trusts", name)
		}
		if p.Steps[len(p.Steps)-1].Kind != StepSign {
			t.Errorf("%s: the last step is %s, want %s", name, p.Steps[len(p.Steps)-1].Kind, StepSign)
		}
	}
}

// fills are the values the tests put in place of each template
// placeholder, in order of appearance (the last repeats).
var fills = map[string][]string{
	"e.g. contoso-app-keys-2026q1":                                {"contoso-app-keys"},
	"e.g. contoso-mhsm-activation":                                {"contoso-activation"},
	"e.g. contoso-mhsm-restore-2026":                              {"contoso-restore"},
	"the operator's name, e.g. alice":                             {"alice"},
	"the operator's name":                                         {"alice"},
	"alice+1a2b3c4d+AX...":                                        {vkAlice},
	"the operator's verifier key":                                 {vkAlice},
	"a witness's name":                                            {"bob"},
	"the witness's verifier key":                                  {vkBob},
	"a reviewer's name":                                           {"rita"},
	"the reviewer's verifier key":                                 {vkRita},
	"custodian 1's name":                                          {"carol"},
	"custodian 2's name":                                          {"dave"},
	"custodian 3's name":                                          {"erin"},
	"custodian 1's verifier key":                                  {vkCarol},
	"custodian 2's verifier key":                                  {vkDave},
	"custodian 3's verifier key":                                  {vkErin},
	"custodian 1's card serial":                                   {"C1"},
	"custodian 2's card serial":                                   {"C2"},
	"custodian 3's card serial":                                   {"C3"},
	"https://VAULT.vault.azure.net/keys/NAME/VERSION":             {"https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"},
	"the key's name in the vault":                                 {"app-key"},
	"the token label":                                             {"vendor"},
	"the key object's label":                                      {"app-key"},
	"who confirms it":                                             {"bob"},
	"e.g. sd.json":                                                {"files/sd.json"},
	"e.g. certs/custodian1.cer":                                   {"files/wrap_0.cer"},
	"e.g. certs/custodian2.cer":                                   {"files/wrap_1.cer"},
	"43 base64url characters":                                     {"2bE9AJGfll0C24oDO90sHZRI_7aENxvxru4l5jXUCC0", "NaFs4HXxJjyTqaQx9oX4ic7_jzI6BG0pcKhVaiHlLlY"},
	"e.g. tamper-evident bag #4711 intact, its number read aloud": {"bag 4711 intact"},
	"e.g. each custodian's card in its sealed envelope, numbers read aloud":     {"cards sealed"},
	"e.g. each custodian's card out of its sealed envelope, numbers read aloud": {"cards out"},
}

var quotedPlaceholder = regexp.MustCompile(`"FILL IN: ([^"]*)"`)

// fill replaces a template's placeholders as an author would.
func fill(t *testing.T, kind, tmpl string) string {
	used := map[string]int{}
	out := quotedPlaceholder.ReplaceAllStringFunc(tmpl, func(m string) string {
		key := quotedPlaceholder.FindStringSubmatch(m)[1]
		if key == "64 hex digits" {
			if kind == KindBYOK {
				return "13e5718e92ee5265cbcb02fa94837dc8b55b2f0f00b6b8383f3e7c6b5b3f622f"
			}
			return "c72f5e31d406253d3085894f25d26eb14a78a2ccea3ca7cb33f91729c9335a79"
		}
		vals, ok := fills[key]
		if !ok {
			t.Fatalf("%s template: no fill for placeholder %q", kind, key)
		}
		v := vals[min(used[key], len(vals)-1)]
		used[key]++
		return `"` + v + `"`
	})
	return regexp.MustCompile(`FILL IN: one or two sentences[^\n]*`).ReplaceAllString(out, "A rehearsal of the ceremony,")
}

// TestTemplates: each template is refused until every placeholder is
// filled, and passes once they are.
func TestTemplates(t *testing.T) {
	for _, kind := range Kinds {
		tmpl, err := Template(kind)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(kind+".yaml", testdata, tmpl, OSFiles)
		var errs *Errors
		if p != nil || !errors.As(err, &errs) {
			t.Fatalf("%s: unfilled template: got %v, %v; want placeholder errors", kind, p, err)
		}
		for _, e := range errs.List {
			if !strings.Contains(e.Msg, "placeholder left") || e.Line == 0 {
				t.Errorf("%s: unfilled template: %v; want only placeholder errors with lines", kind, e)
			}
		}
		filled := fill(t, kind, string(tmpl))
		if regexp.MustCompile(`(?m)^[^#\n]*FILL IN`).MatchString(filled) {
			t.Fatalf("%s: placeholders left after filling", kind)
		}
		p, err = Parse(kind+".yaml", testdata, []byte(filled), OSFiles)
		if err != nil {
			t.Fatalf("%s: filled template: %v\n%s", kind, err, filled)
		}
		if p.Kind != kind || len(p.Steps) == 0 {
			t.Errorf("%s: filled template parsed as %s with %d steps", kind, p.Kind, len(p.Steps))
		}
	}
	if _, err := Template("import"); err == nil {
		t.Error("Template(import): no error")
	}
}

// TestBadPlans: each bad plan gets a clear error at the line of the
// mistake, and no plan at all.
func TestBadPlans(t *testing.T) {
	tests := []struct {
		name, base string
		old, new   string
		want       string // in the error
		line       int    // 0: the line where new starts; -1: any
	}{
		{"typo in a field name", "byok.yaml", "  spki_sha256:", "  spki_sha265:", `kek: unknown field "spki_sha265"; did you mean "spki_sha256"?`, 0},
		{"typo at the top", "byok.yaml", "checklist:", "checklists:", `unknown field "checklists"; did you mean "checklist"?`, 0},
		{"wrong type: text for a number", "byok.yaml", "    size: 3072", "    size: big", "targets[0].size: wrong type: text (big) where a whole number is expected", 0},
		{"wrong type: text for a list", "byok.yaml", "    key_ops: [sign, verify]", "    key_ops: sign", "wrong type: text (sign) where a list is expected", 0},
		{"wrong type: list for text", "byok.yaml", "name: keyrite-test-app-keys", "name: [a, b]", "wrong type: a list where text is expected", 0},
		{"duplicate key", "byok.yaml", "    type: RSA\n", "    type: RSA\n    type: EC\n", `duplicate key "type" (first at line 34)`, 35},
		{"duplicate person", "byok.yaml", "  - name: carol\n", "  - name: bob\n", `people[2].name: "bob" is listed twice`, 16},
		{"impossible quorum", "activation.yaml", "  quorum: 2", "  quorum: 4", "security_domain.quorum: impossible quorum: 4 custodians needed but 3 listed", 0},
		{"quorum below the service's", "activation.yaml", "  quorum: 2", "  quorum: 1", "security_domain.quorum: 1: the service takes a quorum of 2 to 10", 0},
		{"quorum above the service's", "activation.yaml", "  quorum: 2", "  quorum: 11", "the service takes a quorum of 2 to 10", 0},
		{"quorum not the security domain's", "restore.yaml", "  quorum: 2", "  quorum: 3", "impossible quorum: 3 custodians needed but 2 listed", 0},
		{"too few custodians for activation", "activation.yaml", "    - person: erin\n", "", "2 custodians: the service takes 3 to 10", -1},
		{"missing file", "restore.yaml", "files/wrap_2.cer", "files/wrap_9.cer", "security_domain.custodians[1].certificate: certificate files/wrap_9.cer: no such file", 0},
		{"missing KEK file", "byok.yaml", "  file: files/kek.pem", "  file: files/kek2.pem", "kek.file: KEK files/kek2.pem: no such file", 0},
		{"absolute file name", "byok.yaml", "  file: files/kek.pem", "  file: /etc/kek.pem", "name files relative to the plan", 0},
		{"SD digest mismatch", "restore.yaml", "c72f5e31d406253d3085894f25d26eb14a78a2ccea3ca7cb33f91729c9335a79", "c72f5e31d406253d3085894f25d26eb14a78a2ccea3ca7cb33f91729c9335a7a", "security_domain.sha256: digest mismatch: files/sd.json has SHA-256 c72f5e31", 0},
		{"KEK digest mismatch", "byok.yaml", "13e5718e92ee5265cbcb02fa94837dc8b55b2f0f00b6b8383f3e7c6b5b3f622f", "13e5718e92ee5265cbcb02fa94837dc8b55b2f0f00b6b8383f3e7c6b5b3f6220", "kek.spki_sha256: digest mismatch: files/kek.pem has SPKI SHA-256 13e5718e", 0},
		{"certificate thumbprint mismatch", "restore.yaml", "YFxu7o3D41x4wH50XtSnpB21V7qmYjLfJ2iXSKcEYfQ", "NaFs4HXxJjyTqaQx9oX4ic7_jzI6BG0pcKhVaiHlLlY", "digest mismatch: files/wrap_2.cer has x5t#S256 YFxu7o3D41x4wH50XtSnpB21V7qmYjLfJ2iXSKcEYfQ", 0},
		{"exchange key mismatch", "restore.yaml", "zPd9qvE4U52KVU-ENMDpfHkSuXl6TRL_adSGDMN57t0", "YFxu7o3D41x4wH50XtSnpB21V7qmYjLfJ2iXSKcEYfQ", "security_domain.exchange_key.x5t_s256: digest mismatch", 0},
		{"unknown person", "byok.yaml", "    by: carol", "    by: carl", `checklist[1].by: "carl" is not one of the people of the plan (alice, bob, carol, rita, rob)`, 0},
		{"unknown custodian", "restore.yaml", "    - person: dave", "    - person: dan", `"dan" is not one of the people`, 0},
		{"card certificate not the custodian's", "restore.yaml", "    token_serial: \"A1B2C3D4\"\n", "    token_serial: \"A1B2C3D4\"\n    cert_x5t_s256: YFxu7o3D41x4wH50XtSnpB21V7qmYjLfJ2iXSKcEYfQ\n", "security_domain.custodians[0].x5t_s256: 2bE9AJGfll0C24oDO90sHZRI_7aENxvxru4l5jXUCC0, but people lists carol's card certificate as YFxu7o3D41x4wH50XtSnpB21V7qmYjLfJ2iXSKcEYfQ", -1},
		{"bad card thumbprint", "restore.yaml", "    token_serial: \"A1B2C3D4\"\n", "    token_serial: \"A1B2C3D4\"\n    cert_x5t_s256: abc\n", `people[2].cert_x5t_s256: "abc": want an x5t#S256 thumbprint`, -1},
		{"custodian who is not one", "restore.yaml", "    - person: dave", "    - person: bob", "bob is a witness, not a custodian", 0},
		{"reviewer confirming a check", "byok.yaml", "    by: carol", "    by: rita", "rita is a reviewer", 0},
		{"placeholder left", "byok.yaml", "name: keyrite-test-app-keys", `name: "FILL IN: a short name"`, `name: placeholder left: "FILL IN: a short name"; fill it in`, 0},
		{"placeholder in a number", "activation.yaml", "  quorum: 2", "  quorum: FILL IN", "security_domain.quorum: placeholder left", 0},
		{"bad kid", "byok.yaml", "07a6ce20546664152745a2aeb55dc57a", "07a6ce20", "kek.kid:", 0},
		{"unsupported RSA size", "byok.yaml", "    size: 3072", "    size: 1024", "RSA-1024: the service imports RSA keys of 2048, 3072 or 4096 bits", 0},
		{"unsupported curve", "byok.yaml", "    curve: P-384", "    curve: P-256K", `"P-256K": the service imports EC keys on P-256, P-384 or P-521`, 0},
		{"unknown key type", "byok.yaml", "    type: AES", "    type: DES", `targets[1].type: "DES": want RSA, EC or AES`, 0},
		{"key_ops the type does not allow", "byok.yaml", "    key_ops: [sign, verify]", "    key_ops: [sign, encrypt, import]", `targets[0].key_ops[2]: "import": a RSA key may have sign, verify, wrapKey, unwrapKey, encrypt, decrypt`, 0},
		{"bad vault key name", "byok.yaml", "  - name: storage-wrap", "  - name: storage_wrap", `targets[1].name: vault key name "storage_wrap"`, 0},
		{"same vault name twice", "byok.yaml", "  - name: storage-wrap", "  - name: Payments-Signing", "also targets[0]'s name", 0},
		{"pin in a URI", "byok.yaml", "type=secret-key", "type=secret-key?pin-value=1234", "targets[1].uri: hsm: invalid PKCS#11 URI: pin-value is refused", 0},
		{"unsatisfiable closing policy", "byok.yaml", "witness: 2}", "witness: 3}", "policy.closing.witness: unsatisfiable: 3 witness signature(s) required but the plan lists 2 witness(s)", 0},
		{"reviewer in the closing policy", "byok.yaml", "witness: 2}", "witness: 2, reviewer: 1}", `policy.closing.reviewer: role "reviewer": a closing policy names operator, witness, custodian`, 0},
		{"no review policy", "byok.yaml", "  review: {reviewer: 2}\n", "", "policy.review: missing", -1},
		{"unknown role", "byok.yaml", "    role: witness\n    key: bob", "    role: wittness\n    key: bob", `people[1].role: "wittness": want one of operator, witness, custodian, reviewer`, 0},
		{"two operators", "byok.yaml", "    role: witness\n    key: carol", "    role: operator\n    key: carol", "2 operators; a ceremony has exactly one operator", -1},
		{"key under another name", "byok.yaml", "  - name: alice\n", "  - name: alicia\n", `the key is named "alice", not "alicia"`, -1},
		{"same key twice", "byok.yaml", "rob+20894028+AZvvkzqYk7r2ng5LLJ+oyJuFLp8IeKhxtyxOJx6T63tE", "rob+a02c6f28+ASkwxlLNzPFMgONF544RzkQu05CZp16rGDmTQedx7rz6", "people[4].key:", 0},
		{"unknown kind", "byok.yaml", "kind: byok", "kind: import", `kind: "import": want one of byok, activation, restore`, 0},
		{"future version", "byok.yaml", "keyrite_plan: 1", "keyrite_plan: 2", "keyrite_plan: version 2 is not supported", 0},
		{"kek in a restore plan", "restore.yaml", "security_domain:\n", "kek: {kid: x, spki_sha256: y}\nsecurity_domain:\n", "kek: only a byok plan has this", 0},
		{"anchor and alias", "byok.yaml", "    by: carol", "    by: &c carol\n    at: *c", "anchors and aliases are not allowed", 0},
		{"second document", "byok.yaml", "policy:\n", "---\npolicy:\n", "YAML", -1},
		{"explicit tag", "byok.yaml", "    size: 3072", "    size: !!int 3072", "explicit tag !!int", 0},
		{"raw control character", "byok.yaml", "Camera recording", "Camera\x1b[2Jrecording", "YAML syntax: control characters are not allowed", 0},
		{"escaped control character", "byok.yaml", "item: Camera recording, its clock shown to the camera", `item: "Camera\e[2Jrecording"`, "checklist[1].item: control character U+001B", 0},
		{"bidi override", "byok.yaml", "Camera recording", "Camera \u202erecording", "bidirectional control U+202E", 0},
		{"YAML syntax", "byok.yaml", "    type: RSA\n", "    type: RSA\n   bad: [\n", "YAML syntax: did not find expected '-' indicator (in the block that starts at line 29); check the indentation", 35},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := readTestdata(t, tt.base)
			if !strings.Contains(base, tt.old) {
				t.Fatalf("%s does not contain %q", tt.base, tt.old)
			}
			text := strings.Replace(base, tt.old, tt.new, 1)
			p, err := Parse(tt.base, testdata, []byte(text), OSFiles)
			if p != nil || err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			var errs *Errors
			if !errors.As(err, &errs) || !errors.Is(err, ErrPlan) {
				t.Fatalf("error %T %v: want *Errors wrapping ErrPlan", err, err)
			}
			line := tt.line
			if line == 0 {
				line = strings.Count(text[:strings.Index(text, tt.old[:0]+tt.new)], "\n") + 1
			}
			found := false
			for _, e := range errs.List {
				if strings.Contains(e.Error(), tt.want) && (line < 0 || e.Line == line) {
					found = true
				}
				if e.Line == 0 && tt.line >= 0 {
					t.Errorf("an error without a line: %v", e)
				}
			}
			if !found {
				t.Errorf("got\n%v\nwant %q at line %d", err, tt.want, line)
			}
			if !strings.HasPrefix(err.Error(), tt.base+":") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestManyProblemsAtOnce(t *testing.T) {
	text := strings.NewReplacer("    by: carol", "    by: carl", "    size: 3072", "    size: 1024").Replace(readTestdata(t, "byok.yaml"))
	_, err := Parse("byok.yaml", testdata, []byte(text), OSFiles)
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.List) != 2 {
		t.Fatalf("got %v; want both problems", err)
	}
}

func TestEmptyAndNotAMapping(t *testing.T) {
	for _, text := range []string{"", "# only a comment\n", "- a\n- b\n", "just text\n", "null\n"} {
		p, err := Parse("p.yaml", testdata, []byte(text), OSFiles)
		if p != nil || err == nil {
			t.Errorf("%q: no error", text)
		}
	}
}

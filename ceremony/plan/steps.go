package plan

import (
	"fmt"
	"strings"
)

// StepKind says what a step does, so that a runner knows which operation
// performs it and which facts to check.
type StepKind string

// Step kinds. The names of steps that record a transcript event are the
// event's step name.
const (
	StepAttendance  StepKind = "attendance"      // everyone present states name and role; card holders show their cards
	StepChecklist   StepKind = "checklist"       // a manual check, confirmed aloud by one person
	StepSelfTest    StepKind = "selftest"        // the known-answer self-tests
	StepKEK         StepKind = "kek.inspect"     // the KEK checked against kid and SPKI SHA-256, compared aloud
	StepExport      StepKind = "byok.export"     // one target key exported under the KEK
	StepKeygen      StepKind = "sd.keygen"       // custodians' wrapping keys and certificates made on their cards
	StepDownload    StepKind = "sd.download"     // online: the security domain downloaded with the new certificates
	StepDrill       StepKind = "sd.verify"       // the quorum drill on the downloaded security domain
	StepSDFile      StepKind = "sd.file"         // the security-domain file checked against its digest
	StepExchangeKey StepKind = "sd.exchange-key" // the restore's exchange key compared aloud
	StepCustodian   StepKind = "sd.custodian"    // one custodian's card checked and share opened
	StepRestore     StepKind = "sd.restore"      // the restore blob written, its digest compared aloud
	StepSign        StepKind = "transcript.sign" // the closing signatures
)

// Step is one numbered step of the script.
type Step struct {
	N      int      `json:"n"`                // 1, 2, 3, ...
	Kind   StepKind `json:"kind"`             // what it does
	Who    []string `json:"who"`              // the people who act or confirm, by name; the first acts
	Action string   `json:"action"`           // what is done, as participants read it
	Facts  []Fact   `json:"facts,omitempty"`  // what is expected: checked by the tool, some compared aloud
	Online bool     `json:"online,omitempty"` // done on the online side of the air gap
	// Command is the keyrite command line that performs the step by
	// hand ("" for manual steps); placeholders in capitals.
	Command string `json:"command,omitempty"`
	// Ref is the plan field the step comes from ("targets[1]",
	// "checklist[0]"), "" for steps every plan of its kind has.
	Ref string `json:"ref,omitempty"`
}

// Fact is one expected value of a step.
type Fact struct {
	Name  string `json:"name"`            // "kid", "spki_sha256", "token_serial", ...
	Value string `json:"value"`           // the expected value; "" when only known on the day
	Words string `json:"words,omitempty"` // for digests: the PGP words people read aloud
	// Aloud: people compare it aloud (with the online side, or the person
	// holding the card), not only the tool.
	Aloud bool `json:"aloud,omitempty"`
}

// inRoom lists the people who attend (everyone but reviewers).
func (p *Plan) inRoom() []Person {
	var out []Person
	for _, q := range p.People {
		if q.Role != RoleReviewer {
			out = append(out, q)
		}
	}
	return out
}

func (p *Plan) operator() string {
	if ops := p.WithRole(RoleOperator); len(ops) > 0 {
		return ops[0].Name
	}
	return ""
}

// witnesses names the witnesses, in plan order.
func (p *Plan) witnesses() []string { return names(p.WithRole(RoleWitness)) }

func names(ps []Person) []string {
	out := make([]string, len(ps))
	for i, q := range ps {
		out[i] = q.Name
	}
	return out
}

func buildSteps(p *Plan) []Step {
	var steps []Step
	add := func(s Step) { s.N = len(steps) + 1; steps = append(steps, s) }
	op := p.operator()
	withWitnesses := append([]string{op}, p.witnesses()...)

	att := Step{Kind: StepAttendance, Action: "Each person states their name and role; card holders show their card's serial number."}
	for _, q := range p.inRoom() {
		att.Who = append(att.Who, q.Name)
		v := q.Role + ", signs with key " + keyID(q.Key)
		if q.TokenSerial != "" {
			v += ", card serial " + q.TokenSerial
		}
		if q.CertX5T256 != "" {
			v += ", card certificate x5t#S256 " + q.CertX5T256
		}
		att.Facts = append(att.Facts, Fact{Name: q.Name, Value: v, Aloud: q.TokenSerial != "" || q.CertX5T256 != ""})
	}
	add(att)
	checklist := func(at string) {
		for i, it := range p.Checklist {
			if it.At == at || at == "start" && it.At == "" {
				add(Step{Kind: StepChecklist, Who: []string{it.By}, Action: "Check: " + strings.TrimSpace(it.Item),
					Ref: fmt.Sprintf("checklist[%d]", i)})
			}
		}
	}
	checklist("start")
	add(Step{Kind: StepSelfTest, Who: []string{op}, Action: "Run the known-answer self-tests; every one must pass.",
		Command: "keyrite selftest"})

	switch p.Kind {
	case KindBYOK:
		k := p.KEK
		file := k.File
		if file == "" {
			file = "KEK.pem"
		}
		add(Step{Kind: StepKEK, Who: withWitnesses, Ref: "kek",
			Action:  "Inspect the KEK carried across the air gap; the witnesses compare its fingerprint aloud with the online side.",
			Command: "keyrite kek inspect --kek " + file + " --kid " + k.Kid,
			Facts: []Fact{
				{Name: "kid", Value: k.Kid},
				{Name: "spki_sha256", Value: k.SPKISHA256, Words: shortHexWords(k.SPKISHA256), Aloud: true},
			}})
		for i, t := range p.Targets {
			facts := []Fact{{Name: "source", Value: t.SourceURI()}}
			if t.TokenSerial != "" {
				facts = append(facts, Fact{Name: "token_serial", Value: t.TokenSerial, Aloud: true})
			}
			facts = append(facts,
				Fact{Name: "type", Value: t.Describe()},
				Fact{Name: "name", Value: t.Name},
				Fact{Name: "key_ops", Value: strings.Join(t.Ops(), ",")})
			if len(t.Tags) > 0 {
				var tags []string
				for _, k := range sortedKeys(t.Tags) {
					tags = append(tags, k+"="+t.Tags[k])
				}
				facts = append(facts, Fact{Name: "tags", Value: strings.Join(tags, ", ")})
			}
			facts = append(facts, Fact{Name: "byok_sha256", Aloud: true})
			add(Step{Kind: StepExport, Who: withWitnesses, Ref: fmt.Sprintf("targets[%d]", i),
				Action: fmt.Sprintf("Export %s (%s) under the KEK as %s.byok; the witnesses check the token and key, then read the .byok's fingerprint aloud to the online side.",
					t.Name, t.Describe(), t.Name),
				Command: fmt.Sprintf("keyrite byok export --key '%s' --kek %s --kid %s --name %s --ops %s --out %s.byok",
					t.SourceURI(), file, k.Kid, t.Name, strings.Join(t.Ops(), ","), t.Name),
				Facts: facts})
		}
	case KindActivation:
		sd := p.SecurityDomain
		cust := custodians(p)
		kg := Step{Kind: StepKeygen, Who: append([]string{op}, cust...), Ref: "security_domain",
			Action:  fmt.Sprintf("Make the %d custodians' wrapping keys and certificates, each on the custodian's own card; each custodian reads their certificate's x5t#S256 aloud.", len(cust)),
			Command: fmt.Sprintf("keyrite sd keygen --token 'pkcs11:token=CARD?module-path=MODULE' (once per custodian) --quorum %d --out-dir certs", sd.Quorum),
			Facts:   []Fact{{Name: "custodians", Value: fmt.Sprint(len(cust))}, {Name: "quorum", Value: fmt.Sprint(sd.Quorum)}}}
		for _, c := range sd.Custodians {
			q, _ := p.Person(c.Person)
			kg.Facts = append(kg.Facts, Fact{Name: c.Person + ".token_serial", Value: q.TokenSerial, Aloud: true})
		}
		add(kg)
		add(Step{Kind: StepDownload, Who: withWitnesses, Online: true, Ref: "security_domain",
			Action:  fmt.Sprintf("On the online side, download the security domain with the %d certificates and quorum %d; read its SHA-256 aloud across the air gap.", len(cust), sd.Quorum),
			Command: fmt.Sprintf("keyrite-uploader sd download --hsm URL --cert FILE (x%d) --quorum %d --out sd.json", len(cust), sd.Quorum),
			Facts:   []Fact{{Name: "sd_sha256", Aloud: true}}})
		add(Step{Kind: StepDrill, Who: append([]string{op}, cust[:sd.Quorum]...), Ref: "security_domain",
			Action:  fmt.Sprintf("Quorum drill: %d custodians open their shares of the downloaded security domain; nothing secret is written.", sd.Quorum),
			Command: "keyrite sd verify --sd sd.json --wrapping-key SRC (one per custodian)",
			Facts:   []Fact{{Name: "sd_sha256", Aloud: true}, {Name: "quorum", Value: fmt.Sprint(sd.Quorum)}}})
	case KindRestore:
		sd := p.SecurityDomain
		add(Step{Kind: StepSDFile, Who: withWitnesses, Ref: "security_domain",
			Action:  fmt.Sprintf("Check the security-domain file %s; the witnesses compare its fingerprint aloud.", sd.File),
			Command: "sha256sum " + sd.File,
			Facts: []Fact{
				{Name: "sd_sha256", Value: sd.SHA256, Words: shortHexWords(sd.SHA256), Aloud: true},
				{Name: "quorum", Value: fmt.Sprint(sd.Quorum)},
			}})
		xk := Step{Kind: StepExchangeKey, Who: withWitnesses, Ref: "security_domain.exchange_key",
			Action: "Check the exchange key from `az keyvault security-domain init-recovery`; the online side reads its x5t#S256 aloud."}
		exFile := "exchange.pem"
		if x := sd.ExchangeKey; x != nil && x.X5T256 != "" {
			if x.File != "" {
				exFile = x.File
			}
			xk.Facts = []Fact{{Name: "x5t_s256", Value: x.X5T256, Words: x5tWords(x.X5T256), Aloud: true}}
		} else {
			xk.Facts = []Fact{{Name: "x5t_s256", Aloud: true}}
		}
		add(xk)
		for i, c := range sd.Custodians {
			q, _ := p.Person(c.Person)
			facts := []Fact{}
			if q.TokenSerial != "" {
				facts = append(facts, Fact{Name: "token_serial", Value: q.TokenSerial, Aloud: true})
			}
			facts = append(facts, Fact{Name: "x5t_s256", Value: c.X5T256, Words: x5tWords(c.X5T256), Aloud: true})
			add(Step{Kind: StepCustodian, Who: append([]string{c.Person, op}, p.witnesses()...), Ref: fmt.Sprintf("security_domain.custodians[%d]", i),
				Action: fmt.Sprintf("Custodian %s inserts their card; the certificate's thumbprint is compared aloud, then %s enters their PIN and the share is opened. The card may then be removed.", c.Person, c.Person),
				Facts:  facts})
		}
		add(Step{Kind: StepRestore, Who: withWitnesses, Ref: "security_domain",
			Action:  "Write the restore blob; the witnesses read its fingerprint aloud to the online side, which uploads it.",
			Command: fmt.Sprintf("keyrite sd restore --sd %s --exchange-key %s --wrapping-key SRC (one per custodian) --out restore-blob.json", sd.File, exFile),
			Facts:   []Fact{{Name: "restore_blob_sha256", Aloud: true}}})
	}
	checklist("end")

	sign := Step{Kind: StepSign, Action: "Each signer compares the transcript's root words aloud, then signs the transcript.",
		Command: "keyrite transcript sign DIR --key SRC"}
	roles := sortedRoles(p.Policy.Closing)
	for _, q := range p.inRoom() {
		if _, ok := p.Policy.Closing[q.Role]; ok {
			sign.Who = append(sign.Who, q.Name)
		}
	}
	var pol []string
	for _, r := range roles {
		pol = append(pol, fmt.Sprintf("%s:%d", r, p.Policy.Closing[r]))
	}
	sign.Facts = []Fact{{Name: "policy", Value: strings.Join(pol, " ")}}
	add(sign)
	return steps
}

func custodians(p *Plan) []string {
	var out []string
	for _, c := range p.SecurityDomain.Custodians {
		out = append(out, c.Person)
	}
	return out
}

// keyID is the 8 hex digits of a verifier key's key ID.
func keyID(vkey string) string {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) == 3 {
		return parts[1]
	}
	return ""
}

package steps

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/transcripts"
)

// BYOKExport is "byok.export": one target key wrapped under a KEK into a
// .byok file, with what the uploader needs to import it and to check that
// the key the service then holds is this one.
type BYOKExport struct {
	Common
	KEK       File  // input, kind kek-public-key: the KEK's SPKI as PEM, named [KEKFileName]; absent in some old events
	BYOK      File  // output, kind byok
	PublicKey *File // output, kind public-key: the target's SPKI as PEM, named [PublicKeyFileName] (old events: DER, or an input)

	Kid        string   // kid: the KEK's key id, also the .byok's header.kid
	KEKSHA256  string   // kek_sha256 (old: kek_fingerprint): hex SHA-256 of the KEK's SPKI
	Name       string   // name: the key's name in the vault
	Ops        []string // ops (old: key_ops): key operations, comma-separated; always recorded
	Kty        string   // kty: RSA-HSM, EC-HSM or oct-HSM (old events: from target)
	Target     string   // target: the key type as people write it: RSA-2048, EC P-256, AES-256, ...
	Crv        string   // crv, for an EC key: P-256, P-384 or P-521 (old events: from target)
	Source     string   // source (old: key_uri): the key as given (PKCS#11 URI or file)
	Generator  string   // generator: the .byok's generator field
	BYOKSHA256 string   // byok_sha256

	// PublicKeySHA256 (public_key_sha256, old: target_spki_sha256) is the
	// hex SHA-256 of the target's SPKI DER; recorded with PublicKey.
	PublicKeySHA256 string
	// PublicKeyNote says why no public key is recorded (param public_key,
	// "not recorded: " and the note).
	PublicKeyNote string
	KCV           string     // kcv: an AES key's key check value, 6 lowercase hex digits
	KCVNote       string     // kcv_note: why an AES key has no kcv
	Preflight     *Preflight // preflight, preflight_note: the conformance check, if one ran
}

// Preflight is the outcome of an export's pre-flight conformance check.
type Preflight struct {
	Passed bool
	Reason string // why it failed
	Note   string
}

// KEKFileName names the KEK artifact of an export: by the first 16 hex
// digits of its SPKI SHA-256.
func KEKFileName(kekSHA256 string) string {
	return "kek-" + kekSHA256[:min(16, len(kekSHA256))] + ".pem"
}

// PublicKeyFileName names an export's public-key artifact after the key.
func PublicKeyFileName(name string) string { return name + ".public.pem" }

// Step returns "byok.export".
func (x *BYOKExport) Step() string { return StepBYOKExport }

// Event encodes x.
func (x *BYOKExport) Event() transcripts.Event {
	ev := x.event(StepBYOKExport, fmt.Sprintf("exported %s (%s) as %s, wrapped under KEK %s", x.Name, x.Target, x.BYOK.Name, x.Kid))
	ev.Inputs = []transcripts.Artifact{x.KEK.artifact(transcripts.KindKEK)}
	ev.Outputs = []transcripts.Artifact{x.BYOK.artifact(transcripts.KindBYOK)}
	var p params
	p.add("kid", x.Kid)
	p.add("kek_sha256", x.KEKSHA256)
	p.add("name", x.Name)
	p.add("ops", strings.Join(x.Ops, ","))
	p.add("kty", x.Kty)
	p.add("target", x.Target)
	p.add("source", x.Source)
	p.add("generator", x.Generator)
	p.add("byok_sha256", x.BYOKSHA256)
	if x.Crv != "" {
		p.add("crv", x.Crv)
	}
	if x.PublicKey != nil {
		ev.Outputs = append(ev.Outputs, x.PublicKey.artifact(transcripts.KindPublicKey))
		p.add("public_key_sha256", x.PublicKeySHA256)
	} else if x.PublicKeyNote != "" {
		p.add("public_key", "not recorded: "+x.PublicKeyNote)
	}
	if x.KCV != "" {
		p.add("kcv", x.KCV)
	} else if x.KCVNote != "" {
		p.add("kcv_note", x.KCVNote)
	}
	if f := x.Preflight; f != nil {
		status := "passed"
		if !f.Passed {
			status = "failed: " + f.Reason
		}
		p.add("preflight", status)
		if f.Note != "" {
			p.add("preflight_note", f.Note)
		}
	}
	ev.Params = p
	return ev
}

// ParseBYOKExport reads a byok.export event. It must have exactly one .byok
// output and a key type: kty (with crv for EC), or for old events a target
// from which they follow.
func ParseBYOKExport(e *transcripts.Entry) (*BYOKExport, error) {
	if err := checkStep(e, StepBYOKExport); err != nil {
		return nil, err
	}
	r := recorded{e}
	x := &BYOKExport{
		Common:     commonOf(e),
		Kid:        r.str("kid"),
		KEKSHA256:  r.str("kek_sha256", "kek_fingerprint"),
		Name:       r.str("name"),
		Ops:        split(r.str("ops", "key_ops"), ","),
		Kty:        r.str("kty"),
		Target:     r.str("target"),
		Crv:        r.str("crv"),
		Source:     r.str("source", "key_uri"),
		Generator:  r.str("generator"),
		BYOKSHA256: r.str("byok_sha256"),

		PublicKeySHA256: r.str("public_key_sha256", "target_spki_sha256"),
		KCV:             r.str("kcv"),
		KCVNote:         r.str("kcv_note"),
	}
	x.KEK, _ = firstFile(e.Inputs, transcripts.KindKEK)
	switch byoks := filesOf(e.Outputs, transcripts.KindBYOK); len(byoks) {
	case 0:
		return nil, entryErr(e, "it has no .byok output artifact")
	case 1:
		x.BYOK = byoks[0]
	default:
		return nil, entryErr(e, "it has two .byok outputs (%s, %s)", byoks[0].Name, byoks[1].Name)
	}
	if f, ok := firstFile(e.Outputs, transcripts.KindPublicKey); ok {
		x.PublicKey = &f
	} else if f, ok := firstFile(e.Inputs, transcripts.KindPublicKey); ok {
		x.PublicKey = &f
	}
	if v, ok := r.get("public_key"); ok {
		x.PublicKeyNote = strings.TrimPrefix(v, "not recorded: ")
	}
	if v, ok := r.get("preflight"); ok {
		f := &Preflight{Passed: v == "passed", Note: r.str("preflight_note")}
		if !f.Passed {
			f.Reason = strings.TrimPrefix(v, "failed: ")
		}
		x.Preflight = f
	}
	if err := x.keyType(); err != nil {
		return nil, entryErr(e, "%v", err)
	}
	return x, nil
}

// keyType sets Kty and Crv from Target where kty is not recorded (old
// events), and checks them.
func (x *BYOKExport) keyType() error {
	if x.Kty == "" {
		t := x.Target
		x.Crv = "" // old events: the type is the target's
		if t == "" {
			return fmt.Errorf("it records neither param target nor kty")
		}
		switch {
		case t == "RSA-2048" || t == "RSA-3072" || t == "RSA-4096":
			x.Kty = "RSA-HSM"
		case t == "EC P-256" || t == "EC P-384" || t == "EC P-521":
			x.Kty, x.Crv = "EC-HSM", strings.TrimPrefix(t, "EC ")
		case t == "AES-128" || t == "AES-192" || t == "AES-256":
			x.Kty = "oct-HSM"
		default:
			return fmt.Errorf("param target %q is not RSA-2048/3072/4096, EC P-256/P-384/P-521 or AES-128/192/256", t)
		}
	}
	switch x.Kty {
	case "RSA-HSM", "oct-HSM":
		if x.Crv != "" {
			return fmt.Errorf("crv %q given for kty %s", x.Crv, x.Kty)
		}
	case "EC-HSM":
		if x.Crv != "P-256" && x.Crv != "P-384" && x.Crv != "P-521" {
			return fmt.Errorf("crv %q for EC-HSM; expected P-256, P-384 or P-521", x.Crv)
		}
	default:
		return fmt.Errorf("kty %q; expected RSA-HSM, EC-HSM or oct-HSM", x.Kty)
	}
	return nil
}

// BYOKExportCleanup is "byok.export.cleanup": an interrupted export's
// unfinished output directory, never published, removed.
type BYOKExportCleanup struct {
	Common
	Directory string // directory: the staging directory's name (recorded quoted, ASCII)
	Files     int    // files: finished files in it
	Recorded  int    // recorded: how many of them the ceremony records
}

// DiscardedDeviation is the cleanup's deviation when files it removes were
// never recorded (up to 20 named).
func DiscardedDeviation(unrecorded []string) string {
	list, more := unrecorded, ""
	if len(list) > 20 {
		list, more = list[:20], fmt.Sprintf(" and %d more", len(unrecorded)-20)
	}
	return fmt.Sprintf("%d file(s) the interrupted run wrapped were never recorded and are discarded (the keys are exported again): %s%s",
		len(unrecorded), strconv.QuoteToASCII(strings.Join(list, ", ")), more)
}

// Step returns "byok.export.cleanup".
func (x *BYOKExportCleanup) Step() string { return StepBYOKExportCleanup }

// Event encodes x.
func (x *BYOKExportCleanup) Event() transcripts.Event {
	q := strconv.QuoteToASCII(x.Directory)
	ev := x.event(StepBYOKExportCleanup, fmt.Sprintf("removed %s, the unfinished output directory of an interrupted byok export; nothing in it had been published", q))
	var p params
	p.add("directory", q)
	p.addInt("files", int64(x.Files))
	p.addInt("recorded", int64(x.Recorded))
	ev.Params = p
	return ev
}

// ParseBYOKExportCleanup reads a byok.export.cleanup event.
func ParseBYOKExportCleanup(e *transcripts.Entry) (*BYOKExportCleanup, error) {
	if err := checkStep(e, StepBYOKExportCleanup); err != nil {
		return nil, err
	}
	r := recorded{e}
	x := &BYOKExportCleanup{Common: commonOf(e), Directory: r.str("directory"), Files: int(r.num("files")), Recorded: int(r.num("recorded"))}
	if d, err := strconv.Unquote(x.Directory); err == nil {
		x.Directory = d
	}
	return x, nil
}

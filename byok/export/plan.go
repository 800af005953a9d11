package export

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// opsByType are the default and allowed key_ops per target type:
// everything the key type can do in the vault. import is the KEK's alone
// and never a target's.
var opsByType = map[byok.KeyType][]string{
	byok.TypeRSA: {"sign", "verify", "wrapKey", "unwrapKey", "encrypt", "decrypt"},
	byok.TypeEC:  {"sign", "verify"},
	byok.TypeAES: {"encrypt", "decrypt", "wrapKey", "unwrapKey"},
}

// DefaultOps returns the key_ops a key of type t is imported with when the
// request gives none: all the operations the type supports, which are also
// the only ones a request may give for it.
func DefaultOps(t byok.KeyType) []string { return slices.Clone(opsByType[t]) }

// CheckName checks a vault key name: Key Vault and Managed HSM key names
// are 1-127 characters of letters, digits and hyphens.
func CheckName(n string) error {
	if n == "" || len(n) > 127 {
		return fmt.Errorf("length %d; expected 1-127", len(n))
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("character %q is not a letter, digit or hyphen", rune(c))
		}
	}
	return nil
}

// A job is one key to export: where it comes from, what it is, where its
// .byok goes.
type job struct {
	src  string       // the key source as given
	uri  *hsm.URI     // PKCS#11 source, or nil
	file string       // soft-form source file, or ""
	soft *byok.Target // soft-form key, parsed (wiped after wrapping)

	obj  *hsm.Object
	info byok.TargetInfo

	pub     []byte // SPKI DER of the target's public key (nil: AES, or not known)
	pubNote string // why pub is nil for an RSA or EC key

	kcv     string // an AES key's check value (6 lowercase hex digits), or ""
	kcvNote string // why kcv is "" for an AES key

	name string   // the key's name in the vault
	ops  []string // its key_ops
	out  string   // the .byok file (final path)

	// resumed is the event of an earlier run that recorded this key in
	// the ceremony: it is not wrapped again, its recorded .byok is used.
	resumed *steps.BYOKExport
	seq     int64 // the seq of the event recording it

	// results
	blob       []byte
	ciphertext []byte
	mechanism  string
	generator  string
	preflight  *Preflight
	deviations []string
}

type run struct {
	req  Request
	jobs []*job
	hsm  *HSMInfo // the module and token used, once known
	done int      // keys wrapped

	cer        *transcripts.Ceremony        // open for the whole run, with CeremonyDir
	byArtifact map[string]*steps.BYOKExport // recorded byok.export events by their .byok's name
	recorded   atomic.Int64                 // events recorded by this run
	complete   bool                         // an earlier run did it all: nothing to do
	notes      []string
}

func (r *run) wipe() {
	for _, j := range r.jobs {
		j.soft.Wipe()
	}
}

// checkRequest checks the request's own shape (the command line checks the
// same before, with its flag names).
func (r *run) checkRequest() error {
	q := r.req
	batch := q.OutDir != "" || len(q.Keys) > 1
	switch {
	case len(q.Keys) == 0:
		return &Error{Msg: ErrNoKeys.Error(), Err: ErrNoKeys, Usage: true}
	case q.KEK == nil || q.KEK.Kid == "":
		return usagef("", "export: the KEK and its key identifier are required")
	case q.Out != "" && q.OutDir != "":
		return usagef("", "export: give Out (one key) or OutDir (a batch), not both")
	case batch && q.OutDir == "":
		return usagef("", "export: %d keys given; a batch needs an output directory (one NAME.byok per key)", len(q.Keys))
	case !batch && q.Out == "":
		return usagef("", "export: the output file is required")
	case batch && q.Name != "":
		return usagef("", "export: a name names one key; a batch takes each key's name from its object label or file name")
	}
	if q.Name != "" {
		if err := CheckName(q.Name); err != nil {
			return usagef("a vault key name is 1-127 letters, digits and hyphens", "export: name %q: %v", q.Name, err)
		}
	}
	return nil
}

// plan checks everything that can be checked without the HSM: the
// request, the outputs, every source (URIs parsed, files read and parsed),
// names and ops.
func (r *run) plan() error {
	if err := r.checkRequest(); err != nil {
		return err
	}
	q, kek := r.req, r.req.KEK

	// Outputs: refuse existing ones before any work. One that exists may
	// be what an earlier run of this export published, every key recorded
	// in the ceremony: begin decides, once the ceremony is open.
	target, flagName := r.target()
	if err := checkNewPath(target, flagName); err != nil {
		if !errors.Is(err, fs.ErrExist) || q.CeremonyDir == "" || !exists(filepath.Join(q.CeremonyDir, transcripts.TranscriptFile)) {
			return err
		}
	}
	if q.CeremonyDir != "" {
		if st, err := os.Stat(q.CeremonyDir); err == nil && !st.IsDir() {
			return hinted(fmt.Errorf("--ceremony %s: not a directory", q.CeremonyDir), "give the ceremony directory (created on first use)")
		}
	}

	var module string
	var tokenFilter hsm.TokenFilter
	for _, src := range q.Keys {
		j := &job{src: src, ops: slices.Clone(q.Ops), name: q.Name}
		r.jobs = append(r.jobs, j)
		if hsm.IsURI(src) {
			u, err := hsm.ParseURI(src)
			if err != nil {
				j.src = hsm.RedactPIN(src) // never echo a PIN
				hint := "name the key like 'pkcs11:token=LABEL;object=KEY-LABEL?module-path=/path/to/pkcs11.so' (RFC 7512; percent-encode spaces as %20)"
				if j.src != src {
					hint = "remove pin-value from the URI, and treat that PIN as exposed (shell history, process list): change it"
				}
				return usagef(hint, "--key %s: %s", j.src, err.Error())
			}
			switch {
			case u.ModulePath == "":
				return usagef("add ?module-path=/path/to/the/vendor/pkcs11.so (e.g. /usr/lib/softhsm/libsofthsm2.so)", "--key %s: the URI has no module-path", src)
			case u.Object == "" && len(u.ID) == 0:
				return usagef("add object=LABEL (or id=%XX) naming the key", "--key %s: the URI names no object", src)
			case module == "":
				module, tokenFilter = u.ModulePath, u.TokenFilter()
			case module != u.ModulePath || tokenFilter != u.TokenFilter():
				return usagef("export each token's keys in a separate run",
					"--key %s: a batch exports from one token in one session, but this key names another module or token than %s", src, q.Keys[0])
			}
			j.uri = u
			if j.name == "" && u.Object != "" {
				j.name = u.Object
			}
			continue
		}
		data, err := readLimited(src, "key file", 64<<10)
		if err != nil {
			return hinted(err, "give a PKCS#11 URI (pkcs11:...) or a key file: PEM private key (PKCS#1, PKCS#8, SEC1) or a raw AES key of 16, 24 or 32 bytes")
		}
		t, err := byok.ParseTargetFile(data)
		wipe(data)
		if err != nil {
			hint := "give a PEM private key (PKCS#1, PKCS#8 or SEC1) or a raw AES key of 16, 24 or 32 bytes"
			if errors.Is(err, byok.ErrUnsupported) {
				hint = "the service imports RSA 2048/3072/4096, EC P-256/P-384/P-521 and (Managed HSM) AES 128/192/256"
			}
			e := libErr(err)
			e.Msg = src + ": " + strings.ReplaceAll(err.Error(), "byok: ", "")
			e.Hint = []string{hint}
			return e
		}
		j.file, j.soft, j.info = src, t, t.Info()
		if t.Type == byok.TypeAES {
			j.setKCV(t.KCV())
		} else if j.pub, err = t.PublicSPKI(); err != nil {
			j.pubNote = err.Error()
		}
		if j.name == "" {
			j.name = strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
		}
		if err := j.checkTarget(kek); err != nil {
			return err
		}
	}
	if err := r.assignOutputs(false); err != nil {
		return err
	}
	for _, j := range r.jobs {
		if err := r.checkRecordable(j); err != nil {
			return err
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// checkTarget checks a job whose type is known: name, ops, and that AES
// goes to Managed HSM only.
func (j *job) checkTarget(kek *byok.KEK) error {
	if err := CheckName(j.name); err != nil {
		what := "the object label"
		if j.file != "" {
			what = "the file's base name"
		}
		return hinted(fmt.Errorf("--key %s: %s %q is not a valid vault key name: %v", j.src, what, j.name, err),
			"give the name with --name NAME (1-127 letters, digits and hyphens)")
	}
	allowed := opsByType[j.info.Type]
	if j.ops == nil {
		j.ops = slices.Clone(allowed)
	}
	for _, op := range j.ops {
		if !slices.Contains(allowed, op) {
			return hinted(fmt.Errorf("--ops: %q is not an operation of %s keys (key %s)", op, j.info, j.src),
				fmt.Sprintf("%s keys take key_ops from: %s", j.info.Type.JWKType(), strings.Join(allowed, ",")))
		}
	}
	if j.info.Type == byok.TypeAES {
		if k, err := byok.ParseKid(kek.Kid); err == nil && k.Service != byok.ManagedHSM {
			return hinted(fmt.Errorf("--key %s: %s keys import only into Managed HSM, but the KEK %s is in Key Vault", j.src, j.info, kek.Kid),
				"use a KEK created in the Managed HSM the key goes to (https://NAME.managedhsm.azure.net/keys/...)")
		}
	}
	return nil
}

// assignOutputs sets each job's output path; in a batch, NAME.byok in the
// output directory, refusing two keys with one name. With final, names
// still unknown (objects named by id only) are an error.
//
// A job whose output is already set is not written again: it may be queued
// to the writer, which reads it on another goroutine.
func (r *run) assignOutputs(final bool) error {
	seen := map[string]string{}
	for _, j := range r.jobs {
		if j.out != "" {
			if j.name != "" {
				seen[strings.ToLower(j.name)] = j.src
			}
			continue
		}
		if r.req.OutDir == "" {
			j.out = r.req.Out
			continue
		}
		if j.name == "" {
			if final {
				return fmt.Errorf("--key %s: the object has no label to name it by", j.src)
			}
			continue
		}
		if prev, ok := seen[strings.ToLower(j.name)]; ok {
			return hinted(fmt.Errorf("keys %s and %s would both be named %q", prev, j.src, j.name),
				"vault key names are case-insensitive and must be unique; relabel one key or export it on its own with --name")
		}
		seen[strings.ToLower(j.name)] = j.src
		j.out = filepath.Join(r.req.OutDir, j.name+".byok")
	}
	return nil
}

func checkNewPath(p, flagName string) error {
	if _, err := os.Lstat(p); err == nil {
		return hinted(fmt.Errorf("%s %s already exists: %w", flagName, p, fs.ErrExist), "outputs are never overwritten: choose a new name or move the old one away")
	}
	dir := filepath.Dir(p)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return hinted(fmt.Errorf("%s %s: the directory %s does not exist", flagName, p, dir), "create the directory first")
	}
	return nil
}

package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/buildinfo"
	"github.com/keyrite/keyrite/internal/cli"
	"github.com/keyrite/keyrite/internal/fsx"
	"github.com/keyrite/keyrite/internal/secret"
	"github.com/keyrite/keyrite/internal/words"
	"github.com/keyrite/keyrite/transcripts"
)

const usageBYOKExport = "usage: keyrite byok export --key SRC --kek FILE [--kid URL] --out OUT.byok [--name NAME] [--ops LIST] [--ceremony DIR] [--json]" +
	"; batch: keyrite byok export --key SRC --key SRC... | --keys FILE --kek FILE [--kid URL] --out-dir DIR [--ops LIST]"

// Default and allowed key_ops per target type: everything the key type can
// do in the vault. import is the KEK's alone and never a target's.
var opsByType = map[byok.KeyType][]string{
	byok.TypeRSA: {"sign", "verify", "wrapKey", "unwrapKey", "encrypt", "decrypt"},
	byok.TypeEC:  {"sign", "verify"},
	byok.TypeAES: {"encrypt", "decrypt", "wrapKey", "unwrapKey"},
}

// exportJob is one key to export: where it comes from, what it is, where its
// .byok goes.
type exportJob struct {
	src  string       // the --key argument as given
	uri  *hsm.URI     // PKCS#11 source, or nil
	file string       // soft-form source file, or ""
	soft *byok.Target // soft-form key, parsed (wiped after wrapping)

	obj  *hsm.Object
	info byok.TargetInfo

	pub     []byte // SPKI DER of the target's public key (nil: AES, or not known)
	pubNote string // why pub is nil for an RSA or EC key

	name string   // the key's name in the vault
	ops  []string // its key_ops
	out  string   // the .byok file (final path)

	// results
	blob       []byte
	ciphertext []byte
	mechanism  string
	generator  string
	preflight  *byok.Preflight
	deviations []string
}

// exportJSON is the --json result for one key.
type exportJSON struct {
	Out           string           `json:"out"`
	Source        string           `json:"source"` // "pkcs11" or "file"
	Key           string           `json:"key"`    // the --key argument (a URI or file path; no secrets)
	Kid           string           `json:"kid"`
	Name          string           `json:"name"`
	Ops           []string         `json:"ops"`
	Kty           string           `json:"kty"`
	Crv           string           `json:"crv,omitempty"`
	Target        string           `json:"target"`
	Mechanism     string           `json:"mechanism"`
	Generator     string           `json:"generator"`
	SHA256        string           `json:"sha256"`
	Words         string           `json:"words"`
	CiphertextLen int              `json:"ciphertext_len"`
	Preflight     *byok.Preflight  `json:"preflight"`
	Deviations    []string         `json:"deviations"`
	HSM           *exportHSMJSON   `json:"hsm"`
	Attributes    *exportAttrsJSON `json:"attributes,omitempty"`
}

type exportHSMJSON struct {
	ModulePath   string          `json:"module_path"`
	ModuleSHA256 string          `json:"module_sha256"`
	Token        hsm.TokenInfo   `json:"token"`
	Library      hsm.LibraryInfo `json:"library"`
}

type exportAttrsJSON struct {
	Label            string `json:"label"`
	ID               string `json:"id"`
	Extractable      bool   `json:"extractable"`
	Sensitive        bool   `json:"sensitive"`
	NeverExtractable bool   `json:"never_extractable"`
	WrapWithTrusted  bool   `json:"wrap_with_trusted"`
}

type exportOpts struct {
	keys      cli.Strings
	keysFile  string
	kekPath   string
	kid       string
	out       string
	outDir    string
	name      string
	ops       string
	ceremony  string
	asJSON    bool
	rehearsal bool
	twoStep   bool
	kwp       string
	pin       *secret.Source

	hsm *exportHSMJSON // the module and token used, once known
}

func runBYOKExport(e *env, args []string) error {
	var o exportOpts
	fset := flag.NewFlagSet("byok export", flag.ContinueOnError)
	fset.Var(&o.keys, "key", "the target key `SRC`: a PKCS#11 URI with module-path, or a key file (repeat for a batch)")
	fset.StringVar(&o.keysFile, "keys", "", "a `FILE` listing target keys, one SRC per line (batch)")
	fset.StringVar(&o.kekPath, "kek", "", "the KEK public key `FILE` (PEM, or JSON of az keyvault key show)")
	fset.StringVar(&o.kid, "kid", "", "the KEK's key identifier `URL`, with version")
	fset.StringVar(&o.out, "out", "", "the .byok `FILE` to write (must not exist)")
	fset.StringVar(&o.outDir, "out-dir", "", "batch: the `DIR` to write one NAME.byok per key into (must not exist)")
	fset.StringVar(&o.name, "name", "", "the imported key's `NAME` in the vault (default: the object label or file base name)")
	fset.StringVar(&o.ops, "ops", "", "the imported key's key_ops, comma-separated `LIST` (default: all the key type supports)")
	fset.StringVar(&o.ceremony, "ceremony", "", "record the step in this ceremony `DIR`")
	fset.BoolVar(&o.asJSON, "json", false, "print one JSON object")
	fset.BoolVar(&o.rehearsal, "rehearsal", false, "proceed when the pre-flight check fails, recording a deviation (rehearsals only)")
	fset.BoolVar(&o.twoStep, "two-step", false, "use the two-step wrap even if the HSM offers CKM_RSA_AES_KEY_WRAP")
	fset.StringVar(&o.kwp, "kwp-mechanism", "0x210A", "the padded AES key wrap mechanism `ID` of the two-step path (0x210A CKM_AES_KEY_WRAP_PAD; 0x210B CKM_AES_KEY_WRAP_KWP)")
	o.pin = secret.Register(fset, "pin", "PIN")
	pos, err := cli.Parse(fset, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.WithHint(cli.Usagef("byok export: unexpected argument %q", pos[0]), usageBYOKExport)
	}
	jobs, kek, kwpMech, err := o.validate()
	defer func() {
		for _, j := range jobs {
			j.soft.Wipe()
		}
	}()
	if err != nil {
		return err
	}
	if err := exportAll(e, &o, jobs, kek, kwpMech); err != nil {
		return err
	}
	return report(e, &o, jobs, kek)
}

// validate checks everything that can be checked without the HSM: flags,
// the KEK and kid, every source (URIs parsed, files read and parsed), names,
// ops and outputs.
func (o *exportOpts) validate() ([]*exportJob, *byok.KEK, uint, error) {
	srcs := slices.Clone([]string(o.keys))
	if o.keysFile != "" {
		more, err := readKeysFile(o.keysFile)
		if err != nil {
			return nil, nil, 0, err
		}
		srcs = append(srcs, more...)
	}
	batch := o.outDir != "" || o.keysFile != "" || len(srcs) > 1
	switch {
	case len(srcs) == 0:
		return nil, nil, 0, cli.WithHint(cli.Usagef("byok export: --key is required"), usageBYOKExport)
	case o.kekPath == "":
		return nil, nil, 0, cli.WithHint(cli.Usagef("byok export: --kek is required"), usageBYOKExport)
	case o.out != "" && o.outDir != "":
		return nil, nil, 0, cli.WithHint(cli.Usagef("byok export: give --out (one key) or --out-dir (a batch), not both"), usageBYOKExport)
	case batch && o.outDir == "":
		return nil, nil, 0, cli.WithHint(cli.Usagef("byok export: %d keys given; a batch needs --out-dir DIR (one NAME.byok per key)", len(srcs)), usageBYOKExport)
	case !batch && o.out == "":
		return nil, nil, 0, cli.WithHint(cli.Usagef("byok export: --out is required"), usageBYOKExport)
	case batch && o.name != "":
		return nil, nil, 0, cli.WithHint(cli.Usagef("byok export: --name names one key; a batch takes each key's name from its object label or file name"), "export the key on its own with --out and --name, or relabel it")
	}
	kwpMech, err := parseMechanism(o.kwp)
	if err != nil {
		return nil, nil, 0, err
	}
	var ops []string
	if o.ops != "" {
		if ops, err = parseOps(o.ops); err != nil {
			return nil, nil, 0, err
		}
	}
	if o.name != "" {
		if err := checkVaultKeyName(o.name); err != nil {
			return nil, nil, 0, cli.WithHint(cli.Usagef("byok export: --name %q: %v", o.name, err), "a vault key name is 1-127 letters, digits and hyphens")
		}
	}

	kek, err := loadKEK(o.kekPath, o.kid)
	if err != nil {
		return nil, nil, 0, err
	}
	if kek.Kid == "" {
		return nil, nil, 0, cli.WithHint(cli.Usagef("byok export: --kid is required: the KEK file %s carries no key identifier", o.kekPath), hintKid)
	}

	// Outputs: refuse existing ones before any work.
	if o.outDir != "" {
		if err := checkNewPath(o.outDir, "--out-dir"); err != nil {
			return nil, nil, 0, err
		}
	} else if err := checkNewPath(o.out, "--out"); err != nil {
		return nil, nil, 0, err
	}
	if o.ceremony != "" {
		if st, err := os.Stat(o.ceremony); err == nil && !st.IsDir() {
			return nil, nil, 0, cli.WithHint(fmt.Errorf("--ceremony %s: not a directory", o.ceremony), "give the ceremony directory (created on first use)")
		}
	}

	var jobs []*exportJob
	var module string
	var tokenFilter hsm.TokenFilter
	for i, src := range srcs {
		j := &exportJob{src: src, ops: ops, name: o.name}
		jobs = append(jobs, j)
		if hsm.IsURI(src) {
			u, err := hsm.ParseURI(src)
			if err != nil {
				j.src = hsm.RedactPIN(src) // never echo a PIN
				hint := "name the key like 'pkcs11:token=LABEL;object=KEY-LABEL?module-path=/path/to/pkcs11.so' (RFC 7512; percent-encode spaces as %20)"
				if j.src != src {
					hint = "remove pin-value from the URI, and treat that PIN as exposed (shell history, process list): change it"
				}
				return jobs, nil, 0, cli.WithHint(cli.Usagef("--key %s: %s", j.src, strings.TrimPrefix(err.Error(), "hsm: ")), hint)
			}
			switch {
			case u.ModulePath == "":
				return jobs, nil, 0, cli.WithHint(cli.Usagef("--key %s: the URI has no module-path", src), "add ?module-path=/path/to/the/vendor/pkcs11.so (e.g. /usr/lib/softhsm/libsofthsm2.so)")
			case u.Object == "" && len(u.ID) == 0:
				return jobs, nil, 0, cli.WithHint(cli.Usagef("--key %s: the URI names no object", src), "add object=LABEL (or id=%XX) naming the key")
			case module == "":
				module, tokenFilter = u.ModulePath, u.TokenFilter()
			case module != u.ModulePath || tokenFilter != u.TokenFilter():
				return jobs, nil, 0, cli.WithHint(cli.Usagef("--key %s: a batch exports from one token in one session, but this key names another module or token than %s", src, srcs[0]),
					"export each token's keys in a separate run")
			}
			j.uri = u
			if j.name == "" && u.Object != "" {
				j.name = u.Object
			}
			continue
		}
		data, err := readLimited(src, "key file", 64<<10)
		if err != nil {
			return jobs, nil, 0, cli.WithHint(err, "give a PKCS#11 URI (pkcs11:...) or a key file: PEM private key (PKCS#1, PKCS#8, SEC1) or a raw AES key of 16, 24 or 32 bytes")
		}
		t, err := byok.ParseTargetFile(data)
		secret.Wipe(data)
		if err != nil {
			hint := "give a PEM private key (PKCS#1, PKCS#8 or SEC1) or a raw AES key of 16, 24 or 32 bytes"
			if errors.Is(err, byok.ErrUnsupported) {
				hint = "the service imports RSA 2048/3072/4096, EC P-256/P-384/P-521 and (Managed HSM) AES 128/192/256"
			}
			return jobs, nil, 0, cli.WithHint(fileErr(src, err), hint)
		}
		j.file, j.soft, j.info = src, t, t.Info()
		if j.pub, err = t.PublicSPKI(); err != nil {
			j.pubNote = err.Error()
		}
		if j.name == "" {
			j.name = strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
		}
		if err := j.checkTarget(kek, i); err != nil {
			return jobs, nil, 0, err
		}
	}
	if err := assignOutputs(o, jobs, false); err != nil {
		return jobs, nil, 0, err
	}
	return jobs, kek, kwpMech, nil
}

// checkTarget checks a job whose type is known: name, ops, and that AES
// goes to Managed HSM only.
func (j *exportJob) checkTarget(kek *byok.KEK, i int) error {
	if err := checkVaultKeyName(j.name); err != nil {
		what := "the object label"
		if j.file != "" {
			what = "the file's base name"
		}
		return cli.WithHint(fmt.Errorf("--key %s: %s %q is not a valid vault key name: %v", j.src, what, j.name, err),
			"give the name with --name NAME (1-127 letters, digits and hyphens)")
	}
	allowed := opsByType[j.info.Type]
	if j.ops == nil {
		j.ops = slices.Clone(allowed)
	}
	for _, op := range j.ops {
		if !slices.Contains(allowed, op) {
			return cli.WithHint(fmt.Errorf("--ops: %q is not an operation of %s keys (key %s)", op, j.info, j.src),
				fmt.Sprintf("%s keys take key_ops from: %s", j.info.Type.JWKType(), strings.Join(allowed, ",")))
		}
	}
	if j.info.Type == byok.TypeAES {
		if k, err := byok.ParseKid(kek.Kid); err == nil && k.Service != byok.ManagedHSM {
			return cli.WithHint(fmt.Errorf("--key %s: %s keys import only into Managed HSM, but the KEK %s is in Key Vault", j.src, j.info, kek.Kid),
				"use a KEK created in the Managed HSM the key goes to (https://NAME.managedhsm.azure.net/keys/...)")
		}
	}
	return nil
}

// assignOutputs sets each job's output path; in a batch, NAME.byok in the
// output directory, refusing two keys with one name. With final, names
// still unknown (objects named by id only) are an error.
func assignOutputs(o *exportOpts, jobs []*exportJob, final bool) error {
	seen := map[string]string{}
	for _, j := range jobs {
		if o.outDir == "" {
			j.out = o.out
			continue
		}
		if j.name == "" {
			if final {
				return fmt.Errorf("--key %s: the object has no label to name it by", j.src)
			}
			continue
		}
		if prev, ok := seen[strings.ToLower(j.name)]; ok {
			return cli.WithHint(fmt.Errorf("keys %s and %s would both be named %q", prev, j.src, j.name),
				"vault key names are case-insensitive and must be unique; relabel one key or export it on its own with --name")
		}
		seen[strings.ToLower(j.name)] = j.src
		j.out = filepath.Join(o.outDir, j.name+".byok")
	}
	return nil
}

func readKeysFile(path string) ([]string, error) {
	data, err := readLimited(path, "--keys file", 1<<20)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsAny(line, "\t ") && !hsm.IsURI(line) {
			return nil, cli.WithHint(fmt.Errorf("--keys file %s, line %d: one source per line; found %q", path, n, line), "list one PKCS#11 URI or key file per line; # starts a comment")
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--keys file %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, cli.WithHint(fmt.Errorf("--keys file %s lists no keys", path), "list one PKCS#11 URI or key file per line")
	}
	return out, nil
}

func parseMechanism(s string) (uint, error) {
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil || v == 0 {
		return 0, cli.WithHint(cli.Usagef("byok export: --kwp-mechanism %q is not a mechanism id", s), "give it in hex: 0x210A (CKM_AES_KEY_WRAP_PAD, SoftHSM) or 0x210B (CKM_AES_KEY_WRAP_KWP, PKCS#11 3.0)")
	}
	return uint(v), nil
}

func parseOps(s string) ([]string, error) {
	var ops []string
	for _, op := range strings.Split(s, ",") {
		op = strings.TrimSpace(op)
		switch {
		case op == "":
			return nil, cli.WithHint(cli.Usagef("byok export: --ops %q has an empty entry", s), "give a comma-separated list such as sign,verify")
		case op == "import":
			return nil, cli.WithHint(cli.Usagef("byok export: --ops: import is for KEKs only, not for an imported key"), "give the operations the key is for, such as sign,verify")
		case slices.Contains(ops, op):
			return nil, cli.Usagef("byok export: --ops lists %q twice", op)
		case !slices.Contains([]string{"sign", "verify", "encrypt", "decrypt", "wrapKey", "unwrapKey"}, op):
			return nil, cli.WithHint(cli.Usagef("byok export: --ops: unknown operation %q", op), "key_ops are sign, verify, encrypt, decrypt, wrapKey, unwrapKey (case-sensitive)")
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// checkVaultKeyName: Key Vault and Managed HSM key names are 1-127
// characters of letters, digits and hyphens.
func checkVaultKeyName(n string) error {
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

func checkNewPath(p, flagName string) error {
	if _, err := os.Lstat(p); err == nil {
		return cli.WithHint(fmt.Errorf("%s %s already exists: %w", flagName, p, fs.ErrExist), "outputs are never overwritten: choose a new name or move the old one away")
	}
	dir := filepath.Dir(p)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return cli.WithHint(fmt.Errorf("%s %s: the directory %s does not exist", flagName, p, dir), "create the directory first")
	}
	return nil
}

// exportAll wraps every key, HSM keys in one session and soft keys in
// software, and hands each .byok to a blobWriter as soon as it is made.
func exportAll(e *env, o *exportOpts, jobs []*exportJob, kek *byok.KEK, kwpMech uint) (err error) {
	w := &blobWriter{kek: kek, outDir: o.outDir}
	defer func() {
		if err != nil {
			w.abort()
		}
	}()
	var hsmJobs []*exportJob
	for _, j := range jobs {
		if j.uri != nil {
			hsmJobs = append(hsmJobs, j)
		}
	}
	if len(hsmJobs) > 0 {
		if err := exportFromHSM(e, o, hsmJobs, kek, kwpMech, jobs, w); err != nil {
			return err
		}
	}
	for _, j := range jobs {
		if j.soft == nil {
			continue
		}
		ct, err := byok.Wrap(kek, j.soft.Plaintext, rand.Reader)
		j.soft.Wipe()
		if err != nil {
			return keyErr(j.src, err)
		}
		j.ciphertext, j.mechanism = ct, "software: RSA-OAEP-SHA1 || RFC 5649 (byok.Wrap)"
		j.generator = buildinfo.Generator() + "; software key file"
		if err := w.add(j); err != nil {
			return err
		}
	}
	return w.finish()
}

// blobWriter writes the .byok files on its own goroutine while the HSM
// works on the next key, and reads each back: parsed, compared with what was
// meant, its ciphertext length checked against the KEK size and the target
// type. A single --out is written with fsx.WriteNew; a batch goes into a
// temporary directory beside --out-dir that is committed whole
// (fsx.CommitDir) only when every file checked out, so a failure leaves
// nothing half-written.
type blobWriter struct {
	kek    *byok.KEK
	outDir string

	started bool
	tmp     string
	queue   chan *exportJob
	done    chan error

	mu  sync.Mutex
	err error // the writer's first error
}

// add builds j's .byok and queues it for writing. It returns the writer's
// first error, if one has already happened.
func (w *blobWriter) add(j *exportJob) error {
	if j.out == "" {
		return fmt.Errorf("--key %s: no output name", j.src)
	}
	j.blob = byok.NewBlob(w.kek, j.ciphertext, j.generator).Marshal()
	if !w.started {
		if w.outDir != "" {
			tmp, err := fsx.TempDirFor(w.outDir)
			if err != nil {
				return cli.WithHint(fmt.Errorf("--out-dir: %w", err), "outputs are never overwritten: choose a new directory")
			}
			w.tmp = tmp
			if err := os.Chmod(tmp, 0o755); err != nil {
				return err
			}
		}
		w.queue, w.done = make(chan *exportJob, 64), make(chan error, 1)
		w.started = true
		go w.run()
	}
	if err := w.failed(); err != nil {
		return err // stop exporting: the batch is lost anyway
	}
	w.queue <- j
	return nil
}

func (w *blobWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *blobWriter) run() {
	var first error
	for j := range w.queue {
		if first != nil {
			continue
		}
		p := j.out
		if w.tmp != "" {
			p = filepath.Join(w.tmp, filepath.Base(j.out))
		}
		if err := fsx.WriteNew(p, j.blob, 0o644); err != nil {
			first = cli.WithHint(fmt.Errorf("writing %s: %w", j.out, err), "outputs are never overwritten: choose a new name")
		} else {
			first = readBack(j, w.kek, p)
		}
		if first != nil {
			w.mu.Lock()
			w.err = first
			w.mu.Unlock()
		}
	}
	w.done <- first
}

// finish waits for the writes and commits a batch directory.
func (w *blobWriter) finish() error {
	if !w.started {
		return errors.New("no key was exported")
	}
	close(w.queue)
	w.started = false
	if err := <-w.done; err != nil {
		w.removeTmp()
		return err
	}
	if w.tmp != "" {
		if err := fsx.CommitDir(w.tmp, w.outDir); err != nil {
			w.removeTmp()
			return cli.WithHint(fmt.Errorf("--out-dir: %w", err), "outputs are never overwritten: choose a new directory")
		}
		w.tmp = ""
	}
	return nil
}

// abort stops the writer and removes a batch's temporary directory. A
// single --out already written stays: it was complete and checked.
func (w *blobWriter) abort() {
	if w.started {
		close(w.queue)
		w.started = false
		<-w.done
	}
	w.removeTmp()
}

func (w *blobWriter) removeTmp() {
	if w.tmp != "" {
		os.RemoveAll(w.tmp)
		w.tmp = ""
	}
}

// checkBlob parses a written .byok and checks it against what was meant:
// same kid, ciphertext and generator, and a ciphertext length that fits the
// KEK size and the target type.
func checkBlob(data []byte, kek *byok.KEK, j *exportJob) error {
	b, err := byok.ParseBlob(data)
	if err != nil {
		return fmt.Errorf("read-back of %s: %w", j.out, libErr(err))
	}
	if b.Kid != kek.Kid || !bytes.Equal(b.Ciphertext, j.ciphertext) || b.Generator != j.generator {
		return fmt.Errorf("read-back of %s: the file does not hold the blob that was written", j.out)
	}
	if err := byok.CheckCiphertextLen(kek, j.info, len(b.Ciphertext)); err != nil {
		return fmt.Errorf("read-back of %s: %w", j.out, libErr(err))
	}
	return nil
}

func readBack(j *exportJob, kek *byok.KEK, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read-back of %s: %w", j.out, err)
	}
	if !bytes.Equal(data, j.blob) {
		return fmt.Errorf("read-back of %s: the file differs from what was written", j.out)
	}
	return checkBlob(data, kek, j)
}

func (j *exportJob) result(kek *byok.KEK, h *exportHSMJSON) exportJSON {
	fp := words.Sum(j.blob)
	r := exportJSON{
		Out: j.out, Key: j.src, Kid: kek.Kid, Name: j.name, Ops: j.ops,
		Kty: j.info.Type.JWKType(), Crv: j.info.Curve, Target: j.info.String(),
		Mechanism: j.mechanism, Generator: j.generator, SHA256: fp.Hex(), Words: fp.Words(),
		CiphertextLen: len(j.ciphertext), Preflight: j.preflight, Deviations: j.deviations,
	}
	if r.Deviations == nil {
		r.Deviations = []string{}
	}
	if j.uri != nil {
		r.Source, r.HSM = "pkcs11", h
		r.Attributes = &exportAttrsJSON{Label: j.obj.Label, ID: fmt.Sprintf("%x", j.obj.ID), Extractable: j.obj.Extractable,
			Sensitive: j.obj.Sensitive, NeverExtractable: j.obj.NeverExtractable, WrapWithTrusted: j.obj.WrapWithTrusted}
	} else {
		r.Source = "file"
	}
	return r
}

func report(e *env, o *exportOpts, jobs []*exportJob, kek *byok.KEK) error {
	var results []exportJSON
	for _, j := range jobs {
		results = append(results, j.result(kek, o.hsm))
	}
	if o.ceremony != "" {
		if err := recordExports(o, jobs, results, kek); err != nil {
			return err
		}
	}
	for _, r := range results {
		for _, d := range r.Deviations {
			fmt.Fprintf(e.stderr, "keyrite: warning: %s\n", d)
		}
	}
	if o.asJSON {
		if o.outDir == "" {
			return cli.PrintJSON(e.stdout, results[0])
		}
		return cli.PrintJSON(e.stdout, struct {
			OutDir string       `json:"out_dir"`
			Kid    string       `json:"kid"`
			Keys   []exportJSON `json:"keys"`
		}{o.outDir, kek.Kid, results})
	}
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "wrote:      %s\n", r.Out)
		fmt.Fprintf(e.stdout, "key:        %s (%s)\n", r.Key, r.Target)
		fmt.Fprintf(e.stdout, "name:       %s\n", r.Name)
		fmt.Fprintf(e.stdout, "kty:        %s", r.Kty)
		if r.Crv != "" {
			fmt.Fprintf(e.stdout, " %s", r.Crv)
		}
		fmt.Fprintf(e.stdout, "\nkey_ops:    %s\n", strings.Join(r.Ops, ","))
		fmt.Fprintf(e.stdout, "kek kid:    %s\n", r.Kid)
		fmt.Fprintf(e.stdout, "mechanism:  %s\n", r.Mechanism)
		if r.Preflight != nil {
			status := "passed"
			if !r.Preflight.Passed {
				status = "FAILED (rehearsal): " + r.Preflight.Reason
			}
			fmt.Fprintf(e.stdout, "pre-flight: %s\n", status)
		}
		fmt.Fprintf(e.stdout, "generator:  %s\n", r.Generator)
		fmt.Fprintf(e.stdout, "sha256:     %s\n", r.SHA256)
		fmt.Fprintf(e.stdout, "words:      %s\n", r.Words)
	}
	return nil
}

// recordExports records one "byok.export" event per key in the ceremony.
func recordExports(o *exportOpts, jobs []*exportJob, results []exportJSON, kek *byok.KEK) error {
	kekPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: kek.SPKI})
	for i, j := range jobs {
		r := results[i]
		ev := transcripts.Event{
			Step:    "byok.export",
			Action:  fmt.Sprintf("exported %s (%s) as %s, wrapped under KEK %s", j.name, r.Target, filepath.Base(j.out), kek.Kid),
			Inputs:  []transcripts.Artifact{transcripts.NewArtifact("kek-"+kek.Fingerprint().Hex()[:16]+".pem", transcripts.KindKEK, kekPEM)},
			Outputs: []transcripts.Artifact{transcripts.NewArtifact(filepath.Base(j.out), transcripts.KindBYOK, j.blob)},
			Params: []transcripts.Param{
				{Name: "kid", Value: kek.Kid},
				{Name: "kek_sha256", Value: kek.Fingerprint().Hex()},
				{Name: "name", Value: j.name},
				{Name: "ops", Value: strings.Join(j.ops, ",")},
				{Name: "kty", Value: r.Kty},
				{Name: "target", Value: r.Target},
				{Name: "source", Value: j.src},
				{Name: "generator", Value: j.generator},
				{Name: "byok_sha256", Value: r.SHA256},
			},
			Mechanism:  j.mechanism,
			Result:     "ok",
			Deviations: j.deviations,
		}
		if r.Crv != "" {
			ev.Params = append(ev.Params, transcripts.Param{Name: "crv", Value: r.Crv})
		}
		// The target's public key, so that the uploader can check the key
		// the service imported is this one (public_key_match).
		if j.pub != nil {
			ev.Outputs = append(ev.Outputs, transcripts.NewArtifact(j.name+".public.pem", transcripts.KindPublicKey,
				pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: j.pub})))
			ev.Params = append(ev.Params, transcripts.Param{Name: "public_key_sha256", Value: words.Sum(j.pub).Hex()})
		} else if j.pubNote != "" {
			ev.Params = append(ev.Params, transcripts.Param{Name: "public_key", Value: "not recorded: " + j.pubNote})
		}
		if j.preflight != nil {
			status := "passed"
			if !j.preflight.Passed {
				status = "failed: " + j.preflight.Reason
			}
			ev.Params = append(ev.Params, transcripts.Param{Name: "preflight", Value: status})
			if j.preflight.Note != "" {
				ev.Params = append(ev.Params, transcripts.Param{Name: "preflight_note", Value: j.preflight.Note})
			}
		}
		if r.HSM != nil {
			ev.HSM = &transcripts.HSMInfo{
				ModulePath: r.HSM.ModulePath, ModuleSHA256: r.HSM.ModuleSHA256, TokenLabel: r.HSM.Token.Label,
				Manufacturer: r.HSM.Token.Manufacturer, Model: r.HSM.Token.Model, Serial: r.HSM.Token.Serial, Firmware: r.HSM.Token.Firmware,
			}
		}
		if err := transcripts.RecordStep(o.ceremony, ev); err != nil {
			return cli.WithHint(fmt.Errorf("the .byok output was written (%s), but recording the step in ceremony %s failed: %w", j.out, o.ceremony, err),
				"check the ceremony directory; the written .byok is valid, record or discard it deliberately")
		}
	}
	return nil
}

package ceremony

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/secret"
)

// Key sources of the BYOK flow.
const (
	sourceList = "list" // chosen from a token's listed objects
	sourceURI  = "uri"  // a typed PKCS#11 URI
	sourceFile = "file" // a soft key file
)

// byokFlow holds the guided export's answers, kept while the person moves
// back and forth and after a failed export.
type byokFlow struct {
	e   *Engine
	kek *kekForm

	source, module, token, objects, uri, file *FormField
	out, name                                 *FormField

	tokens  []TokenChoice
	listed  map[string]ObjectChoice // by URI
	target  *byok.Target            // a soft key, as parsed
	pin     []byte                  // the token's PIN, from listing to export
	pinFor  string                  // module and token the PIN is for
	results *ExportResult
}

// BYOKExport is the guided BYOK export: the KEK (its words typed back), the
// keys (chosen from a token's list, a typed URI or a key file), the output,
// a summary, then the export of package byok/export, which `keyrite byok
// export` runs too; each .byok is read back and checked. Every step can go
// back to the one before, with its answers kept; a failed export (a wrong
// PIN, a pre-flight refusal) is shown in full and offers to try again or
// to change the answers.
func (e *Engine) BYOKExport() error {
	f := e.newBYOKFlow()
	defer f.wipePIN()
	e.UI.Show(Message{Kind: Heading, Title: "BYOK export"})
	err := e.runWizard([]wizardStep{
		{"KEK", func() error { _, err := e.intakeKEK(f.kek); return err }},
		{"Keys", f.keysStep},
		{"Output", f.outputStep},
		{"Export", f.exportStep},
	})
	if err != nil {
		return err
	}
	f.showResults()
	return nil
}

func (e *Engine) newBYOKFlow() *byokFlow {
	f := &byokFlow{e: e, kek: newKEKForm(), listed: map[string]ObjectChoice{}}
	f.source = &FormField{Key: "source", Title: "Where are the keys to export?", Kind: SelectField,
		Options: f.sourceOptions}
	f.module = newModuleField(e, "PKCS#11 module")
	f.token = &FormField{Key: "token", Title: "Token", Kind: SelectField, Options: f.tokenOptions, Check: f.checkToken}
	f.objects = &FormField{Key: "keys", Title: "Keys to export", Kind: MultiSelectField,
		Help: "only private and secret keys with CKA_EXTRACTABLE can be exported", Options: f.objectOptions, Check: f.checkObjects}
	f.uri = &FormField{Key: "uri", Title: "PKCS#11 URI of the key",
		Help:  "e.g. pkcs11:token=vendor;object=app-key;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so",
		Check: checkKeyURI}
	f.file = &FormField{Key: "file", Title: "Key file", Kind: PathField,
		Help: "a PEM private key, or the raw bytes of an AES key", Check: f.checkFile, Status: f.fileStatus}
	f.out = &FormField{Key: "out", Title: "Output", Kind: PathField, Check: f.checkOut,
		Help: "a new NAME.byok file for one key; a new directory for several (one NAME.byok each)"}
	f.name = &FormField{Key: "name", Title: "Name of the key in the vault", Optional: true,
		Help: "empty: the object's label or the file's base name", Check: checkKeyName,
		Skip: func() bool { return len(f.sources()) > 1 }}
	return f
}

func (f *byokFlow) sourceOptions() ([]Option, error) {
	var opts []Option
	if f.e.Backends.Discovery.Tokens != nil {
		opts = append(opts, Option{Label: "on a PKCS#11 token: choose from its list of keys", Value: sourceList})
	}
	return append(opts,
		Option{Label: "on a PKCS#11 token: type its pkcs11: URI", Value: sourceURI},
		Option{Label: "in a key file (PEM private key, or raw AES key bytes)", Value: sourceFile}), nil
}

func (f *byokFlow) keysStep() error {
	for {
		err := AskForm(f.e.UI, &Form{Step: "Keys", Title: "Keys to export", Fields: []*FormField{f.source}})
		if err != nil {
			return err
		}
		switch f.source.Value {
		case sourceList:
			err = f.chooseListed()
		case sourceURI:
			err = AskForm(f.e.UI, &Form{Step: "Keys", Title: "Key on a PKCS#11 token", Fields: []*FormField{f.uri}})
		default:
			err = AskForm(f.e.UI, &Form{Step: "Keys", Title: "Key file", Fields: []*FormField{f.file}})
		}
		if !errors.Is(err, ErrBack) {
			return err
		}
	}
}

// chooseListed asks for the module and token, the PIN (private objects are
// listed only after a login), then the keys from the token's list.
func (f *byokFlow) chooseListed() error {
	for {
		err := AskForms(f.e.UI,
			&Form{Step: "Keys", Title: "PKCS#11 module", Fields: []*FormField{f.module}},
			&Form{Step: "Keys", Title: "Token", Fields: []*FormField{f.token}})
		if err != nil {
			return err
		}
		if err := f.login(); err != nil {
			if errors.Is(err, ErrBack) {
				continue
			}
			return err
		}
		err = AskForm(f.e.UI, &Form{Step: "Keys", Title: "Keys on token " + f.chosenToken().Label, Fields: []*FormField{f.objects}})
		if !errors.Is(err, ErrBack) {
			return err
		}
		f.wipePIN()
	}
}

// login asks for the token's PIN and lists its objects with it, asking
// again after a wrong PIN (the token's counter is shown as it reports it).
func (f *byokFlow) login() error {
	key := f.module.Value + "\x00" + f.token.Value
	if f.pin != nil && f.pinFor == key {
		return nil
	}
	f.wipePIN()
	tok := f.chosenToken()
	for attempt := 0; ; attempt++ {
		if attempt >= f.e.maxAttempts() {
			return fmt.Errorf("%w: PIN for token %q", ErrTooManyAttempts, tok.Label)
		}
		pin, err := f.e.askSecret(fmt.Sprintf("PIN for token %q, to list its keys (not shown; used again for the export)", tok.Label))
		if err != nil {
			return err
		}
		// The login may wipe what it is given: it gets a copy, wiped after.
		c := bytes.Clone(pin)
		objs, err := f.e.Backends.Discovery.Objects(f.module.Value, tok, c, f.e.tokenLogin())
		secret.Wipe(c)
		if err == nil {
			f.pin, f.pinFor = pin, key
			f.setListed(objs)
			return nil
		}
		secret.Wipe(pin)
		if !errors.Is(err, hsm.ErrPINIncorrect) {
			f.e.showFailure("Listing the keys of token "+tok.Label+" failed", err)
			return ErrBack
		}
		f.e.showFailure("Wrong PIN", err)
	}
}

func (f *byokFlow) setListed(objs []ObjectChoice) {
	clear(f.listed)
	for _, o := range objs {
		f.listed[o.URI] = o
	}
	f.objects.Values = slices.DeleteFunc(f.objects.Values, func(v string) bool { _, ok := f.listed[v]; return !ok })
}

func (f *byokFlow) wipePIN() {
	secret.Wipe(f.pin)
	f.pin, f.pinFor = nil, ""
}

func (f *byokFlow) tokenOptions() ([]Option, error) {
	toks, err := f.e.Backends.Discovery.Tokens(f.module.Value)
	if err != nil {
		return nil, err
	}
	f.tokens = toks
	var opts []Option
	for _, t := range toks {
		opts = append(opts, Option{Label: t.String(), Value: t.Label + "\x00" + t.Serial})
	}
	if len(opts) == 0 {
		return nil, fmt.Errorf("module %s shows no token: is the HSM connected and the token initialised?", f.module.Value)
	}
	return opts, nil
}

func (f *byokFlow) chosenToken() TokenChoice {
	for _, t := range f.tokens {
		if t.Label+"\x00"+t.Serial == f.token.Value {
			return t
		}
	}
	return TokenChoice{}
}

func (f *byokFlow) checkToken(string) error {
	t := f.chosenToken()
	switch {
	case t.Label == "":
		return errors.New("choose a token from the list")
	case !t.Present:
		return fmt.Errorf("token %q is not present: insert it, or choose another", t.Label)
	case t.Flags == "PIN locked":
		return fmt.Errorf("token %q has its PIN locked; only its security officer can unlock it", t.Label)
	}
	return nil
}

func (f *byokFlow) objectOptions() ([]Option, error) {
	var opts []Option
	for _, o := range sortedObjects(f.listed) {
		opts = append(opts, Option{Label: o.String(), Value: o.URI})
	}
	if len(opts) == 0 {
		return nil, fmt.Errorf("token %q holds no key objects", f.chosenToken().Label)
	}
	return opts, nil
}

func (f *byokFlow) checkObjects(string) error {
	for _, v := range f.objects.Values {
		o, ok := f.listed[v]
		switch {
		case !ok:
			return errors.New("choose from the list")
		case o.Class == "public key" || o.Class == "certificate":
			return fmt.Errorf("%s is a %s: choose the private key to export", o.Label, o.Class)
		case !o.Extractable:
			return fmt.Errorf("%s is not extractable (CKA_EXTRACTABLE false): it cannot be exported under a KEK", o.Label)
		}
	}
	return nil
}

func checkKeyURI(s string) error {
	u, err := hsm.ParseURI(s)
	if err != nil {
		return err
	}
	switch {
	case u.ModulePath == "":
		return errors.New("the URI needs ?module-path=/path/to/the/pkcs11/module.so")
	case u.PINSource != "":
		return errors.New("pin-source is not used here: the PIN is asked for after the summary")
	}
	if _, err := os.Stat(u.ModulePath); err != nil {
		return fmt.Errorf("PKCS#11 module %s: no such file", u.ModulePath)
	}
	return nil
}

func (f *byokFlow) checkFile(path string) error {
	b, err := readInput(path, "key file", 1<<20)
	if err != nil {
		return err
	}
	defer secret.Wipe(b)
	t, err := byok.ParseTargetFile(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if f.target != nil {
		f.target.Wipe()
	}
	f.target = t
	return nil
}

func (f *byokFlow) fileStatus(string) string {
	if f.target == nil {
		return ""
	}
	return f.target.String()
}

// sources are the chosen keys: URIs or a file path.
func (f *byokFlow) sources() []string {
	switch f.source.Value {
	case sourceList:
		return f.objects.Values
	case sourceURI:
		return []string{f.uri.Value}
	}
	return []string{f.file.Value}
}

func (f *byokFlow) outputStep() error {
	f.out.Title = "Output file (.byok)"
	if len(f.sources()) > 1 {
		f.out.Title = "Output directory (new; one NAME.byok per key)"
	}
	return AskForm(f.e.UI, &Form{Step: "Output", Title: "Output", Fields: []*FormField{f.out, f.name}})
}

func (f *byokFlow) checkOut(p string) error {
	if len(f.sources()) > 1 {
		return newDirOutput(p)
	}
	if !strings.HasSuffix(p, ".byok") {
		return errors.New("the output file name must end in .byok")
	}
	return checkNewOutput(p)
}

func (f *byokFlow) summaryFields() []Field {
	fp := f.kek.kek.Fingerprint()
	fields := []Field{{"KEK", f.kek.kek.Kid}, {"KEK words", fp.Short()}}
	for _, s := range f.sources() {
		fields = append(fields, Field{"key", f.describe(s)})
	}
	if f.name.Value != "" && len(f.sources()) == 1 {
		fields = append(fields, Field{"name", f.name.Value})
	}
	return append(fields, Field{"output", f.out.Value}, Field{"ceremony", orNone(f.e.CeremonyDir)})
}

func (f *byokFlow) describe(src string) string {
	switch f.source.Value {
	case sourceList:
		o := f.listed[src]
		return fmt.Sprintf("%s (%s %s on token %s)", o.Label, o.Type, o.Class, f.chosenToken().Label)
	case sourceURI:
		return src + " (type and size are checked at the export)"
	}
	return fmt.Sprintf("%s (%s)", src, f.target)
}

// exportStep shows the summary, asks for the PIN when it is not held yet,
// and exports; a failure is shown whole and offers to try again.
func (f *byokFlow) exportStep() error {
	if err := f.e.summary(f.summaryFields(), "Export now?", "the export was not confirmed; nothing was done", 1); err != nil {
		return err
	}
	for {
		err := f.export()
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrCancelled) {
			return err
		}
		if errors.Is(err, hsm.ErrPINIncorrect) || errors.Is(err, hsm.ErrPINLocked) {
			f.wipePIN()
		}
		if err := f.e.afterFailure("The export failed; nothing was written", err, 1); err != nil {
			return err
		}
	}
}

// tokenLabel is the label of the token the keys are on.
func (f *byokFlow) tokenLabel() string {
	if f.source.Value == sourceList {
		return f.chosenToken().Label
	}
	if u, err := hsm.ParseURI(f.uri.Value); err == nil {
		return u.Token
	}
	return ""
}

func (f *byokFlow) export() error {
	req := ExportRequest{KEK: f.kek.kek, Sources: f.sources(), Name: f.name.Value,
		CeremonyDir: f.e.CeremonyDir, Actor: f.e.Actor, Login: f.e.tokenLogin(),
		Progress: func(done, total int) { f.e.UI.Progress("BYOK export", done, total) }}
	if len(req.Sources) > 1 {
		req.OutDir = f.out.Value
	} else {
		req.Out = f.out.Value
	}
	if f.source.Value != sourceFile {
		if f.pin == nil {
			pin, err := f.e.askSecret(fmt.Sprintf("PIN for token %q (not shown)", f.tokenLabel()))
			if err != nil {
				return err
			}
			f.pin = pin
		}
		req.PIN = bytes.Clone(f.pin)
	}
	run := f.e.Backends.Export
	if run == nil {
		run = RunExport
	}
	res, err := run(req)
	secret.Wipe(req.PIN)
	if err != nil {
		return err
	}
	for _, k := range res.Keys {
		if err := readBack(k, f.kek.kek); err != nil {
			return err
		}
	}
	f.results = res
	return nil
}

// readBack reads a written .byok again and checks it names the KEK and is
// what the export returned.
func readBack(k ExportedKey, kek *byok.KEK) error {
	got, err := os.ReadFile(k.Out)
	if err != nil {
		return fmt.Errorf("ceremony: reading back %s: %w", k.Out, err)
	}
	if k.Blob != nil && !bytes.Equal(got, k.Blob) {
		return fmt.Errorf("ceremony: %s read back differs from what was written", k.Out)
	}
	blob, err := byok.ParseBlob(got)
	if err != nil {
		return fmt.Errorf("ceremony: %s read back: %w", k.Out, err)
	}
	if blob.Kid != kek.Kid {
		return fmt.Errorf("ceremony: %s read back: it names KEK %s, not %s", k.Out, blob.Kid, kek.Kid)
	}
	return nil
}

func (f *byokFlow) showResults() {
	kek := f.kek.kek
	for _, k := range f.results.Keys {
		blob, _ := byok.ParseBlob(k.Blob)
		fields := []Field{{"file", k.Out}}
		if blob != nil {
			d := blob.Describe(kek)
			fields = append(fields, Field{"SHA-256", d.Digest.Hex()}, Field{"words", WordLines(d.Digest.Words(), 8)})
			if len(d.Problems) > 0 {
				f.e.UI.Show(Message{Kind: Warning, Title: "byok inspect reports", Text: strings.Join(d.Problems, "\n")})
			}
		}
		fields = append(fields, Field{"KEK", kek.Kid})
		fields = append(fields, k.Detail...)
		f.e.UI.Show(Message{Kind: Success, Title: "Exported " + k.Target,
			Text: "Carry the .byok file to the online workstation; read these words to the person there.", Fields: fields})
	}
}

// checkKeyName is the vault's key-name rule, as the export applies it.
func checkKeyName(s string) error {
	if err := export.CheckName(s); err != nil {
		return fmt.Errorf("key name %q: %w", s, err)
	}
	return nil
}

package hsm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// Module is a loaded and initialised PKCS#11 library.
//
// Load shares one Module per library path within the process (Cryptoki is
// initialised once per process): each Load must be matched by a Close, and the
// library is finalised and unloaded when the last user closes it.
type Module struct {
	// Path is the module path as given to Load.
	Path string
	// SHA256 is the hex SHA-256 of the library file, for the transcript.
	SHA256 string
	// Library describes the library itself (C_GetInfo).
	Library LibraryInfo

	p        PKCS11
	finalize bool // we initialised it, so we finalise it
	key      string
	refs     int
}

// LibraryInfo is what C_GetInfo says about the library.
type LibraryInfo struct {
	Manufacturer string `json:"manufacturer"`
	Description  string `json:"description"`
	Version      string `json:"version"`          // library version, "2.6"
	Cryptoki     string `json:"cryptoki_version"` // Cryptoki version implemented, "2.40"
}

var (
	modMu   sync.Mutex
	modules = map[string]*Module{}
)

// Load loads the PKCS#11 library at path, initialises it (tolerating
// CKR_CRYPTOKI_ALREADY_INITIALIZED, in which case Close will not finalise
// it), and returns it. A path that cannot be loaded gives an error wrapping
// ErrModuleLoad: "cannot load PKCS#11 module PATH: ...".
func Load(path string) (*Module, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no module path given", ErrModuleLoad)
	}
	key := path
	if abs, err := filepath.Abs(path); err == nil {
		key = abs
	}
	if real, err := filepath.EvalSymlinks(key); err == nil {
		key = real
	}
	modMu.Lock()
	defer modMu.Unlock()
	if m, ok := modules[key]; ok {
		m.refs++
		return m, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("hsm: cannot load PKCS#11 module %s: %w (%w)", path, err, ErrModuleLoad)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("hsm: cannot load PKCS#11 module %s: it is a directory (%w)", path, ErrModuleLoad)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, fmt.Errorf("hsm: cannot load PKCS#11 module %s: %w (%w)", path, err, ErrModuleLoad)
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		// pkcs11.New gives no reason: dlopen failed or C_GetFunctionList is missing.
		return nil, fmt.Errorf("hsm: cannot load PKCS#11 module %s: not a loadable PKCS#11 library (wrong architecture, missing dependency, or no C_GetFunctionList) (%w)", path, ErrModuleLoad)
	}
	m, err := initModule(ctx, path)
	if err != nil {
		ctx.Destroy()
		return nil, err
	}
	m.SHA256 = sum
	m.key = key
	m.refs = 1
	modules[key] = m
	return m, nil
}

// LoadWith uses an already loaded library p (a fake or decorator in tests)
// as if Load had loaded it from path. It initialises p; Close finalises it
// and calls p.Destroy. The Module is not shared with Load.
func LoadWith(p PKCS11, path string) (*Module, error) {
	m, err := initModule(p, path)
	if err != nil {
		return nil, err
	}
	m.refs = 1
	if sum, err := fileSHA256(path); err == nil {
		m.SHA256 = sum
	}
	return m, nil
}

func initModule(p PKCS11, path string) (*Module, error) {
	m := &Module{Path: path, p: p, finalize: true}
	if err := p.Initialize(); err != nil {
		if c, ok := Code(err); ok && c == pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
			m.finalize = false
		} else {
			return nil, fmt.Errorf("hsm: cannot initialise PKCS#11 module %s: %w", path, wrapErr("C_Initialize", "", err))
		}
	}
	if info, err := p.GetInfo(); err == nil {
		m.Library = LibraryInfo{
			Manufacturer: clean(info.ManufacturerID),
			Description:  clean(info.LibraryDescription),
			Version:      fmt.Sprintf("%d.%d", info.LibraryVersion.Major, info.LibraryVersion.Minor),
			Cryptoki:     fmt.Sprintf("%d.%d", info.CryptokiVersion.Major, info.CryptokiVersion.Minor),
		}
	}
	return m, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Close releases this use of the module; the last Close finalises (if Load
// initialised it) and unloads the library. Sessions still open are closed by
// C_Finalize.
func (m *Module) Close() error {
	if m == nil {
		return nil
	}
	modMu.Lock()
	defer modMu.Unlock()
	if m.refs <= 0 {
		return nil
	}
	m.refs--
	if m.refs > 0 {
		return nil
	}
	if m.key != "" {
		delete(modules, m.key)
	}
	var err error
	if m.finalize {
		err = wrapErr("C_Finalize", "", m.p.Finalize())
	}
	m.p.Destroy()
	return err
}

// P11 returns the underlying PKCS#11 calls, for operations without a helper.
func (m *Module) P11() PKCS11 { return m.p }

// TokenInfo describes a token, as recorded in transcripts and the .byok
// generator field.
type TokenInfo struct {
	Label        string `json:"label"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Serial       string `json:"serial"`
	Firmware     string `json:"firmware"` // "major.minor"
	Hardware     string `json:"hardware"` // "major.minor"
	Flags        uint   `json:"flags"`
}

// Initialized reports whether the token has been initialised (CKF_TOKEN_INITIALIZED).
func (t TokenInfo) Initialized() bool { return t.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 }

// Describe is "manufacturer model, firmware X" for the .byok generator
// field: "SoftHSM project SoftHSM v2, firmware 2.6".
func (t TokenInfo) Describe() string {
	return fmt.Sprintf("%s %s, firmware %s", t.Manufacturer, t.Model, t.Firmware)
}

// Slot is a slot with a token present.
type Slot struct {
	ID    uint
	Token TokenInfo
}

func tokenInfo(ti pkcs11.TokenInfo) TokenInfo {
	return TokenInfo{
		Label:        clean(ti.Label),
		Manufacturer: clean(ti.ManufacturerID),
		Model:        clean(ti.Model),
		Serial:       clean(ti.SerialNumber),
		Firmware:     fmt.Sprintf("%d.%d", ti.FirmwareVersion.Major, ti.FirmwareVersion.Minor),
		Hardware:     fmt.Sprintf("%d.%d", ti.HardwareVersion.Major, ti.HardwareVersion.Minor),
		Flags:        ti.Flags,
	}
}

// clean trims the blank padding of PKCS#11 fixed-width strings and the NULs
// some modules leave in them.
func clean(s string) string {
	return strings.TrimRight(s, " \x00")
}

// Slots lists the slots that have a token present, with the token's info.
func (m *Module) Slots() ([]Slot, error) {
	ids, err := m.p.GetSlotList(true)
	if err != nil {
		return nil, wrapErr("C_GetSlotList", "", err)
	}
	var out []Slot
	for _, id := range ids {
		ti, err := m.p.GetTokenInfo(id)
		if err != nil {
			if c, ok := Code(err); ok && (c == pkcs11.CKR_TOKEN_NOT_PRESENT || c == pkcs11.CKR_TOKEN_NOT_RECOGNIZED) {
				continue
			}
			return nil, wrapErr("C_GetTokenInfo", fmt.Sprintf("slot %d", id), err)
		}
		out = append(out, Slot{ID: id, Token: tokenInfo(ti)})
	}
	return out, nil
}

// TokenFilter selects a token: every non-empty field must match exactly.
// ParseURI's URI.TokenFilter builds one from the URI's token attributes.
type TokenFilter struct {
	Label, Manufacturer, Model, Serial string
}

func (f TokenFilter) match(t TokenInfo) bool {
	return (f.Label == "" || f.Label == t.Label) &&
		(f.Manufacturer == "" || f.Manufacturer == t.Manufacturer) &&
		(f.Model == "" || f.Model == t.Model) &&
		(f.Serial == "" || f.Serial == t.Serial)
}

func (f TokenFilter) String() string {
	var parts []string
	for _, kv := range [][2]string{{"label", f.Label}, {"manufacturer", f.Manufacturer}, {"model", f.Model}, {"serial", f.Serial}} {
		if kv[1] != "" {
			parts = append(parts, fmt.Sprintf("%s %q", kv[0], kv[1]))
		}
	}
	if len(parts) == 0 {
		return "any token"
	}
	return strings.Join(parts, ", ")
}

// FindToken returns the one initialised token matching f. Slot ids change
// when tokens are initialised, so tokens are always found by their label
// (and optionally manufacturer, model, serial), never by slot id. Zero
// matches give an error wrapping ErrTokenNotFound that lists the labels that
// exist; several give ErrAmbiguous listing their serials.
func (m *Module) FindToken(f TokenFilter) (Slot, error) {
	slots, err := m.Slots()
	if err != nil {
		return Slot{}, err
	}
	var found []Slot
	var labels []string
	for _, s := range slots {
		if !s.Token.Initialized() {
			continue
		}
		labels = append(labels, fmt.Sprintf("%q", s.Token.Label))
		if f.match(s.Token) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		sort.Strings(labels)
		have := "there are no initialised tokens"
		if len(labels) > 0 {
			have = "tokens present: " + strings.Join(labels, ", ")
		}
		return Slot{}, fmt.Errorf("%w: no token with %s in module %s (%s)", ErrTokenNotFound, f, m.Path, have)
	default:
		var desc []string
		for _, s := range found {
			desc = append(desc, fmt.Sprintf("%q serial %q (slot %d)", s.Token.Label, s.Token.Serial, s.ID))
		}
		return Slot{}, fmt.Errorf("%w: %d tokens match %s: %s; add the token's serial to the URI (serial=...)", ErrAmbiguous, len(found), f, strings.Join(desc, "; "))
	}
}

package hsm

// Discovery: what a guided ceremony lists instead of asking the operator to
// type module paths and URIs. Modules (p11-kit's module configuration and
// vendors' well-known paths), the tokens of a module (present or not, with
// their PIN counter flags), the objects on a token (with an RFC 7512 URI
// naming each exactly), and waiting for a card to be inserted.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/miekg/pkcs11"
)

// ModuleCandidate is a PKCS#11 library found on this machine. Nothing is
// loaded to find it: the file exists, that is all.
type ModuleCandidate struct {
	// Name is the p11-kit module name (the .module file's base name,
	// "softhsm2") or, for a well-known path, the product ("SoftHSM2").
	Name string `json:"name"`
	// Product is the well-known product the path belongs to, when it is
	// one ("OpenSC", "AWS CloudHSM"), even if p11-kit found it first.
	Product string `json:"product,omitempty"`
	// Path is the absolute path to load (and to give as module-path).
	Path string `json:"path"`
	// RealPath is Path with symbolic links resolved; candidates are
	// unique by it.
	RealPath string `json:"real_path"`
	// Source is where it was found first: "p11-kit FILE" or "well-known
	// PRODUCT"; Sources lists every place (Source first).
	Source  string   `json:"source"`
	Sources []string `json:"sources"`
}

// KnownModule is a vendor's module at well-known paths (glob patterns).
type KnownModule struct {
	Product  string
	Patterns []string
}

// ModuleSearch says where Modules looks; DefaultModuleSearch is this
// machine's usual places. Tests set their own directories.
type ModuleSearch struct {
	// ConfigDirs are p11-kit module configuration directories, lowest
	// precedence first: a .module file of the same name in a later
	// directory overrides the keys of an earlier one (as the user's
	// ~/.config/pkcs11/modules overrides the system's).
	ConfigDirs []string
	// ModuleDirs are where a relative "module:" name resolves (p11-kit's
	// P11_MODULE_PATH); the first directory holding the file wins.
	ModuleDirs []string
	// WellKnown are the vendors' usual install paths.
	WellKnown []KnownModule
}

// multiarch is the Debian multiarch triplet of this machine.
func multiarch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "aarch64-linux-gnu"
	case "386":
		return "i386-linux-gnu"
	case "arm":
		return "arm-linux-gnueabihf"
	}
	return "x86_64-linux-gnu"
}

// WellKnownModules are the install paths of the modules keyrite is used
// with: SoftHSM2, OpenSC, YubiHSM 2 and YubiKey (ykcs11), Thales/SafeNet
// Luna, Entrust nShield, Utimaco CryptoServer, AWS CloudHSM.
func WellKnownModules() []KnownModule {
	ma := multiarch()
	libs := []string{"/usr/lib/" + ma, "/usr/lib64", "/usr/lib", "/usr/local/lib", "/opt/homebrew/lib"}
	in := func(rel ...string) []string {
		var out []string
		for _, r := range rel {
			for _, l := range libs {
				out = append(out, l+"/"+r)
			}
		}
		return out
	}
	return []KnownModule{
		{"SoftHSM2", in("softhsm/libsofthsm2.so", "pkcs11/libsofthsm2.so", "libsofthsm2.so")},
		{"OpenSC", append(in("opensc-pkcs11.so", "pkcs11/opensc-pkcs11.so"), "/Library/OpenSC/lib/opensc-pkcs11.so")},
		{"YubiHSM 2", in("pkcs11/yubihsm_pkcs11.so", "yubihsm_pkcs11.so")},
		{"YubiKey (ykcs11)", in("libykcs11.so", "pkcs11/libykcs11.so")},
		{"Thales Luna", []string{"/usr/safenet/lunaclient/lib/libCryptoki2_64.so", "/usr/safenet/lunaclient/lib/libCryptoki2.so", "/opt/safenet/lunaclient/lib/libCryptoki2_64.so"}},
		{"Entrust nShield", []string{"/opt/nfast/toolkits/pkcs11/libcknfast.so"}},
		{"Utimaco CryptoServer", []string{"/opt/utimaco/lib/libcs_pkcs11_R3.so", "/opt/utimaco/PKCS11_R3/lib/libcs_pkcs11_R3.so", "/opt/utimaco/PKCS11_R2/lib/libcs_pkcs11_R2.so", "/usr/lib/libcs_pkcs11_R3.so"}},
		{"AWS CloudHSM", []string{"/opt/cloudhsm/lib/libcloudhsm_pkcs11.so", "/opt/cloudhsm/lib/libcloudhsm_pkcs11_standard.so"}},
	}
}

// DefaultModuleSearch is p11-kit's module configuration (package, system,
// then user: /usr/share/p11-kit/modules, /etc/pkcs11/modules,
// ~/.config/pkcs11/modules), its module directory, and WellKnownModules.
func DefaultModuleSearch() ModuleSearch {
	dirs := []string{"/usr/share/p11-kit/modules", "/etc/pkcs11/modules"}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		dirs = append(dirs, filepath.Join(home, ".config", "pkcs11", "modules"))
	}
	ma := multiarch()
	return ModuleSearch{
		ConfigDirs: dirs,
		ModuleDirs: []string{"/usr/lib/" + ma + "/pkcs11", "/usr/lib64/pkcs11", "/usr/lib/pkcs11", "/usr/local/lib/pkcs11"},
		WellKnown:  WellKnownModules(),
	}
}

// Modules lists the PKCS#11 modules found in the usual places
// (DefaultModuleSearch).
func Modules() []ModuleCandidate { return DefaultModuleSearch().Modules() }

// maxModuleConfig bounds a .module file; real ones are a few lines.
const maxModuleConfig = 64 << 10

// Modules lists the modules s finds: p11-kit's configured modules first
// (by file name), then the well-known paths that exist, each once by real
// path. Libraries that do not exist and unreadable or malformed .module
// files are left out. (enable-in and disable-in, which name the programs
// p11-kit's proxy loads a module in, are not applied: keyrite loads the
// module itself.)
func (s ModuleSearch) Modules() []ModuleCandidate {
	var out []ModuleCandidate
	byReal := map[string]int{}
	add := func(name, product, path, source string) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return
		}
		st, err := os.Stat(abs)
		if err != nil || st.IsDir() {
			return
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return
		}
		if i, ok := byReal[real]; ok {
			c := &out[i]
			if !slices.Contains(c.Sources, source) {
				c.Sources = append(c.Sources, source)
			}
			if c.Product == "" {
				c.Product = product
			}
			return
		}
		byReal[real] = len(out)
		out = append(out, ModuleCandidate{Name: name, Product: product, Path: abs, RealPath: real, Source: source, Sources: []string{source}})
	}

	// p11-kit: later directories override earlier files of the same name.
	type conf struct {
		file string
		keys map[string]string
	}
	confs := map[string]*conf{}
	for _, dir := range s.ConfigDirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.module"))
		for _, f := range files {
			base := filepath.Base(f)
			if strings.HasPrefix(base, ".") {
				continue
			}
			keys, err := readModuleConfig(f)
			if err != nil {
				continue
			}
			name := strings.TrimSuffix(base, ".module")
			if c, ok := confs[name]; ok {
				for k, v := range keys {
					c.keys[k] = v
				}
				c.file = f
				continue
			}
			confs[name] = &conf{file: f, keys: keys}
		}
	}
	names := make([]string, 0, len(confs))
	for n := range confs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := confs[n]
		mod := c.keys["module"]
		if mod == "" {
			continue
		}
		if !filepath.IsAbs(mod) {
			found := ""
			for _, d := range s.ModuleDirs {
				if p := filepath.Join(d, mod); fileExists(p) {
					found = p
					break
				}
			}
			if found == "" {
				continue
			}
			mod = found
		}
		add(n, "", mod, "p11-kit "+c.file)
	}
	for _, k := range s.WellKnown {
		for _, pat := range k.Patterns {
			ms, _ := filepath.Glob(pat)
			for _, p := range ms {
				add(k.Product, k.Product, p, "well-known "+k.Product)
			}
		}
	}
	return out
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func readModuleConfig(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxModuleConfig+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxModuleConfig {
		return nil, fmt.Errorf("hsm: %s is larger than %d bytes", path, maxModuleConfig)
	}
	return ParseModuleConfig(data)
}

// ParseModuleConfig parses a p11-kit module configuration file ("key:
// value" lines, "#" comments, blank lines; a later key replaces an
// earlier one). Keys are lower-cased; values are trimmed. A line that is
// neither is an error naming its number.
func ParseModuleConfig(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxModuleConfig+1)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			return nil, fmt.Errorf("hsm: module configuration line %d is not \"key: value\"", n)
		}
		out[k] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("hsm: module configuration: %w", err)
	}
	return out, nil
}

// TokenEntry is a slot of a module and the token in it, for listings.
type TokenEntry struct {
	SlotID           uint   `json:"slot"`
	SlotDescription  string `json:"slot_description"`
	SlotManufacturer string `json:"slot_manufacturer,omitempty"`
	// Removable: a reader or port a token is inserted into (CKF_REMOVABLE_DEVICE).
	Removable bool `json:"removable"`
	// Present: a token is in the slot. The fields below are zero when not.
	Present     bool      `json:"present"`
	Token       TokenInfo `json:"token"`
	Initialized bool      `json:"initialized"`
	// LoginRequired: CKF_LOGIN_REQUIRED.
	LoginRequired bool `json:"login_required"`
	// The user PIN's counter flags (see PINStatus).
	PINCountLow    bool `json:"pin_count_low"`
	PINFinalTry    bool `json:"pin_final_try"`
	PINLocked      bool `json:"pin_locked"`
	PINToBeChanged bool `json:"pin_to_be_changed"`
}

// Slot is the entry as a Slot, for OpenSession.
func (t TokenEntry) Slot() Slot { return Slot{ID: t.SlotID, Token: t.Token} }

// PINStatus is the user PIN's counter as the token reported it.
func (t TokenEntry) PINStatus() PINStatus { return PINStatusOf(t.Token.Flags, false) }

// URI names the token (label and serial) in module modulePath.
func (t TokenEntry) URI(modulePath string) *URI {
	u := &URI{Serial: t.Token.Serial, ModulePath: absPath(modulePath)}
	if _, err := text("token", []byte(t.Token.Label), 32); err == nil {
		u.Token = t.Token.Label
	}
	if _, err := text("serial", []byte(t.Token.Serial), 16); err != nil {
		u.Serial = ""
	}
	return u
}

func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// slotInfoer is the optional C_GetSlotInfo (*pkcs11.Ctx has it; fakes may not).
type slotInfoer interface {
	GetSlotInfo(slotID uint) (pkcs11.SlotInfo, error)
}

// Tokens lists every slot of the module, with or without a token, and
// what the token says about itself. Slots whose token cannot be read
// (CKR_TOKEN_NOT_RECOGNIZED, removed meanwhile) are listed as not present.
func (m *Module) Tokens() ([]TokenEntry, error) {
	all, err := m.p.GetSlotList(false)
	if err != nil {
		return nil, wrapErr("C_GetSlotList", "", err)
	}
	present, err := m.p.GetSlotList(true)
	if err != nil {
		return nil, wrapErr("C_GetSlotList", "", err)
	}
	isPresent := map[uint]bool{}
	for _, id := range present {
		isPresent[id] = true
	}
	si, _ := m.p.(slotInfoer)
	out := make([]TokenEntry, 0, len(all))
	for _, id := range all {
		e := TokenEntry{SlotID: id, Present: isPresent[id]}
		if si != nil {
			if info, err := si.GetSlotInfo(id); err == nil {
				e.SlotDescription = clean(info.SlotDescription)
				e.SlotManufacturer = clean(info.ManufacturerID)
				e.Removable = info.Flags&pkcs11.CKF_REMOVABLE_DEVICE != 0
				e.Present = info.Flags&pkcs11.CKF_TOKEN_PRESENT != 0
			}
		}
		if e.Present {
			ti, err := m.p.GetTokenInfo(id)
			if err != nil {
				if c, ok := Code(err); ok && (c == pkcs11.CKR_TOKEN_NOT_PRESENT || c == pkcs11.CKR_TOKEN_NOT_RECOGNIZED || c == pkcs11.CKR_DEVICE_REMOVED) {
					e.Present = false
					out = append(out, e)
					continue
				}
				return nil, wrapErr("C_GetTokenInfo", fmt.Sprintf("slot %d", id), err)
			}
			e.Token = tokenInfo(ti)
			e.Initialized = e.Token.Initialized()
			e.LoginRequired = ti.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0
			ps := PINStatusOf(ti.Flags, false)
			e.PINCountLow, e.PINFinalTry, e.PINLocked, e.PINToBeChanged = ps.CountLow, ps.FinalTry, ps.Locked, ps.ToBeChanged
		}
		out = append(out, e)
	}
	return out, nil
}

// ObjectInfo is one object in a listing: what an operator chooses a key by,
// and the URI that names exactly it. Nothing secret is read.
type ObjectInfo struct {
	Handle  pkcs11.ObjectHandle `json:"-"`
	Class   uint                `json:"-"` // CKA_CLASS
	KeyType uint                `json:"-"` // CKA_KEY_TYPE, NoKeyType for non-keys

	Label string `json:"label"`
	ID    string `json:"id"` // CKA_ID in lower-case hex
	// ClassName is ClassName(Class): "private-key", "public-key",
	// "secret-key", "certificate", "data".
	ClassName string `json:"class"`
	// KeyTypeName is KeyTypeName(KeyType) for keys ("RSA", "EC", "AES"),
	// "" for other objects.
	KeyTypeName string `json:"key_type,omitempty"`
	// Bits: RSA modulus bits (CKA_MODULUS_BITS, or CKA_MODULUS's length),
	// secret key bits (CKA_VALUE_LEN), EC curve bits. 0 if unknown.
	Bits int `json:"bits,omitempty"`
	// Curve: "P-256", "P-384", "P-521", "secp256k1", "Ed25519", "OID ...".
	Curve string `json:"curve,omitempty"`

	// CKA_EXTRACTABLE, CKA_SENSITIVE, CKA_NEVER_EXTRACTABLE,
	// CKA_ALWAYS_SENSITIVE: private and secret keys only (false otherwise).
	Extractable      bool `json:"extractable"`
	Sensitive        bool `json:"sensitive"`
	NeverExtractable bool `json:"never_extractable"`
	AlwaysSensitive  bool `json:"always_sensitive"`
	// Private: CKA_PRIVATE, visible only after login. Token: a token
	// object (false: a session object).
	Private bool `json:"private"`
	Token   bool `json:"token"`

	// Certificates: the SHA-256 of the DER (hex) and the subject.
	CertSHA256  string `json:"cert_sha256,omitempty"`
	CertSubject string `json:"cert_subject,omitempty"`

	// URI names exactly this object: token label and serial, object
	// (label), id, type and module-path. Duplicates counts the other
	// listed objects the same URI names (same label, id and class): when
	// it is not 0 the URI is ambiguous and FindURI refuses it.
	URI        string `json:"uri"`
	Duplicates int    `json:"duplicates,omitempty"`
}

// TypeString is "RSA 2048", "EC P-256", "AES 256", or the class name.
func (o ObjectInfo) TypeString() string {
	obj := Object{Class: o.Class, KeyType: o.KeyType, Bits: o.Bits, Curve: o.Curve}
	return obj.TypeString()
}

// ObjectFilter selects objects for ListObjects. Empty fields select all.
type ObjectFilter struct {
	Classes  []uint // CKO_ values
	KeyTypes []uint // CKK_ values (objects that are not keys never match)
	// Label is a case-insensitive substring of the label.
	Label string
	// Text is a MatchText query.
	Text string
}

// Match reports whether o passes the filter.
func (f ObjectFilter) Match(o ObjectInfo) bool {
	if len(f.Classes) > 0 && !containsUint(f.Classes, o.Class) {
		return false
	}
	if len(f.KeyTypes) > 0 && (o.KeyType == NoKeyType || !containsUint(f.KeyTypes, o.KeyType)) {
		return false
	}
	if f.Label != "" && !strings.Contains(strings.ToLower(o.Label), strings.ToLower(f.Label)) {
		return false
	}
	return MatchText(o, f.Text)
}

func containsUint(s []uint, v uint) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ClassByName is the CKA_CLASS for "private", "public", "secret" (or
// "secret-key"), "cert" (or "certificate") and "data".
func ClassByName(name string) (uint, bool) {
	switch strings.ToLower(name) {
	case "private", "private-key":
		return pkcs11.CKO_PRIVATE_KEY, true
	case "public", "public-key":
		return pkcs11.CKO_PUBLIC_KEY, true
	case "secret", "secret-key":
		return pkcs11.CKO_SECRET_KEY, true
	case "cert", "certificate":
		return pkcs11.CKO_CERTIFICATE, true
	case "data":
		return pkcs11.CKO_DATA, true
	}
	return 0, false
}

// KeyTypeByName is the CKA_KEY_TYPE for "rsa", "ec", "ec-edwards", "aes",
// "generic-secret", "des3" (any case).
func KeyTypeByName(name string) (uint, bool) {
	switch strings.ToLower(name) {
	case "rsa":
		return pkcs11.CKK_RSA, true
	case "ec", "ecdsa":
		return pkcs11.CKK_EC, true
	case "ec-edwards", "ed25519", "eddsa":
		return CKK_EC_EDWARDS, true
	case "aes":
		return pkcs11.CKK_AES, true
	case "generic-secret", "generic":
		return pkcs11.CKK_GENERIC_SECRET, true
	case "des3":
		return pkcs11.CKK_DES3, true
	}
	return 0, false
}

// MatchText reports whether o matches query: every whitespace-separated
// term must be a case-insensitive substring of one of its label, hex id,
// class, key type, size, curve, or be one of the words "extractable",
// "non-extractable", "sensitive", "never-extractable", "private" (visible
// only after login) and "session" (not a token object). An empty query
// matches everything.
func MatchText(o ObjectInfo, query string) bool {
	terms := strings.Fields(strings.ToLower(query))
	if len(terms) == 0 {
		return true
	}
	fields := []string{strings.ToLower(o.Label), o.ID, o.ClassName, strings.ToLower(o.KeyTypeName), strings.ToLower(o.Curve), strings.ToLower(o.TypeString())}
	if o.Bits > 0 {
		fields = append(fields, fmt.Sprint(o.Bits))
	}
	var words []string
	isKey := o.Class == pkcs11.CKO_PRIVATE_KEY || o.Class == pkcs11.CKO_SECRET_KEY
	if isKey && o.Extractable {
		words = append(words, "extractable")
	}
	if isKey && !o.Extractable {
		words = append(words, "non-extractable")
	}
	if o.Sensitive {
		words = append(words, "sensitive")
	}
	if o.NeverExtractable {
		words = append(words, "never-extractable")
	}
	if !o.Token {
		words = append(words, "session")
	}
	if o.Private {
		words = append(words, "private")
	}
next:
	for _, t := range terms {
		for _, f := range fields {
			if f != "" && strings.Contains(f, t) {
				continue next
			}
		}
		for _, w := range words {
			if w == t {
				continue next
			}
		}
		return false
	}
	return true
}

var (
	commonAttrs = []uint{pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE}
	keyFlags    = []uint{pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_SENSITIVE, pkcs11.CKA_NEVER_EXTRACTABLE, pkcs11.CKA_ALWAYS_SENSITIVE}
)

// shapeAttrs is what ListObjects reads from an object of class c and key
// type kt: tokens fail the whole C_GetAttributeValue for an attribute the
// object's class lacks (CKR_ATTRIBUTE_TYPE_INVALID), so each class and key
// type is asked only for what it has.
func shapeAttrs(c, kt uint) []uint {
	var size []uint
	switch {
	case c == pkcs11.CKO_PUBLIC_KEY && kt == pkcs11.CKK_RSA:
		size = []uint{pkcs11.CKA_MODULUS_BITS}
	case kt == pkcs11.CKK_RSA:
		size = []uint{pkcs11.CKA_MODULUS}
	case kt == pkcs11.CKK_EC || kt == CKK_EC_EDWARDS:
		size = []uint{pkcs11.CKA_EC_PARAMS}
	}
	switch c {
	case pkcs11.CKO_PRIVATE_KEY:
		return slices.Concat(commonAttrs, keyFlags, size)
	case pkcs11.CKO_PUBLIC_KEY:
		return slices.Concat(commonAttrs, size)
	case pkcs11.CKO_SECRET_KEY:
		return slices.Concat(commonAttrs, keyFlags, []uint{pkcs11.CKA_VALUE_LEN})
	case pkcs11.CKO_CERTIFICATE:
		return slices.Concat(commonAttrs, []uint{pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKA_VALUE})
	}
	return []uint{pkcs11.CKA_LABEL, pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE}
}

// listShapes are the classes and key types ListObjects searches for, so
// that it knows each found object's class (and key type) before reading
// it, and reads it in one call. Objects of other shapes are read in a few
// calls more.
var listShapes = []struct{ class, keyType uint }{
	{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_RSA},
	{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_EC},
	{pkcs11.CKO_PUBLIC_KEY, pkcs11.CKK_RSA},
	{pkcs11.CKO_PUBLIC_KEY, pkcs11.CKK_EC},
	{pkcs11.CKO_SECRET_KEY, NoKeyType},
	{pkcs11.CKO_CERTIFICATE, NoKeyType},
}

// knownShape is what a search said about an object.
type knownShape struct {
	class, keyType uint // keyType NoKeyType: not known
}

// ListObjects lists the objects the session can see that pass f: public
// objects only before login, private ones too after it. The list is sorted
// by label, class and id, and each object's URI names exactly it.
//
// Calls: one search for all objects (or one per class f names), one per
// common class and key type (RSA and EC private and public keys, secret
// keys, certificates), then one C_GetAttributeValue per object of those
// shapes, with exactly the attributes its class and key type have. A
// network HSM charges a round trip per call, so searching a few more
// times beats reading each object twice. Objects of other shapes (data
// objects, other key types) take two or three calls.
func (s *Session) ListObjects(f ObjectFilter) ([]ObjectInfo, error) {
	var handles []pkcs11.ObjectHandle
	known := map[pkcs11.ObjectHandle]knownShape{}
	if len(f.Classes) == 0 {
		hs, err := s.Find(nil)
		if err != nil {
			return nil, err
		}
		handles = hs
	} else {
		for _, c := range f.Classes {
			hs, err := s.Find([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, c)})
			if err != nil {
				return nil, err
			}
			for _, h := range hs {
				handles = append(handles, h)
				known[h] = knownShape{c, NoKeyType}
			}
		}
	}
	if len(handles) == 0 {
		return nil, nil
	}
	for _, sh := range listShapes {
		if len(f.Classes) > 0 && !containsUint(f.Classes, sh.class) {
			continue
		}
		if len(f.KeyTypes) > 0 && sh.keyType != NoKeyType && !containsUint(f.KeyTypes, sh.keyType) {
			continue
		}
		if len(f.Classes) > 0 && sh.keyType == NoKeyType {
			continue // the class search said it already
		}
		if len(f.KeyTypes) > 0 && !isKeyClass(sh.class) {
			continue
		}
		t := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, sh.class)}
		if sh.keyType != NoKeyType {
			t = append(t, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, sh.keyType))
		}
		hs, err := s.Find(t)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			known[h] = knownShape{sh.class, sh.keyType}
		}
	}
	out := make([]ObjectInfo, 0, len(handles))
	seen := make(map[pkcs11.ObjectHandle]bool, len(handles))
	for _, h := range handles {
		if seen[h] {
			continue
		}
		seen[h] = true
		var ks *knownShape
		if k, ok := known[h]; ok {
			ks = &k
		}
		o, ok, err := s.objectInfo(h, ks, f)
		if err != nil {
			if c, cok := Code(err); cok && c == pkcs11.CKR_OBJECT_HANDLE_INVALID {
				continue // destroyed meanwhile
			}
			return nil, err
		}
		if ok && f.Match(o) {
			out = append(out, o)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Label != b.Label {
			return a.Label < b.Label
		}
		if a.Class != b.Class {
			return classOrder(a.Class) < classOrder(b.Class)
		}
		return a.ID < b.ID
	})
	s.setURIs(out)
	return out, nil
}

func classOrder(c uint) int {
	switch c {
	case pkcs11.CKO_PRIVATE_KEY:
		return 0
	case pkcs11.CKO_SECRET_KEY:
		return 1
	case pkcs11.CKO_PUBLIC_KEY:
		return 2
	case pkcs11.CKO_CERTIFICATE:
		return 3
	}
	return 4 + int(c&0xffff)
}

// objectInfo reads h, of the shape ks when a search said it. ok is false
// when the object cannot pass f (wrong class or key type): its other
// attributes are then not read.
func (s *Session) objectInfo(h pkcs11.ObjectHandle, ks *knownShape, f ObjectFilter) (ObjectInfo, bool, error) {
	o := ObjectInfo{Handle: h, KeyType: NoKeyType}
	switch {
	case ks != nil && ks.keyType != NoKeyType:
		o.Class, o.KeyType = ks.class, ks.keyType
	case ks == nil:
		if g, ok := s.allAttrs(h, []uint{pkcs11.CKA_CLASS, pkcs11.CKA_KEY_TYPE}); ok {
			o.Class, ok = ulong(g[pkcs11.CKA_CLASS])
			if !ok {
				return o, false, nil
			}
			if kt, ok := ulong(g[pkcs11.CKA_KEY_TYPE]); ok && isKeyClass(o.Class) {
				o.KeyType = kt
			}
			break
		}
		g, err := s.attrs(h, pkcs11.CKA_CLASS)
		if err != nil {
			return o, false, err
		}
		c, ok := ulong(g[pkcs11.CKA_CLASS])
		if !ok {
			return o, false, nil
		}
		o.Class = c
		if isKeyClass(c) {
			if g, ok := s.allAttrs(h, []uint{pkcs11.CKA_KEY_TYPE}); ok {
				if kt, ok := ulong(g[pkcs11.CKA_KEY_TYPE]); ok {
					o.KeyType = kt
				}
			}
		}
	case ks.class == pkcs11.CKO_PRIVATE_KEY || ks.class == pkcs11.CKO_PUBLIC_KEY:
		o.Class = ks.class
		if g, ok := s.allAttrs(h, []uint{pkcs11.CKA_KEY_TYPE}); ok {
			if kt, ok := ulong(g[pkcs11.CKA_KEY_TYPE]); ok {
				o.KeyType = kt
			}
		}
	default:
		o.Class = ks.class
	}
	if len(f.Classes) > 0 && !containsUint(f.Classes, o.Class) {
		return o, false, nil
	}
	if len(f.KeyTypes) > 0 && !isKeyClass(o.Class) {
		return o, false, nil
	}
	want := shapeAttrs(o.Class, o.KeyType)
	if o.Class == pkcs11.CKO_SECRET_KEY && o.KeyType == NoKeyType {
		want = append(want, pkcs11.CKA_KEY_TYPE)
	}
	if o.KeyType != NoKeyType && len(f.KeyTypes) > 0 && !containsUint(f.KeyTypes, o.KeyType) {
		return o, false, nil
	}
	got, ok := s.allAttrs(h, want)
	if !ok {
		var err error
		if got, err = s.attrs(h, want...); err != nil {
			return o, false, err
		}
	}
	if kt, ok := ulong(got[pkcs11.CKA_KEY_TYPE]); ok && isKeyClass(o.Class) {
		o.KeyType = kt
	}
	if len(f.KeyTypes) > 0 && (o.KeyType == NoKeyType || !containsUint(f.KeyTypes, o.KeyType)) {
		return o, false, nil
	}
	o.Label = string(got[pkcs11.CKA_LABEL])
	o.ID = hex.EncodeToString(got[pkcs11.CKA_ID])
	o.ClassName = ClassName(o.Class)
	if o.KeyType != NoKeyType {
		o.KeyTypeName = KeyTypeName(o.KeyType)
	}
	o.Token = boolean(got[pkcs11.CKA_TOKEN])
	o.Private = boolean(got[pkcs11.CKA_PRIVATE])
	o.Extractable = boolean(got[pkcs11.CKA_EXTRACTABLE])
	o.Sensitive = boolean(got[pkcs11.CKA_SENSITIVE])
	o.NeverExtractable = boolean(got[pkcs11.CKA_NEVER_EXTRACTABLE])
	o.AlwaysSensitive = boolean(got[pkcs11.CKA_ALWAYS_SENSITIVE])
	if n, ok := ulong(got[pkcs11.CKA_MODULUS_BITS]); ok && n < 1<<20 {
		o.Bits = int(n)
	}
	if m := got[pkcs11.CKA_MODULUS]; len(m) > 0 && o.Bits == 0 {
		o.Bits = new(big.Int).SetBytes(m).BitLen()
	}
	if p := got[pkcs11.CKA_EC_PARAMS]; len(p) > 0 {
		o.Curve, o.Bits = CurveFromParams(p)
	}
	if n, ok := ulong(got[pkcs11.CKA_VALUE_LEN]); ok && n < 1<<20 && o.Class == pkcs11.CKO_SECRET_KEY {
		o.Bits = 8 * int(n)
	}
	if o.Class == pkcs11.CKO_SECRET_KEY && o.KeyType == pkcs11.CKK_DES3 && o.Bits == 0 {
		o.Bits = 192
	}
	if o.Class == pkcs11.CKO_CERTIFICATE {
		ct, ok := ulong(got[pkcs11.CKA_CERTIFICATE_TYPE])
		if der := got[pkcs11.CKA_VALUE]; len(der) > 0 && (!ok || ct == pkcs11.CKC_X_509) {
			sum := sha256.Sum256(der)
			o.CertSHA256 = hex.EncodeToString(sum[:])
			if c, err := x509.ParseCertificate(der); err == nil {
				o.CertSubject = c.Subject.String()
			}
		}
	}
	return o, true, nil
}

func isKeyClass(c uint) bool {
	return c == pkcs11.CKO_PRIVATE_KEY || c == pkcs11.CKO_PUBLIC_KEY || c == pkcs11.CKO_SECRET_KEY
}

// uriTypeOf is the RFC 7512 type= value of a class ("" for others).
func uriTypeOf(c uint) string {
	for name, v := range uriTypes {
		if v == c {
			return name
		}
	}
	return ""
}

// ObjectURI is the URI naming the object: the session's token (label and
// serial), the object's label (when it can be written in a URI), id and
// type, and the module's path.
func (s *Session) ObjectURI(o ObjectInfo) *URI {
	u := TokenEntry{Token: s.Slot.Token}.URI(s.Module.Path)
	if _, err := text("object", []byte(o.Label), 0); err == nil {
		u.Object = o.Label
	}
	if id, err := hex.DecodeString(o.ID); err == nil && len(id) > 0 {
		u.ID = id
	}
	u.Type = uriTypeOf(o.Class)
	return u
}

// setURIs fills each object's URI and Duplicates.
func (s *Session) setURIs(objs []ObjectInfo) {
	count := map[string]int{}
	for i := range objs {
		u := s.ObjectURI(objs[i])
		objs[i].URI = u.String()
		count[objs[i].URI]++
	}
	for i := range objs {
		objs[i].Duplicates = count[objs[i].URI] - 1
	}
}

// OpenReadOnlySession opens a read-only session on the token in slot: for
// listing and reading, and on tokens that refuse read-write sessions
// (CKF_WRITE_PROTECTED). A user may log in on it; session objects cannot
// be made on it.
func (m *Module) OpenReadOnlySession(slot Slot) (*Session, error) {
	h, err := m.p.OpenSession(slot.ID, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, wrapErr("C_OpenSession", fmt.Sprintf("token %q", slot.Token.Label), err)
	}
	return &Session{Module: m, Slot: slot, h: h, p: m.p}, nil
}

// TokenWait says which token WaitForToken waits for.
type TokenWait struct {
	// Filter: every non-empty field must match exactly (label,
	// manufacturer, model, serial).
	Filter TokenFilter
	// ExceptSerials: tokens with one of these serials do not count (the
	// cards of custodians already done).
	ExceptSerials []string
	// New: only a token that was not present when the wait began counts
	// (a card inserted now, not one left in the reader).
	New bool
	// Uninitialized: count tokens not yet initialised too (blank cards to
	// initialise); by default only initialised tokens count.
	Uninitialized bool
	// Rescan finalises and initialises the module again before each poll
	// (C_Finalize, C_Initialize), for modules that read their tokens only
	// at C_Initialize: SoftHSM does not see a token another process
	// initialises (or removes) until then. It ends every session open on
	// the module, so WaitForToken refuses it when the module is in use
	// elsewhere in the process (loaded more than once) or was initialised
	// by someone else.
	Rescan bool
}

func (w TokenWait) match(t TokenEntry, before map[string]bool) bool {
	if !t.Present || (!t.Initialized && !w.Uninitialized) || !w.Filter.match(t.Token) {
		return false
	}
	for _, s := range w.ExceptSerials {
		if s == t.Token.Serial {
			return false
		}
	}
	return !w.New || !before[tokenKey(t)]
}

func tokenKey(t TokenEntry) string {
	return fmt.Sprintf("%d\x00%s\x00%s\x00%s", t.SlotID, t.Token.Label, t.Token.Serial, t.Token.Manufacturer)
}

// WaitForToken waits until a token that w accepts is present in m, and
// returns it. It polls (C_GetSlotList and C_GetTokenInfo) every interval
// (a second when interval <= 0), because C_WaitForSlotEvent is missing
// from many modules (SoftHSM returns CKR_FUNCTION_NOT_SUPPORTED) and
// blocks uncancellably in others. It returns ctx's error when ctx ends
// first. When several tokens qualify at once, the lowest slot wins.
//
// A module sees what its C_Initialize saw and what changes through it: a
// card reader reports insertions, but SoftHSM does not see a token
// initialised by another process until it is initialised again (set
// w.Rescan).
func WaitForToken(ctx context.Context, m *Module, w TokenWait, interval time.Duration) (TokenEntry, error) {
	if interval <= 0 {
		interval = time.Second
	}
	before := map[string]bool{}
	if w.New {
		ts, err := m.Tokens()
		if err != nil {
			return TokenEntry{}, err
		}
		for _, t := range ts {
			if t.Present {
				before[tokenKey(t)] = true
			}
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for first := true; ; first = false {
		if w.Rescan && !first {
			if err := m.reinitialize(); err != nil {
				return TokenEntry{}, err
			}
		}
		ts, err := m.Tokens()
		if err != nil && !transientSlotErr(err) {
			return TokenEntry{}, err
		}
		for _, t := range ts {
			if w.match(t, before) {
				return t, nil
			}
		}
		if w.New {
			// A token removed and inserted again counts as new.
			present := map[string]bool{}
			for _, t := range ts {
				if t.Present {
					present[tokenKey(t)] = true
				}
			}
			for k := range before {
				if !present[k] {
					delete(before, k)
				}
			}
		}
		select {
		case <-ctx.Done():
			return TokenEntry{}, fmt.Errorf("hsm: waiting for a token (%s) in %s: %w", w.Filter, m.Path, ctx.Err())
		case <-tick.C:
		}
	}
}

// reinitialize finalises and initialises the module again (TokenWait.Rescan).
func (m *Module) reinitialize() error {
	modMu.Lock()
	defer modMu.Unlock()
	switch {
	case m.refs > 1:
		return fmt.Errorf("hsm: cannot rescan module %s for tokens: it is loaded %d times in this process, and rescanning would end the others' sessions", m.Path, m.refs)
	case !m.finalize:
		return fmt.Errorf("hsm: cannot rescan module %s for tokens: another user of the library initialised it", m.Path)
	}
	if err := m.p.Finalize(); err != nil {
		return fmt.Errorf("hsm: rescanning module %s for tokens: %w", m.Path, wrapErr("C_Finalize", "", err))
	}
	if err := m.p.Initialize(); err != nil {
		m.finalize = false // nothing left to finalise
		return fmt.Errorf("hsm: rescanning module %s for tokens: %w", m.Path, wrapErr("C_Initialize", "", err))
	}
	return nil
}

// transientSlotErr: errors a card reader gives while a card is being
// inserted or removed; the next poll looks again.
func transientSlotErr(err error) bool {
	c, ok := Code(err)
	return ok && (c == pkcs11.CKR_DEVICE_REMOVED || c == pkcs11.CKR_TOKEN_NOT_PRESENT || c == pkcs11.CKR_DEVICE_ERROR ||
		c == pkcs11.CKR_TOKEN_NOT_RECOGNIZED || c == pkcs11.CKR_SLOT_ID_INVALID)
}

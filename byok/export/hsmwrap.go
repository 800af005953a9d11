package export

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"github.com/keyrite/keyrite/byok"
	"io"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/buildinfo"
	"github.com/miekg/pkcs11"
)

// Exporting a target key from a PKCS#11 HSM
//
// The HSM wraps the key itself; the plaintext never leaves it. Two paths
// give the same ciphertext (docs/specs/byok.md):
//
//   - single mechanism: C_WrapKey with CKM_RSA_AES_KEY_WRAP (0x1054),
//     CK_RSA_AES_KEY_WRAP_PARAMS{256, OAEP SHA-1/MGF1-SHA-1/empty label}, the
//     KEK imported as a session public-key object; chosen when
//     C_GetMechanismInfo lists CKF_WRAP for it;
//   - two steps otherwise: an ephemeral session AES-256 key (CKA_TOKEN false,
//     CKA_EXTRACTABLE true, CKA_WRAP true) wraps the target with the padded
//     key wrap mechanism (CKM_AES_KEY_WRAP_PAD 0x210A by default; PKCS#11 3.0
//     tokens may need CKM_AES_KEY_WRAP_KWP 0x210B), CKM_RSA_PKCS_OAEP SHA-1
//     wraps the AES key under the KEK, the parts are concatenated RSA || KWP,
//     and the AES key is destroyed whatever happens.
//
// Before a key of a given type is exported, a pre-flight check (preflight.go)
// proves that this HSM, on this path, produces exactly the canonical
// plaintext for that type.

// Wrap path names, as recorded in transcripts.
const (
	MechanismSingle  = "CKM_RSA_AES_KEY_WRAP"
	mechanismTwoStep = "%s+CKM_RSA_PKCS_OAEP"
)

// ErrHSMTarget: the HSM object cannot be exported as a BYOK target (wrong
// class, unsupported type or size, not extractable, wrap-with-trusted).
var ErrHSMTarget = errors.New("byok: HSM key cannot be exported")

// HSMOptions configure an HSMExporter.
type HSMOptions struct {
	// KWPMechanism is the padded AES key wrap mechanism for the two-step
	// path; 0 means CKM_AES_KEY_WRAP_PAD (0x210A).
	KWPMechanism uint
	// TwoStep forces the two-step path even when the token offers
	// CKM_RSA_AES_KEY_WRAP.
	TwoStep bool
	// Rehearsal lets an export proceed when the pre-flight check finds a
	// non-canonical plaintext; the finding is returned as a deviation.
	Rehearsal bool
	// Rand is the randomness for the throwaway pre-flight keys; nil means
	// crypto/rand. It must be safe for concurrent use: the throwaway KEK
	// is generated on another goroutine.
	Rand io.Reader
}

// WrapPath is the wrap path chosen for a token.
type WrapPath struct {
	Single    bool   // CKM_RSA_AES_KEY_WRAP
	KWP       uint   // the padded key wrap mechanism of the two-step path
	Mechanism string // "CKM_RSA_AES_KEY_WRAP" or "CKM_AES_KEY_WRAP_PAD+CKM_RSA_PKCS_OAEP"
}

// HSMExporter exports keys from one logged-in session under one KEK. It
// imports the KEK once as a session object, chooses the wrap path once, and
// runs the pre-flight check once per target type. Close destroys the KEK
// object. It is not safe for concurrent use.
type HSMExporter struct {
	s    *hsm.Session
	kek  *byok.KEK
	opts HSMOptions
	path *WrapPath

	kekHandle pkcs11.ObjectHandle
	haveKEK   bool
	preflight map[string]*Preflight
	pf        *preflightKEK
	pfKey     chan generatedKEK // the throwaway byok.KEK, generated in the background
}

// HSMExport is one exported key.
type HSMExport struct {
	Object     *hsm.Object
	Target     byok.TargetInfo // type and size read from the HSM object
	Ciphertext []byte
	Mechanism  string // the wrap path that ran
	Preflight  *Preflight
	Deviations []string // non-empty only in rehearsals
}

// NewHSMExporter prepares exports from s (logged in) under kek. It starts
// generating the pre-flight's throwaway KEK in the background, so create it
// before finding the keys to export.
func NewHSMExporter(s *hsm.Session, kek *byok.KEK, opts HSMOptions) (*HSMExporter, error) {
	if s == nil || kek == nil || kek.Public == nil {
		return nil, fmt.Errorf("byok: an HSM session and a byok.KEK are needed")
	}
	if opts.KWPMechanism == 0 {
		opts.KWPMechanism = pkcs11.CKM_AES_KEY_WRAP_PAD
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	e := &HSMExporter{s: s, kek: kek, opts: opts, preflight: map[string]*Preflight{}, pfKey: make(chan generatedKEK, 1)}
	// The throwaway KEK takes tens of milliseconds to generate: start now,
	// on another core, while the caller finds and checks its keys.
	go func() {
		priv, err := rsa.GenerateKey(opts.Rand, 2048)
		e.pfKey <- generatedKEK{priv, err}
	}()
	return e, nil
}

// Close destroys the session objects the exporter made.
func (e *HSMExporter) Close() error {
	var err error
	if e.haveKEK {
		err = e.s.Destroy(e.kekHandle)
		e.haveKEK = false
	}
	if e.pf != nil && e.pf.haveHandle {
		if err2 := e.s.Destroy(e.pf.handle); err == nil {
			err = err2
		}
		e.pf.haveHandle = false
	}
	return err
}

// Generator is the .byok generator field for keys from this exporter's
// token: "<tool and version>; <manufacturer model, firmware X>".
func (e *HSMExporter) Generator() string {
	return buildinfo.Generator() + "; " + e.s.Token().Describe()
}

// Path chooses (once) and returns the wrap path: the single mechanism when
// the token lists CKF_WRAP for CKM_RSA_AES_KEY_WRAP and TwoStep is not set,
// otherwise the two-step path, which needs CKF_WRAP for the KWP mechanism and
// for CKM_RSA_PKCS_OAEP.
func (e *HSMExporter) Path() (*WrapPath, error) {
	if e.path != nil {
		return e.path, nil
	}
	if !e.opts.TwoStep {
		ok, err := e.s.Supports(pkcs11.CKM_RSA_AES_KEY_WRAP, pkcs11.CKF_WRAP)
		if err != nil {
			return nil, err
		}
		if ok {
			e.path = &WrapPath{Single: true, Mechanism: MechanismSingle}
			return e.path, nil
		}
	}
	for _, m := range []uint{e.opts.KWPMechanism, pkcs11.CKM_RSA_PKCS_OAEP} {
		ok, err := e.s.Supports(m, pkcs11.CKF_WRAP)
		if err != nil {
			return nil, err
		}
		if !ok {
			hint := ""
			if m == e.opts.KWPMechanism {
				hint = fmt.Sprintf("; the padded key wrap may have another id on this token: try --kwp-mechanism 0x%X or 0x%X", uint(pkcs11.CKM_AES_KEY_WRAP_PAD), uint(hsm.CKM_AES_KEY_WRAP_KWP))
			}
			return nil, fmt.Errorf("byok: token %q offers neither CKM_RSA_AES_KEY_WRAP nor %s for wrapping (%w)%s",
				e.s.Token().Label, hsm.MechanismName(m), hsm.ErrMechanismInvalid, hint)
		}
	}
	e.path = &WrapPath{KWP: e.opts.KWPMechanism, Mechanism: fmt.Sprintf(mechanismTwoStep, hsm.MechanismName(e.opts.KWPMechanism))}
	return e.path, nil
}

// TargetFromObject says which BYOK target an HSM object is, refusing what
// cannot be exported before anything is wrapped: a class other than private
// or secret key; types and sizes the service refuses; CKA_EXTRACTABLE false;
// CKA_WRAP_WITH_TRUSTED true (keyrite's session KEK cannot be trusted).
// Errors wrap ErrHSMTarget and, where they fit, ErrUnsupported or
// hsm.ErrNotExtractable / hsm.ErrKeyNotWrappable.
func TargetFromObject(o *hsm.Object) (byok.TargetInfo, error) {
	var info byok.TargetInfo
	name := fmt.Sprintf("%q", o.Label)
	switch {
	case o.Class == pkcs11.CKO_PRIVATE_KEY && o.KeyType == pkcs11.CKK_RSA:
		if !byok.SupportedRSABits(o.Bits) {
			return info, fmt.Errorf("%w: %w: %s is RSA-%d; the service imports RSA 2048, 3072 or 4096", ErrHSMTarget, byok.ErrUnsupported, name, o.Bits)
		}
		info = byok.TargetInfo{Type: byok.TypeRSA, Bits: o.Bits}
	case o.Class == pkcs11.CKO_PRIVATE_KEY && o.KeyType == pkcs11.CKK_EC:
		switch o.Curve {
		case "P-256", "P-384", "P-521":
		default:
			c := o.Curve
			if c == "" {
				c = "an unknown curve"
			}
			return info, fmt.Errorf("%w: %w: %s is EC on %s; the service imports P-256, P-384 or P-521", ErrHSMTarget, byok.ErrUnsupported, name, c)
		}
		info = byok.TargetInfo{Type: byok.TypeEC, Bits: o.Bits, Curve: o.Curve}
	case o.Class == pkcs11.CKO_SECRET_KEY && o.KeyType == pkcs11.CKK_AES:
		if !byok.SupportedAESLen(o.ValueLen) {
			return info, fmt.Errorf("%w: %w: %s is AES with a %d-byte value; the service imports AES 128, 192 or 256", ErrHSMTarget, byok.ErrUnsupported, name, o.ValueLen)
		}
		info = byok.TargetInfo{Type: byok.TypeAES, Bits: 8 * o.ValueLen}
	case o.Class == pkcs11.CKO_PRIVATE_KEY || o.Class == pkcs11.CKO_SECRET_KEY:
		return info, fmt.Errorf("%w: %w: %s is a %s %s key; the service imports RSA, EC and AES keys", ErrHSMTarget, byok.ErrUnsupported, name, hsm.KeyTypeName(o.KeyType), hsm.ClassName(o.Class))
	default:
		return info, fmt.Errorf("%w: %s is a %s, not a private or secret key (name the private key: add type=private to the URI)", ErrHSMTarget, name, hsm.ClassName(o.Class))
	}
	info.Canonical = true
	if !o.Extractable {
		return info, fmt.Errorf("%w: %w: %s has CKA_EXTRACTABLE=false; BYOK needs CKA_EXTRACTABLE=true, set when the key was generated (it cannot be turned on later)", ErrHSMTarget, hsm.ErrNotExtractable, name)
	}
	if o.WrapWithTrusted {
		return info, fmt.Errorf("%w: %w: %s has CKA_WRAP_WITH_TRUSTED=true, so only a CKA_TRUSTED key may wrap it, which only the security officer can set; keyrite's byok.KEK is an untrusted session object", ErrHSMTarget, hsm.ErrKeyNotWrappable, name)
	}
	return info, nil
}

// kekObject imports the KEK once.
func (e *HSMExporter) kekObject() (pkcs11.ObjectHandle, error) {
	if e.haveKEK {
		return e.kekHandle, nil
	}
	h, err := e.s.ImportRSAPublicKey(e.kek.Public, "keyrite-kek")
	if err != nil {
		return 0, err
	}
	e.kekHandle, e.haveKEK = h, true
	return h, nil
}

// wrap runs the chosen path: target wrapped under the wrapping key.
func (e *HSMExporter) wrap(path *WrapPath, wrapping, target pkcs11.ObjectHandle, what string) (ct []byte, err error) {
	if path.Single {
		return e.s.WrapKey(hsm.RSAAESKeyWrap256(), wrapping, target, what)
	}
	aes, err := e.s.GenerateSessionAES(256, hsm.SecretKeyOptions{Extractable: true, Wrap: true, Sensitive: true})
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := e.s.Destroy(aes); derr != nil && err == nil {
			ct, err = nil, fmt.Errorf("byok: destroying the ephemeral AES key: %w", derr)
		}
	}()
	kwpPart, err := e.s.WrapKey(pkcs11.NewMechanism(path.KWP, nil), aes, target, what)
	if err != nil {
		return nil, err
	}
	rsaPart, err := e.s.WrapKey(hsm.OAEPSHA1(), wrapping, aes, "the ephemeral AES key")
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(rsaPart)+len(kwpPart))
	return append(append(out, rsaPart...), kwpPart...), nil
}

// Export wraps the key o under the KEK. It refuses keys TargetFromObject
// refuses, runs the pre-flight check for the key's type (once), wraps, and
// checks the ciphertext's length against the KEK size and the target type.
func (e *HSMExporter) Export(o *hsm.Object) (*HSMExport, error) {
	info, err := TargetFromObject(o)
	if err != nil {
		return nil, err
	}
	path, err := e.Path()
	if err != nil {
		return nil, err
	}
	pf, err := e.Preflight(info)
	if err != nil {
		return nil, err
	}
	kh, err := e.kekObject()
	if err != nil {
		return nil, err
	}
	ct, err := e.wrap(path, kh, o.Handle, fmt.Sprintf("%q", o.Label))
	if err != nil {
		return nil, err
	}
	if err := byok.CheckCiphertextLen(e.kek, info, len(ct)); err != nil {
		return nil, err
	}
	x := &HSMExport{Object: o, Target: info, Ciphertext: ct, Mechanism: path.Mechanism, Preflight: pf}
	if !pf.Passed {
		x.Deviations = append(x.Deviations, pf.Deviation())
	}
	return x, nil
}

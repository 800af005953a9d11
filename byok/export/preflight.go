package export

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/keyrite/keyrite/byok"
	"io"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/secret"
	"github.com/miekg/pkcs11"
)

// The pre-flight conformance check
//
// An HSM wraps keys in its own encoding, and the tool cannot see the
// plaintext inside a wrap made under the real KEK. So before exporting a key
// of a given type, the exporter proves on this token, with the same wrap
// path, that the HSM produces exactly the canonical plaintext for that type:
//
//  1. generate in software a throwaway RSA-2048 KEK whose private half only
//     this process holds, and import its public half as a session object;
//  2. make a throwaway extractable session key of the same type on the
//     token: imported from a known value (AES: fresh random bytes; EC: a
//     fresh software key; RSA: a fixed public test key of the same size,
//     preflight_keys.go), or generated on the token if it refuses imports;
//  3. wrap it with the same path, unwrap in software (Unwrap) and check the
//     result with ClassifyPlaintext: it must be the same type and size,
//     exactly canonical, and (for imported keys) exactly the key that went in;
//  4. destroy the throwaway objects.
//
// SoftHSM 2.6.1 fails it for RSA and for P-256/P-521: its
// CKM_AES_KEY_WRAP_PAD zero-pads the key data to a multiple of 8 bytes before
// RFC 5649, so the unwrapped PKCS#8 is followed by 1-7 zero bytes. Whether the
// service accepts that is unknown, so the export is refused unless
// HSMOptions.Rehearsal is set, in which case it proceeds and the finding is
// reported as a deviation for the transcript.

// ErrPreflight: the pre-flight check found that the HSM's wrap of a
// throwaway key of the target's type is not the canonical plaintext.
var ErrPreflight = errors.New("byok: pre-flight check failed")

// Preflight is the result of the pre-flight check for one target type.
type Preflight struct {
	Target    string `json:"target"`    // "RSA-2048", "EC P-256", "AES-256"
	Mechanism string `json:"mechanism"` // the wrap path checked
	// Passed: the plaintext was exactly one DER PKCS#8 key (or the raw AES
	// key), nothing before or after it, the key that went in.
	Passed bool `json:"passed"`
	// Canonical: the plaintext was also byte for byte the encoding
	// x509.MarshalPKCS8PrivateKey gives (ClassifyPlaintext's canonical form).
	Canonical bool `json:"canonical"`
	// TrailingZeros is the number of zero bytes the HSM appended.
	TrailingZeros int `json:"trailing_zeros,omitempty"`
	// Reason says what was wrong when not Passed.
	Reason string `json:"reason,omitempty"`
	// Note describes an accepted difference from the canonical encoding,
	// e.g. an EC key encoded without the optional public key.
	Note string `json:"note,omitempty"`
	// Throwaway says how the throwaway key was made: "imported" or
	// "generated on the token".
	Throwaway string `json:"throwaway"`
	Token     string `json:"token"`
}

// Deviation is the sentence recorded in a transcript when a rehearsal
// proceeds despite a failed check.
func (p *Preflight) Deviation() string {
	return fmt.Sprintf("rehearsal: exported %s keys although the pre-flight check failed on token %q with %s: %s",
		p.Target, p.Token, p.Mechanism, p.Reason)
}

func (p *Preflight) err() error {
	return fmt.Errorf("%w for %s keys on token %q (%s): %s", ErrPreflight, p.Target, p.Token, p.Mechanism, p.Reason)
}

type generatedKEK struct {
	priv *rsa.PrivateKey
	err  error
}

type preflightKEK struct {
	priv       *rsa.PrivateKey
	handle     pkcs11.ObjectHandle
	haveHandle bool
}

// Preflight runs the pre-flight check for targets of type info (once per
// type and exporter) and returns its result. A failed check is an error
// wrapping ErrPreflight unless the exporter is in rehearsal mode, in which
// case the result (Canonical false) is returned without error.
func (e *HSMExporter) Preflight(info byok.TargetInfo) (*Preflight, error) {
	key := info.String()
	p, ok := e.preflight[key]
	if !ok {
		var err error
		p, err = e.runPreflight(info)
		if err != nil {
			return nil, err
		}
		e.preflight[key] = p
	}
	if !p.Passed && !e.opts.Rehearsal {
		return p, p.err()
	}
	return p, nil
}

func (e *HSMExporter) preflightKEK() (*preflightKEK, error) {
	if e.pf != nil && e.pf.haveHandle {
		return e.pf, nil
	}
	if e.pf == nil {
		r := <-e.pfKey // generated in the background since NewHSMExporter
		e.pfKey <- r   // keep it for a later call after a failed import
		if r.err != nil {
			return nil, fmt.Errorf("byok: pre-flight: generating the throwaway KEK: %w", r.err)
		}
		e.pf = &preflightKEK{priv: r.priv}
	}
	h, err := e.s.ImportRSAPublicKey(&e.pf.priv.PublicKey, "keyrite-preflight-kek")
	if err != nil {
		return nil, fmt.Errorf("byok: pre-flight: %w", err)
	}
	e.pf.handle, e.pf.haveHandle = h, true
	return e.pf, nil
}

func (e *HSMExporter) runPreflight(info byok.TargetInfo) (res *Preflight, err error) {
	path, err := e.Path()
	if err != nil {
		return nil, err
	}
	kek, err := e.preflightKEK()
	if err != nil {
		return nil, err
	}
	handles, key, how, err := e.throwaway(info)
	if err != nil {
		return nil, fmt.Errorf("byok: pre-flight: making a throwaway %s key on token %q: %w", info, e.s.Token().Label, err)
	}
	if b, ok := key.([]byte); ok {
		defer secret.Wipe(b)
	}
	defer func() {
		for _, h := range handles {
			if derr := e.s.Destroy(h); derr != nil && err == nil {
				res, err = nil, fmt.Errorf("byok: pre-flight: destroying the throwaway key: %w", derr)
			}
		}
	}()
	ct, err := e.wrap(path, kek.handle, handles[0], "the pre-flight "+info.String()+" key")
	if err != nil {
		return nil, fmt.Errorf("byok: pre-flight: %w", err)
	}
	pt, err := byok.Unwrap(kek.priv, ct)
	if err != nil {
		return nil, fmt.Errorf("byok: pre-flight: the HSM's %s wrap does not unwrap as RSA-OAEP-SHA1 || RFC 5649: %w", path.Mechanism, err)
	}
	defer secret.Wipe(pt)
	p := &Preflight{Target: info.String(), Mechanism: path.Mechanism, Throwaway: how, Token: e.s.Token().Label}
	p.Passed, p.Canonical, p.TrailingZeros, p.Reason, p.Note = judgePlaintext(pt, info, key)
	return p, nil
}

// judgePlaintext decides the pre-flight on the HSM's plaintext pt of a
// throwaway key of type info (key: the key that went in, nil if generated on
// the token). It passes when pt is exactly the key: the raw AES key, or one
// DER PKCS#8 structure with nothing after it (encoding/asn1 and
// x509.ParsePKCS8PrivateKey refuse non-minimal DER and trailing data) that
// holds the same key. A pass with a non-canonical encoding, such as an EC key
// without the optional public key in its RFC 5915 structure (SoftHSM writes
// those), is noted; trailing zero bytes fail.
func judgePlaintext(pt []byte, info byok.TargetInfo, key any) (passed, canonical bool, zeros int, reason, note string) {
	got, err := byok.ClassifyPlaintext(pt)
	if err != nil {
		return false, false, 0, fmt.Sprintf("the HSM's wrapped plaintext of a throwaway %s key is not a key the service accepts: %v", info, err), ""
	}
	if got.Type != info.Type || got.Bits != info.Bits || got.Curve != info.Curve {
		return false, false, 0, fmt.Sprintf("the HSM's wrapped plaintext of a throwaway %s key reads as %s", info, got), ""
	}
	if got.TrailingZeros > 0 {
		return false, false, got.TrailingZeros, fmt.Sprintf("the HSM's padded key wrap appended %d zero bytes to the key data; Azure may reject or mis-import it", got.TrailingZeros), ""
	}
	if info.Type == byok.TypeAES {
		if b, ok := key.([]byte); ok && !bytes.Equal(pt, b) {
			return false, false, 0, "the HSM's wrapped plaintext is an AES key, but not the throwaway key that was imported", ""
		}
		return true, true, 0, "", ""
	}
	parsed, err := x509.ParsePKCS8PrivateKey(pt)
	if err != nil {
		return false, false, 0, "the HSM's wrapped plaintext is not exactly one DER PKCS#8 private key: " + got.Reason, ""
	}
	if key != nil {
		same := false
		switch k := key.(type) {
		case *rsa.PrivateKey:
			same = k.Equal(parsed)
		case *ecdsa.PrivateKey:
			same = k.Equal(parsed)
		}
		if !same {
			return false, false, 0, "the HSM's wrapped plaintext is a valid key, but not the throwaway key that was imported", ""
		}
	}
	if !got.Canonical {
		note = fmt.Sprintf("the HSM encodes %s keys differently from keyrite's canonical form, validly: %s", info, got.Reason)
		if info.Type == byok.TypeEC {
			note += " (an RFC 5915 ECPrivateKey without the optional parameters or public key)"
		}
	}
	return true, got.Canonical, 0, "", note
}

// throwaway makes an extractable session key of type info; handles[0] is
// the key to wrap (others are to be destroyed too); key is the key that went
// in ([]byte, *rsa.PrivateKey or *ecdsa.PrivateKey), nil if generated on the
// token.
func (e *HSMExporter) throwaway(info byok.TargetInfo) (handles []pkcs11.ObjectHandle, key any, how string, err error) {
	const label = "keyrite-preflight"
	switch info.Type {
	case byok.TypeAES:
		v := make([]byte, info.Bits/8)
		if _, err := io.ReadFull(e.opts.Rand, v); err != nil {
			return nil, nil, "", err
		}
		opts := hsm.SecretKeyOptions{Label: label, Extractable: true, Sensitive: true}
		h, err := e.s.ImportSessionAES(v, opts)
		if err == nil {
			return []pkcs11.ObjectHandle{h}, v, "imported", nil
		}
		secret.Wipe(v)
		h, err2 := e.s.GenerateSessionAES(info.Bits, opts)
		if err2 != nil {
			return nil, nil, "", fmt.Errorf("%w (import refused: %v)", err2, err)
		}
		return []pkcs11.ObjectHandle{h}, nil, "generated on the token", nil
	case byok.TypeEC:
		var c elliptic.Curve
		switch info.Curve {
		case "P-256":
			c = elliptic.P256()
		case "P-384":
			c = elliptic.P384()
		case "P-521":
			c = elliptic.P521()
		default:
			return nil, nil, "", fmt.Errorf("unsupported curve %q", info.Curve)
		}
		k, err := ecdsa.GenerateKey(c, e.opts.Rand)
		if err != nil {
			return nil, nil, "", err
		}
		return e.importOrGenerate(k, info)
	case byok.TypeRSA:
		block, _ := pem.Decode([]byte(preflightRSAPEM[info.Bits]))
		if block == nil {
			return nil, nil, "", fmt.Errorf("no throwaway RSA-%d key", info.Bits)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, nil, "", err
		}
		return e.importOrGenerate(k, info)
	}
	return nil, nil, "", fmt.Errorf("unsupported type %s", info)
}

func (e *HSMExporter) importOrGenerate(k any, info byok.TargetInfo) ([]pkcs11.ObjectHandle, any, string, error) {
	h, ierr := e.s.ImportSessionPrivateKey(k, "keyrite-preflight")
	if ierr == nil {
		return []pkcs11.ObjectHandle{h}, k, "imported", nil
	}
	pub, priv, err := e.generatePair(info)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w (import refused: %v)", err, ierr)
	}
	return []pkcs11.ObjectHandle{priv, pub}, nil, "generated on the token", nil
}

// generatePair generates a throwaway session key pair on the token, for
// HSMs that refuse plaintext private-key import.
func (e *HSMExporter) generatePair(info byok.TargetInfo) (pub, priv pkcs11.ObjectHandle, err error) {
	pubT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
	}
	privT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "keyrite-preflight"),
	}
	var mech uint
	switch info.Type {
	case byok.TypeRSA:
		mech = pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN
		pubT = append(pubT, pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, info.Bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
	case byok.TypeEC:
		mech = pkcs11.CKM_EC_KEY_PAIR_GEN
		params, err := hsm.ECParamsFor(info.Curve)
		if err != nil {
			return 0, 0, err
		}
		pubT = append(pubT, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params))
	default:
		return 0, 0, fmt.Errorf("no key pair for %s", info)
	}
	pub, priv, err = e.s.P11().GenerateKeyPair(e.s.Handle(), []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pubT, privT)
	if err != nil {
		return 0, 0, hsm.WrapError("C_GenerateKeyPair", "throwaway "+info.String(), err)
	}
	return pub, priv, nil
}

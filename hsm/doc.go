// Package hsm is keyrite's thin, careful layer over PKCS#11 (Cryptoki), built
// on github.com/miekg/pkcs11. It loads a vendor module, finds a token by
// label, logs in with a PIN, finds exactly one object, reads its public
// attributes, and runs the few operations keyrite needs. Every CKR_ code is
// turned into an *Error that says what a person can do about it.
//
// The PKCS#11 facts this package relies on (SoftHSM quirks, error codes seen,
// mechanism ids) are in docs/specs/byok.md.
//
// # Using it
//
//	u, err := hsm.ParseURI("pkcs11:token=vendor;object=app-key?module-path=/usr/lib/softhsm/libsofthsm2.so")
//	m, err := hsm.Load(u.ModulePath)          // error wraps ErrModuleLoad on a bad path
//	defer m.Close()
//	slot, err := m.FindToken(u.TokenFilter()) // by label, never by slot id
//	s, err := m.OpenSession(slot)             // read-write serial session
//	defer s.Close()
//	o := hsm.LoginOptions{Warn: warn}         // FinalTry / ConfirmFinalTry for the last try
//	_, err = s.CheckPIN(o)                    // before asking: a locked PIN is refused here
//	err = s.LoginWith(pin, o)                 // pin []byte from internal/base/secret; wiped
//	obj, err := s.FindURI(u)                  // exactly one object, or an error listing matches
//	// obj.Class, obj.KeyType, obj.Bits, obj.Curve, obj.Extractable, ...
//
// Token information for transcripts and the .byok generator field is
// s.Token() (a TokenInfo: label, manufacturer, model, serial, firmware) and
// m.Path, m.SHA256, m.Library.
//
// # API summary
//
// Module (one per library path and process, reference counted):
// Load, LoadWith (tests: a fake or decorator), Close, Slots, FindToken
// (TokenFilter: label, manufacturer, model, serial), OpenSession, P11;
// fields Path, SHA256 (of the library file) and Library (C_GetInfo).
//
// Session: Login, LoginWith, LoginSO (PIN []byte, wiped; the token's PIN
// counter respected, see below), CheckPIN, PINStatus, Logout, Close, Token (the
// TokenInfo: label, manufacturer, model, serial, firmware; Describe gives
// "manufacturer model, firmware X" for the .byok generator field), Find,
// FindOne, FindURI, FindAll (many URIs in one pass over the token's objects:
// use it for batches, a token search costs time per object), Object (read a
// handle's public attributes into an *Object), MechanismInfo, Supports,
// Destroy. Key helpers: ImportRSAPublicKey (a session KEK object with
// CKA_WRAP), GenerateSessionAES, ImportSessionAES, ImportSessionPrivateKey
// (throwaway session keys), WrapKey; mechanisms OAEPSHA1, RSAAESKeyWrap256.
// Other areas' helpers live in their own files on the same Session:
// rsadecrypt.go (RSAPrivateKey: DecryptOAEPSHA256, DecryptRaw), keygen.go
// (GenerateRSAKeyPair), cert.go (Certificate, FindCertificate,
// StoreCertificate), sign.go (ECDSASigner, OpenSigner, OpenSignerWith), pubkey.go
// (PublicKeyOf: the public half of a token private key, for records), kcv.go
// (AESCheckBlock for key check values; ErrEncryptNotAllowed). For calls without a
// helper use s.P11() with s.Handle() and wrap failures with WrapError(op,
// context, err), so that they carry the same advice and sentinels.
//
// Object: Class, KeyType, Label, ID, Bits, Curve, ValueLen, Modulus,
// PublicExponent, ECParams, Extractable, Sensitive, NeverExtractable,
// AlwaysSensitive, WrapWithTrusted, Wrap, Token, Private; Summary and
// TypeString for messages. Names: ClassName, KeyTypeName, MechanismName;
// curves: CurveFromParams, ECParamsFor.
//
// URI: ParseURI, IsURI, String, Redacted, TokenFilter, ObjectTemplate,
// ObjectDescription, PINFile; RedactPIN for echoing a refused URI (RFC 7512,
// strict; the validation rules are on the URI type).
//
// Errors: *Error (Op, Code, Context) for failed calls, matching the sentinels
// ErrNotExtractable, ErrPINIncorrect, ErrPINLocked, ErrMechanismInvalid,
// ErrKeyFunctionNotPermitted, ErrKeyNotWrappable, ErrTokenNotRecognized,
// ErrGeneral, ErrNotLoggedIn through errors.Is; *PINError for logins refused
// or failed, matching ErrPINLocked, ErrPINFinalTry and (after a wrong PIN)
// ErrPINIncorrect; and ErrModuleLoad,
// ErrTokenNotFound, ErrObjectNotFound, ErrAmbiguous, ErrURI from this
// package's own checks (token and object errors list what exists). Code(err)
// extracts a CKR_ value, CodeName names it.
//
// # The PIN counter
//
// A token counts wrong PINs and locks the PIN after a few; only its
// security officer can unlock it. Before every C_Login this package reads
// the token's flags again (C_GetTokenInfo, [PINStatus]): a locked PIN
// (CKF_USER_PIN_LOCKED) is refused without trying it; on the final try
// (CKF_USER_PIN_FINAL_TRY) the PIN is tried only when the caller confirmed
// it ([LoginOptions].FinalTry, or a yes from ConfirmFinalTry), else
// refused ([ErrPINFinalTry]); a low count (CKF_USER_PIN_COUNT_LOW: a wrong
// PIN was entered since the last good login) and a PIN to be changed are
// passed to [LoginOptions].Warn first. Call [Session.CheckPIN] before
// asking anyone for the PIN, so that nobody types a PIN that will not be
// tried. After a wrong PIN the flags are read again and the [*PINError]
// says what the token now reports (fewer tries, the final try, locked);
// errors.Is matches ErrPINIncorrect, and ErrPINFinalTry or ErrPINLocked as
// the flags say. Tokens that keep no counter set none of these flags.
// SoftHSM sets COUNT_LOW after a wrong PIN and never locks.
//
// # Testing
//
// All PKCS#11 calls go through the PKCS11 interface, which *pkcs11.Ctx
// satisfies. Unit tests substitute an in-memory stub or a decorator of a
// real module (hsm/hsmfake: injected failures, recorded mechanisms, counted
// logins, PIN-counter flags, an emulated CKM_RSA_AES_KEY_WRAP); real behaviour is tested on SoftHSM2
// tokens made per test by hsm/softhsmtest. FuzzParseURI fuzzes the URI
// parser (its seeds run with the normal tests).
//
// # Secrets
//
// PINs are taken as []byte and cleared after C_Login, as a best effort: the
// binding copies the PIN into C memory for the call and frees it without
// clearing it, and Go may have copied the buffer earlier. This package never
// reads CKA_VALUE or private key components.
package hsm

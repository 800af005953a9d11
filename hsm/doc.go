// Package hsm is keyrite's thin, careful layer over PKCS#11 (Cryptoki), built
// on github.com/miekg/pkcs11. It loads a vendor module, finds a token by
// label, logs in with a PIN, finds exactly one object, reads its public
// attributes, and runs the few operations keyrite needs. Every CKR_ code is
// turned into an *Error that says what a person can do about it.
//
// The PKCS#11 facts this package relies on (SoftHSM quirks, error codes seen,
// mechanism ids) are in the project's specs/byok.md.
//
// # Using it
//
//	u, err := hsm.ParseURI("pkcs11:token=vendor;object=app-key?module-path=/usr/lib/softhsm/libsofthsm2.so")
//	m, err := hsm.Load(u.ModulePath)          // error wraps ErrModuleLoad on a bad path
//	defer m.Close()
//	slot, err := m.FindToken(u.TokenFilter()) // by label, never by slot id
//	s, err := m.OpenSession(slot)             // read-write serial session
//	defer s.Close()
//	err = s.Login(pin)                        // pin []byte from internal/secret; wiped
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
// Load, LoadWith (tests), Close, Slots, FindToken, OpenSession, P11.
//
// Session: Login, LoginSO, Logout, Close, Find, FindOne, FindURI, Object
// (describe a handle), MechanismInfo, Supports, Destroy; key helpers
// ImportRSAPublicKey (session KEK object with CKA_WRAP), GenerateSessionAES,
// ImportSessionAES, ImportSessionPrivateKey (throwaway session keys), WrapKey;
// mechanisms OAEPSHA1 and RSAAESKeyWrap256. For calls without a helper (e.g.
// C_Decrypt, C_Sign, C_GenerateKeyPair) use s.P11() with s.Handle() and wrap
// failures with WrapError(op, context, err), so that they carry the same
// advice and sentinels. New helpers for other areas go in their own files in
// this package (decrypt.go, sign.go, keygen.go), built on the same Session.
//
// URI: ParseURI, IsURI, String, TokenFilter, ObjectTemplate, PINFile
// (RFC 7512, strict; the validation rules are on the URI type).
//
// Errors: *Error (Op, Code, Context) for failed calls, matching the sentinels
// ErrNotExtractable, ErrPINIncorrect, ErrPINLocked, ErrMechanismInvalid,
// ErrKeyFunctionNotPermitted, ErrKeyNotWrappable, ErrTokenNotRecognized,
// ErrGeneral, ErrNotLoggedIn through errors.Is; and ErrModuleLoad,
// ErrTokenNotFound, ErrObjectNotFound, ErrAmbiguous, ErrURI from this
// package's own checks. Code(err) extracts a CKR_ value, CodeName names it.
//
// # Testing
//
// All PKCS#11 calls go through the PKCS11 interface, which *pkcs11.Ctx
// satisfies. Unit tests substitute a fake or a decorator (hsm/hsmfake); real
// behaviour is tested on SoftHSM2 tokens made per test by hsm/softhsmtest.
//
// # Secrets
//
// PINs are taken as []byte and cleared after C_Login, as a best effort: the
// binding copies the PIN into C memory for the call and frees it without
// clearing it, and Go may have copied the buffer earlier. This package never
// reads CKA_VALUE or private key components.
package hsm

// Package custodian loads security-domain custodians' wrapping keys, from PEM
// files or from smartcards and PKCS#11 tokens, as [securitydomain.Custodian]
// values that [securitydomain.Restore] and [securitydomain.Verify] use.
//
// It is a package of its own, not part of package securitydomain, so that
// the formats and cryptography there stay free of PKCS#11 (and cgo); this
// package joins them with package hsm (docs/specs/security-domain.md §14).
//
// # Key sources
//
// A key source is a string, as the az CLI and `keyrite sd restore
// --wrapping-key` take it:
//
//   - KEY.pem: an RSA private key in PEM (PKCS#1 or PKCS#8, possibly
//     encrypted; see [securitydomain.ParsePrivateKeyPEM]); its certificate
//     is beside it under the same name with ".cer" (the az CLI convention,
//     [securitydomain.CertPathFor]: wrap_0.pem -> wrap_0.cer), PEM or DER.
//   - KEY.pem:CERT.cer: the same with the certificate named; the string is
//     split at its last ':'.
//   - pkcs11:token=...;object=...?module-path=... (RFC 7512, see
//     [hsm.ParseURI]): a private key on a token, which must name the key
//     (object= or id=; type= may only be "private") and the module. The
//     certificate is read from the token: the certificate with the key's
//     label (or id= when given), else the one with the private key's CKA_ID.
//
// Files are limited to 1 MiB; a directory, an empty path or a missing file
// is refused.
//
// # Secrets
//
// Passwords and PINs come from the callbacks in [Options], asked only when
// needed: a password when an encrypted key is first used, a token's PIN when
// one of its keys is first used (or when its certificate can only be found
// through the private key). Each token is logged in once, whatever number of
// keys it holds. A URI's pin-source=file:PATH is read instead of asking.
// The loader never keeps a password or PIN: each is cleared as soon as it
// was used, as a best effort (Go cannot promise there is no other copy; the
// PKCS#11 binding makes a C copy it frees without clearing).
//
// [Loader.Load] defers every secret to first use, so that a restore asks
// only the custodians whose shares it opens. [Loader.Open] asks at once and
// finds the private key, so that a guided ceremony can open one custodian's
// share while the card is present and then [Loader.Close] the session.
//
// # Errors
//
// Errors are prefixed "custodian: " and match, with errors.Is, the sentinel
// for what went wrong ([ErrSource], [ErrKeyFile], [ErrCertificate],
// [ErrNoSecret], [ErrKey], [ErrKeyNotFound], [ErrMismatch], [ErrModule],
// [ErrToken], [ErrSession], [ErrLogin]) and the error beneath (an hsm
// sentinel such as [hsm.ErrPINLocked], [securitydomain.ErrPassword], or the
// callback's own error). They name the file, URI (redacted) or token at
// fault, never a secret. Errors of a decryption itself, once the key is
// open, are the key's own (package hsm or securitydomain), unchanged.
package custodian

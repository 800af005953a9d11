package byok

import "errors"

// Sentinel errors, for callers that need to tell failures apart with
// errors.Is. Every error this package returns wraps one of them and says
// precisely what was expected and what was found.
var (
	// ErrKEK: the KEK file or key is malformed or not acceptable.
	ErrKEK = errors.New("byok: invalid KEK")
	// ErrKEKOps: the KEK's key_ops are not exactly ["import"] (or missing).
	// Always wrapped together with ErrKEK.
	ErrKEKOps = errors.New("byok: KEK key_ops are not [\"import\"]")
	// ErrKEKType: a well-formed key that is no KEK the service makes: not
	// RSA, or not 2048, 3072 or 4096 bits. Always wrapped together with
	// ErrKEK.
	ErrKEKType = errors.New("byok: not an RSA 2048/3072/4096 KEK")
	// ErrKid: the key identifier is malformed or not an acceptable key URL.
	ErrKid = errors.New("byok: invalid kid")
	// ErrKidMismatch: two sources of the kid disagree.
	ErrKidMismatch = errors.New("byok: kid mismatch")
	// ErrTarget: the target key file is malformed or holds a key the
	// service does not accept.
	ErrTarget = errors.New("byok: invalid target key")
	// ErrUnsupported: a well-formed key of a type or size the service
	// refuses (RSA-1024, secp256k1, Ed25519, ...). It is always wrapped
	// together with ErrTarget or ErrPlaintext.
	ErrUnsupported = errors.New("byok: unsupported key type")
	// ErrPlaintext: an unwrapped plaintext is not a key the service
	// accepts.
	ErrPlaintext = errors.New("byok: unrecognised plaintext")
	// ErrWrap: wrapping failed.
	ErrWrap = errors.New("byok: wrap failed")
	// ErrUnwrap: the ciphertext does not unwrap under the given private
	// key (wrong key, corrupted, or not an RSA-OAEP || AES-KWP ciphertext).
	ErrUnwrap = errors.New("byok: unwrap failed")
	// ErrBlob: the .byok file deviates from the specification.
	ErrBlob = errors.New("byok: invalid .byok file")
)

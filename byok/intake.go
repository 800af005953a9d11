package byok

import (
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/internal/base/words"
)

// MaxKEKFileSize is the largest KEK file the intake reads: far more than
// any KEK file (a PEM public key or a JWK is a few KiB), little enough that
// a wrong path (a disk image, /dev/zero) cannot exhaust memory.
const MaxKEKFileSize = 1 << 20

// ErrKEKFile: the KEK file cannot be read (missing, a directory, larger
// than MaxKEKFileSize: then fsx.ErrTooLarge too). A file that reads but
// does not parse matches ErrKEK (and ErrKEKType, ErrKEKOps, ErrKid or
// ErrKidMismatch) instead.
var ErrKEKFile = errors.New("byok: KEK file not readable")

// A KEKRequest is the KEK intake step: the KEK's public key as the online
// side downloaded it, and its kid. `keyrite kek inspect`, `keyrite byok
// export`, `keyrite byok inspect --kek` and the guided ceremony take the KEK
// through it:
//
//	in, err := byok.KEKRequest{File: path, Kid: kid}.Validate()
//	res, _ := in.Run() // the KEK, its bytes and fingerprint
//
// Nothing is recorded: a KEK is recorded with the export that uses it
// (steps.BYOKExport.KEK).
type KEKRequest struct {
	// File is a PEM public key (SPKI or PKCS#1), its DER, or the JWK JSON
	// of `az keyvault key show` (which carries the kid).
	File string
	// Kid is the KEK's versioned key identifier; empty: the file's, if it
	// has one. Given with a JWK, it must be the JWK's.
	Kid string
}

// A KidError is the request's kid that does not parse (it matches
// ErrKid): the caller's own input, as opposed to a kid in the file.
type KidError struct {
	Kid string
	Err error
}

func (e *KidError) Error() string { return e.Err.Error() }
func (e *KidError) Unwrap() error { return e.Err }

// A KEKFileError is a KEK file that cannot be read (ErrKEKFile, with
// fsx's error naming the file) or does not parse (ParseKEK's error, named
// by the file's path).
type KEKFileError struct {
	Path string
	Err  error
	read bool
}

func (e *KEKFileError) Error() string {
	if e.read {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *KEKFileError) Unwrap() []error {
	if e.read {
		return []error{ErrKEKFile, e.Err}
	}
	return []error{e.Err}
}

// A KEKIntake is a validated KEK request.
type KEKIntake struct {
	req  KEKRequest
	data []byte
	kek  *KEK
	kid  *Kid
}

// A KEKResult is a KEK taken in.
type KEKResult struct {
	File        string
	Data        []byte // the file as read
	KEK         *KEK   // its Kid the request's or the file's ("" if neither)
	Fingerprint words.Fingerprint
	// Kid is the parsed kid (nil without one).
	Kid *Kid
}

// Validate checks the request's kid (*KidError), reads the file
// (*KEKFileError matching ErrKEKFile) and parses it with ParseKEK
// (*KEKFileError matching ParseKEK's sentinels).
func (req KEKRequest) Validate() (*KEKIntake, error) {
	in := &KEKIntake{req: req}
	if req.Kid != "" {
		k, err := ParseKid(req.Kid)
		if err != nil {
			return nil, &KidError{Kid: req.Kid, Err: err}
		}
		in.kid = k
	}
	data, err := fsx.ReadLimited(req.File, "KEK file", MaxKEKFileSize)
	if errors.Is(err, fsx.ErrTooLarge) {
		err = fmt.Errorf("%w; expected a small key file", err)
	}
	if err != nil {
		return nil, &KEKFileError{Path: req.File, Err: err, read: true}
	}
	k, err := ParseKEK(data, req.Kid)
	if err != nil {
		return nil, &KEKFileError{Path: req.File, Err: err}
	}
	if in.kid == nil && k.Kid != "" {
		if in.kid, err = ParseKid(k.Kid); err != nil {
			return nil, &KEKFileError{Path: req.File, Err: err}
		}
	}
	in.data, in.kek = data, k
	return in, nil
}

// Run returns the KEK taken in.
func (in *KEKIntake) Run() (*KEKResult, error) {
	return &KEKResult{File: in.req.File, Data: in.data, KEK: in.kek, Fingerprint: in.kek.Fingerprint(), Kid: in.kid}, nil
}

package fsx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrTooLarge is returned (wrapped) by ReadLimited for an input over its limit.
var ErrTooLarge = errors.New("larger than the limit")

// ReadLimited reads a whole input file, refusing files larger than limit so
// that a wrong path (a disk image, /dev/zero) cannot exhaust memory; what
// names the file's role in errors ("KEK file", "key file"). It sizes the
// buffer from the file so that reading a secret (a soft-form key) leaves no
// abandoned partial copies behind as it grows, and clears what it read
// before any error return (best effort: see package internal/base/secret).
// Pipes and devices are read up to limit+1 bytes.
func ReadLimited(path, what string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s %s: no such file", what, path)
		}
		return nil, fmt.Errorf("%s %s: %w", what, path, UnwrapPathErr(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, UnwrapPathErr(err))
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s %s: is a directory; expected a file", what, path)
	}
	tooBig := &tooLarge{fmt.Sprintf("%s %s: larger than %d KiB", what, path, limit>>10)}
	if !st.Mode().IsRegular() { // a pipe or device: no size to go by
		data, err := io.ReadAll(io.LimitReader(f, limit+1))
		if err != nil {
			clear(data)
			return nil, fmt.Errorf("%s %s: %w", what, path, UnwrapPathErr(err))
		}
		if int64(len(data)) > limit {
			clear(data)
			return nil, tooBig
		}
		return data, nil
	}
	if st.Size() > limit {
		return nil, tooBig
	}
	// The extra byte detects a file that grew since Stat.
	buf := make([]byte, st.Size()+1)
	n, err := io.ReadFull(io.LimitReader(f, limit+1), buf)
	switch {
	case err == nil:
		clear(buf)
		return nil, fmt.Errorf("%s %s: changed while being read", what, path)
	case err != io.ErrUnexpectedEOF && err != io.EOF:
		clear(buf)
		return nil, fmt.Errorf("%s %s: %w", what, path, UnwrapPathErr(err))
	}
	return buf[:n], nil
}

type tooLarge struct{ msg string }

func (e *tooLarge) Error() string { return e.msg }
func (e *tooLarge) Unwrap() error { return ErrTooLarge }

// UnwrapPathErr drops the *fs.PathError around err (whose text repeats the
// path an error message already names).
func UnwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

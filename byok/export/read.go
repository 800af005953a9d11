package export

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/keyrite/keyrite/internal/secret"
)

func wipe(b []byte) { secret.Wipe(b) }

// readLimited reads a whole input file, refusing files larger than limit so
// that a wrong path (a disk image, /dev/zero) cannot exhaust memory. what
// names the file's role in errors ("key file"). It sizes the buffer from
// the file so that reading a secret leaves no abandoned partial copies
// behind as it grows.
func readLimited(path, what string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s %s: no such file", what, path)
		}
		return nil, fmt.Errorf("%s %s: %w", what, path, unwrapPathErr(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, unwrapPathErr(err))
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s %s: is a directory; expected a file", what, path)
	}
	if !st.Mode().IsRegular() { // a pipe or device: no size to go by
		data, err := io.ReadAll(io.LimitReader(f, limit+1))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, path, unwrapPathErr(err))
		}
		if int64(len(data)) > limit {
			wipe(data)
			return nil, fmt.Errorf("%s %s: larger than %d KiB; expected a small key file", what, path, limit>>10)
		}
		return data, nil
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s %s: larger than %d KiB; expected a small key file", what, path, limit>>10)
	}
	// The extra byte detects a file that grew since Stat.
	buf := make([]byte, st.Size()+1)
	n, err := io.ReadFull(io.LimitReader(f, limit+1), buf)
	switch {
	case err == nil:
		wipe(buf)
		return nil, fmt.Errorf("%s %s: changed while being read", what, path)
	case err != io.ErrUnexpectedEOF && err != io.EOF:
		wipe(buf)
		return nil, fmt.Errorf("%s %s: %w", what, path, unwrapPathErr(err))
	}
	return buf[:n], nil
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

package transcripts

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxTranscriptSize bounds what is read of transcript.jsonl and of one
// signature file: far above any real ceremony (100k events are tens of MiB),
// it turns a wrong or hostile file into an error instead of an unbounded read.
const MaxTranscriptSize = 1 << 30

// errNotRegular and errTooLarge are the reasons readFile gives inside an
// *fs.PathError, so callers printing errors.Unwrap(err) say why.
var (
	errNotRegular = errors.New("not a regular file")
	errTooLarge   = errors.New("larger than allowed")
)

// readFile reads path whole, refusing anything but a regular file (a FIFO
// would block, a device never end; a symlink is refused too) and files
// larger than limit. Errors are *fs.PathError and never quote the content.
func readFile(path string, limit int64) ([]byte, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errNotRegular}
	}
	if st.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes, more than %d", errTooLarge, st.Size(), limit)}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: grew beyond %d bytes while read", errTooLarge, limit)}
	}
	return data, nil
}

package export

import (
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/internal/base/secret"
)

func wipe(b []byte) { secret.Wipe(b) }

// readLimited is fsx.ReadLimited for key files.
func readLimited(path, what string, limit int64) ([]byte, error) {
	data, err := fsx.ReadLimited(path, what, limit)
	if errors.Is(err, fsx.ErrTooLarge) {
		return nil, fmt.Errorf("%w; expected a small key file", err)
	}
	return data, err
}

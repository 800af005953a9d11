package export

import (
	"github.com/keyrite/keyrite/internal/fsx"
	"github.com/keyrite/keyrite/internal/secret"
)

func wipe(b []byte) { secret.Wipe(b) }

// readLimited is fsx.ReadLimited.
func readLimited(path, what string, limit int64) ([]byte, error) {
	return fsx.ReadLimited(path, what, limit)
}

func unwrapPathErr(err error) error { return fsx.UnwrapPathErr(err) }

package plan

import (
	"crypto"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/transcripts"
)

// maxKeyFile bounds a signing key file.
const maxKeyFile = 64 << 10

// A Key is a reviewer's signing key, opened: Close releases a token.
type Key struct {
	crypto.Signer
	// Default is the name the key suggests (the key file's base name or
	// the token object's label); a plan names its signer itself.
	Default string
	close   func()
}

// Close releases the token, if any.
func (k *Key) Close() {
	if k != nil && k.close != nil {
		k.close()
		k.close = nil
	}
}

// OpenKey opens a signing key as transcripts signs with: a PKCS#8 PEM
// file holding an Ed25519 or ECDSA P-256 key, or a PKCS#11 URI (with
// module-path) of an ECDSA P-256 key on a token. For a token, the PIN
// counter is read first (a locked PIN, or the last try without
// login.FinalTry, is refused before anyone types a PIN); then pin is
// called once for the PIN, which OpenSignerWith wipes.
func OpenKey(src string, pin func(prompt string) ([]byte, error), login hsm.LoginOptions) (*Key, error) {
	if !hsm.IsURI(src) {
		data, err := fsx.ReadLimited(src, "signing key file", maxKeyFile)
		if err != nil {
			return nil, err
		}
		key, err := transcripts.ParseSigningKeyPEM(data)
		clear(data)
		if err != nil {
			return nil, fmt.Errorf("signing key file %s: %w", src, err)
		}
		return &Key{Signer: key, Default: strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))}, nil
	}
	u, err := hsm.ParseURI(src)
	if err != nil {
		return nil, err
	}
	if u.ModulePath == "" {
		return nil, fmt.Errorf("%w: %s has no module-path", hsm.ErrURI, u.Redacted())
	}
	m, err := hsm.Load(u.ModulePath)
	if err != nil {
		return nil, err
	}
	slot, err := m.FindToken(u.TokenFilter())
	if err == nil {
		var s *hsm.Session
		if s, err = m.OpenSession(slot); err == nil {
			_, err = s.CheckPIN(login)
			s.Close()
		}
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	if pin == nil {
		m.Close()
		return nil, fmt.Errorf("%s: a key on a token, and no way to ask for its PIN", u.Redacted())
	}
	p, err := pin(fmt.Sprintf("PIN for token %q: ", u.Token))
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("reading the PIN: %w", err)
	}
	ts, err := hsm.OpenSignerWith(u, p, login) // wipes p
	if err != nil {
		m.Close()
		return nil, err
	}
	return &Key{Signer: ts, Default: u.Object, close: func() { ts.Close(); m.Close() }}, nil
}

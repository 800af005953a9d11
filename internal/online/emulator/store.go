package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyrite/keyrite/internal/base/fsx"
)

// store keeps the emulator's state as JSON files under dir. Callers hold
// Emulator.mu around read-modify-write sequences.
type store struct {
	dir string
}

func (s *store) serviceDir(svc service) string {
	return filepath.Join(s.dir, "services", svc.id())
}

// keyRecord is one stored key version.
type keyRecord struct {
	Name     string            `json:"name"`
	Version  string            `json:"version"`
	Seq      int               `json:"seq"` // 1 for the first version; the highest is the current one
	Kty      string            `json:"kty"`
	KeyOps   []string          `json:"key_ops"`
	KeySize  int               `json:"key_size,omitempty"`
	Crv      string            `json:"crv,omitempty"`
	N        []byte            `json:"n,omitempty"`
	E        []byte            `json:"e,omitempty"`
	X        []byte            `json:"x,omitempty"`
	Y        []byte            `json:"y,omitempty"`
	Imported bool              `json:"imported,omitempty"`
	Created  int64             `json:"created"`
	Enabled  bool              `json:"enabled"`
	Tags     map[string]string `json:"tags,omitempty"`
	// PrivatePKCS8 is set only for keys the emulator generated (KEKs):
	// the stand-in for key material that never leaves a real HSM.
	PrivatePKCS8 []byte `json:"private_pkcs8,omitempty"`
	// SecretKey is the raw key of an oct-HSM key, generated or imported:
	// the emulator keeps it so that encrypt works (a test stand-in; a real
	// HSM never gives it out).
	SecretKey []byte `json:"secret_key,omitempty"`
}

func (s *store) keyDir(svc service, name string) string {
	return filepath.Join(s.serviceDir(svc), "keys", strings.ToLower(name))
}

// putKey writes a new key version; it never replaces one.
func (s *store) putKey(svc service, k *keyRecord) error {
	dir := s.keyDir(svc, k.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return err
	}
	return fsx.WriteNew(filepath.Join(dir, k.Version+".json"), b, 0o600)
}

// versions returns every stored version of a key (nil if none).
func (s *store) versions(svc service, name string) ([]*keyRecord, error) {
	dir := s.keyDir(svc, name)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*keyRecord
	for _, ent := range ents {
		n := ent.Name()
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".json") {
			continue // fsx temporaries and strays
		}
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		var k keyRecord
		if err := json.Unmarshal(b, &k); err != nil {
			return nil, fmt.Errorf("emulator: state file %s: %w", filepath.Join(dir, n), err)
		}
		out = append(out, &k)
	}
	return out, nil
}

// getKey returns a version of a key, or its current version when version
// is "". It returns nil, nil when there is no such key.
func (s *store) getKey(svc service, name, version string) (*keyRecord, error) {
	vs, err := s.versions(svc, name)
	if err != nil {
		return nil, err
	}
	var best *keyRecord
	for _, k := range vs {
		if version != "" {
			if strings.EqualFold(k.Version, version) {
				return k, nil
			}
			continue
		}
		if best == nil || k.Seq > best.Seq {
			best = k
		}
	}
	return best, nil
}

// readJSON reads a state file into v; it reports false if the file does
// not exist.
func (s *store) readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("emulator: state file %s: %w", path, err)
	}
	return true, nil
}

// replaceJSON writes v to path atomically, replacing any previous version
// (fsx.Replace: temporary file, fsync, rename, fsync the directory).
func (s *store) replaceJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return fsx.Replace(path, b, 0o600)
}

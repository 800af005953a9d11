package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"

	"github.com/keyrite/keyrite/internal/base/fsx/fsxfault"
	"github.com/keyrite/keyrite/internal/base/fsx/fsxtest"
)

// fullDiskWriter is a command that writes an output, for TestFullDisk.
type fullDiskWriter struct {
	name string
	// prepare makes what the command needs in dir (where its output goes:
	// the full disk) and returns its arguments and output path.
	prepare func(t *testing.T, dir string) (args []string, out string)
	// free is how many bytes of the disk are left for the command (and
	// where the injected write fault stops it).
	free int
	// secret is what must be nowhere on the disk after a failure (nil:
	// the output is not secret; leftovers are still checked).
	secret []byte
}

// TestFullDisk runs every command that writes an output where the disk is
// full, or a write or the final directory fsync fails: the command must
// fail (exit 1) saying why, leave no output, no temporary file and no byte
// of a secret, and succeed on the same arguments once the fault is gone
// (nothing is wedged). The faults are injected (package fsxfault) and, where
// a tmpfs can be mounted, real.
func TestFullDisk(t *testing.T) {
	work := t.TempDir()
	in := fullDiskInputs(t, work)
	vec, err := filepath.Abs("../../testvectors")
	if err != nil {
		t.Fatal(err)
	}
	const kid = "https://keyrite-test.managedhsm.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"
	byokArgs := []string{"--kek", vec + "/byok/kek-rsa2048.pem", "--kid", kid}

	writers := []fullDiskWriter{{
		name: "custody-combine", free: 8192, secret: in.secret,
		prepare: func(t *testing.T, dir string) ([]string, string) {
			out := filepath.Join(dir, "secret-out.txt")
			return []string{"custody", "combine", "--shares", in.shares, "--identity", in.ids[0], "--identity", in.ids[1], "--out", out}, out
		},
	}, {
		name: "custody-split", free: 16384, secret: in.secret,
		prepare: func(t *testing.T, dir string) ([]string, string) {
			out := filepath.Join(dir, "shares")
			return []string{"custody", "split", "--in", in.secretFile, "--threshold", "2",
				"--recipient", in.recips[0], "--recipient", in.recips[1], "--recipient", in.recips[2], "--out", out}, out
		},
	}, {
		name: "sd-restore", free: 4096,
		prepare: func(t *testing.T, dir string) ([]string, string) {
			sd := vec + "/sd/n3_q2_rsa2048/"
			out := filepath.Join(dir, "blob.json")
			return []string{"sd", "restore", "--sd", sd + "sd.json", "--exchange-key", sd + "exchange_cert.pem",
				"--wrapping-key", sd + "wrap_0.pem", "--wrapping-key", sd + "wrap_1.pem", "--out", out}, out
		},
	}, {
		name: "sd-keygen", free: 4096, secret: []byte("PRIVATE KEY"),
		prepare: func(t *testing.T, dir string) ([]string, string) {
			out := filepath.Join(dir, "custodians")
			return []string{"sd", "keygen", "--quorum", "2", "--custodians", "3", "--out-dir", out}, out
		},
	}, {
		name: "byok-export", free: 0,
		prepare: func(t *testing.T, dir string) ([]string, string) {
			out := filepath.Join(dir, "app.byok")
			return append([]string{"byok", "export", "--key", vec + "/byok/target-aes256.bin", "--out", out}, byokArgs...), out
		},
	}, {
		name: "byok-export-batch", free: 0,
		prepare: func(t *testing.T, dir string) ([]string, string) {
			out := filepath.Join(dir, "batch")
			return append([]string{"byok", "export", "--key", vec + "/byok/target-aes256.bin", "--key", vec + "/byok/target-aes128.bin", "--out-dir", out}, byokArgs...), out
		},
	}, {
		name: "transcript-sign", free: 0,
		prepare: func(t *testing.T, dir string) ([]string, string) {
			c := filepath.Join(dir, "c")
			if code, _, stderr := runKeyrite(t, append([]string{"byok", "export", "--key", vec + "/byok/target-aes256.bin", "--out", filepath.Join(dir, "x.byok"), "--ceremony", c}, byokArgs...)...); code != 0 {
				t.Fatalf("making the ceremony: %s", stderr)
			}
			return []string{"transcript", "sign", c, "--key", in.signKey, "--role", "operator"}, filepath.Join(c, "signatures")
		},
	}}

	type mode struct {
		name string
		// setup makes the disk full (or failing) for w in dir, after
		// prepare, and returns what undoes it and the error text expected.
		setup func(t *testing.T, w fullDiskWriter, dir, out string) (undo func(), want string)
	}
	modes := []mode{{
		name: "write-fault",
		setup: func(t *testing.T, w fullDiskWriter, dir, out string) (func(), string) {
			return fsxfault.Set(fsxfault.Fault{Op: fsxfault.Write, After: w.free}), "no space left on device"
		},
	}, {
		name: "commit-fault", // the directory fsync that publishes the output
		setup: func(t *testing.T, w fullDiskWriter, dir, out string) (func(), string) {
			return fsxfault.Set(fsxfault.Fault{Op: fsxfault.SyncDir, Path: filepath.Dir(out), Err: syscall.EIO}), "input/output error"
		},
	}, {
		name: "tmpfs",
		setup: func(t *testing.T, w fullDiskWriter, dir, out string) (func(), string) {
			return fsxtest.Fill(t, dir, w.free), "no space left on device"
		},
	}}

	for _, w := range writers {
		for _, m := range modes {
			t.Run(w.name+"/"+m.name, func(t *testing.T) {
				var dir string
				if m.name == "tmpfs" {
					dir = fsxtest.TinyFS(t, 256<<10, 0)
				} else {
					dir = t.TempDir()
				}
				args, out := w.prepare(t, dir)
				keep := listTree(t, dir) // what is there may stay; nothing may be added
				undo, want := m.setup(t, w, dir, out)
				code, _, stderr := runKeyrite(t, args...)
				undo()
				if code != 1 || !strings.Contains(stderr, want) {
					t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr, want)
				}
				if strings.Contains(stderr, ".tmp-") {
					t.Errorf("the error names a temporary file:\n%s", stderr)
				}
				fsxtest.CheckClean(t, dir, w.secret, keep...)
				if st, err := os.Lstat(out); err == nil && !st.IsDir() {
					t.Errorf("%s exists after the failure", out)
				}
				if code, _, stderr := runKeyrite(t, args...); code != 0 {
					t.Fatalf("once there is room: exit %d\n%s", code, stderr)
				}
			})
		}
	}
}

// listTree lists every file under dir, relative to it.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		names = append(names, rel)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return names
}

type fullDiskIn struct {
	secret     []byte
	secretFile string
	shares     string   // a 2-of-3 split of secret
	ids        []string // the custodians' age identity files
	recips     []string // and their recipients
	signKey    string   // an Ed25519 PKCS#8 PEM key
}

func fullDiskInputs(t *testing.T, dir string) fullDiskIn {
	in := fullDiskIn{secret: make([]byte, 12000), secretFile: filepath.Join(dir, "secret.bin"), shares: filepath.Join(dir, "shares")}
	rand.Read(in.secret)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("secret.bin", in.secret)
	for _, n := range []string{"c1", "c2", "c3"} {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		in.ids = append(in.ids, write(n+".key", []byte(id.String()+"\n")))
		in.recips = append(in.recips, id.Recipient().String())
	}
	if code, _, stderr := runKeyrite(t, "custody", "split", "--in", in.secretFile, "--threshold", "2",
		"--recipient", in.recips[0], "--recipient", in.recips[1], "--recipient", in.recips[2], "--out", in.shares); code != 0 {
		t.Fatalf("custody split: %s", stderr)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	in.signKey = write("alice.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	return in
}

package export_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/keyrite/keyrite/internal/base/fsx/fsxfault"
	"github.com/keyrite/keyrite/internal/base/fsx/fsxtest"
	"github.com/keyrite/keyrite/transcripts"
)

// aesKeys writes n raw AES-256 key files k1.bin ... kn.bin into dir.
func aesKeys(t testing.TB, dir string, n int) (paths []string, keys map[string][]byte) {
	t.Helper()
	keys = map[string][]byte{}
	for i := 1; i <= n; i++ {
		k := make([]byte, 32)
		rand.Read(k)
		p := filepath.Join(dir, fmt.Sprintf("k%d.bin", i))
		if err := os.WriteFile(p, k, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		keys[fmt.Sprintf("k%d", i)] = k
	}
	return paths, keys
}

// checkBatch checks a completed batch against its ceremony: the ceremony
// verifies, records every key exactly once (and nothing else as a byok
// export), and the output holds exactly the recorded .byok files, each
// unwrapping (independently) to its key.
func checkBatch(t *testing.T, cdir, outDir string, keys map[string][]byte) *transcripts.Report {
	t.Helper()
	rep, err := transcripts.Verify(cdir, nil)
	if err != nil {
		t.Fatalf("the ceremony does not verify: %v", err)
	}
	count := map[string]int{}
	for _, e := range rep.Events {
		if e.Step == "byok.export" {
			count[e.Outputs[0].Name]++
		}
	}
	if len(count) != len(keys) {
		t.Fatalf("%d keys recorded, want %d", len(count), len(keys))
	}
	unwrapped := 0
	for name, key := range keys {
		if n := count[name+".byok"]; n != 1 {
			t.Fatalf("%s.byok recorded %d times, want once", name, n)
		}
		rec, err := rep.ReadArtifact(name + ".byok")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(read(t, filepath.Join(outDir, name+".byok")), rec) {
			t.Fatalf("%s.byok in the output differs from the recorded one", name)
		}
		if unwrapped < 20 { // a sample: each is an RSA private-key operation
			unwrapped++
			if !bytes.Equal(unwrap(t, rec), key) {
				t.Fatalf("%s.byok does not unwrap to its key", name)
			}
		}
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != len(keys) {
		t.Fatalf("the output holds %d files, want %d", len(ents), len(keys))
	}
	return rep
}

// staging lists the staging directories left beside out.
func staging(t testing.TB, out string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*"))
	return m
}

// TestRunBatchOpensCeremonyOnce records a 300-key batch with one open (and
// so one read) of the transcript, not one per key.
func TestRunBatchOpensCeremonyOnce(t *testing.T) {
	dir := t.TempDir()
	paths, keys := aesKeys(t, dir, 300)
	cdir, out := filepath.Join(dir, "c"), filepath.Join(dir, "out")
	var opens int
	defer export.CountCeremonyOpens(&opens)()
	res, err := export.Run(export.Request{KEK: kek(t, mhsmKid), Keys: paths, OutDir: out, CeremonyDir: cdir})
	if err != nil {
		t.Fatal(err)
	}
	if opens != 1 {
		t.Fatalf("the ceremony was opened %d times for 300 keys, want once", opens)
	}
	for i, k := range res.Keys {
		if k.Seq != int64(i+2) || k.Resumed {
			t.Fatalf("key %d: seq %d, resumed %v", i, k.Seq, k.Resumed)
		}
	}
	checkBatch(t, cdir, out, keys)
}

// TestRunResumes interrupts batches after some keys are recorded and before
// the output is published, then runs the same request again: it resumes,
// exporting only what is not recorded, and every key ends up recorded once.
func TestRunResumes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    func(dir, out string) fsxfault.Fault
		recorded int
	}{
		// The 8th file written into the staging directory fails.
		{"write", func(dir, out string) fsxfault.Fault {
			return fsxfault.Fault{Op: fsxfault.Create, After: 7, Path: filepath.Join(dir, ".out.tmp-*", "*.byok")}
		}, 7},
		// Every key recorded, and publishing the directory fails.
		{"publish", func(dir, out string) fsxfault.Fault {
			return fsxfault.Fault{Op: fsxfault.Rename, Path: out, Err: unix.EIO}
		}, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			paths, keys := aesKeys(t, dir, 20)
			cdir, out := filepath.Join(dir, "c"), filepath.Join(dir, "out")
			req := export.Request{KEK: kek(t, mhsmKid), Keys: paths, OutDir: out, CeremonyDir: cdir}
			undo := fsxfault.Set(tc.fault(dir, out))
			_, err := export.Run(req)
			undo()
			var xe *export.Error
			if !errors.As(err, &xe) || !strings.Contains(strings.Join(xe.Hints(), "\n"), fmt.Sprintf("%d key(s) were recorded in ceremony", tc.recorded)) {
				t.Fatalf("interrupted run: %v (hints %q)", err, xe.Hints())
			}
			if _, err := os.Lstat(out); err == nil || len(staging(t, out)) > 0 {
				t.Fatal("a failed run published its output or left its staging directory")
			}
			rep, err := transcripts.Verify(cdir, nil)
			if err != nil || len(rep.Events) != 1+tc.recorded {
				t.Fatalf("after the failure: %d events, %v", len(rep.Events), err)
			}

			var opens int
			restore := export.CountCeremonyOpens(&opens)
			res, err := export.Run(req)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			resumed := 0
			for _, k := range res.Keys {
				if k.Resumed {
					resumed++
				}
			}
			if resumed != tc.recorded || opens != 1 {
				t.Fatalf("%d keys resumed, want %d; %d opens", resumed, tc.recorded, opens)
			}
			checkBatch(t, cdir, out, keys)

			// Once more: the output holds exactly what is recorded.
			res, err = export.Run(req)
			if err != nil || !res.AlreadyDone || len(res.Notes) != 1 {
				t.Fatalf("a run of a completed batch: %+v, %v", res, err)
			}
			rep = checkBatch(t, cdir, out, keys)
			if len(rep.Events) != 21 {
				t.Fatalf("%d events, want 21", len(rep.Events))
			}
		})
	}
}

// TestRunRecoversStaleStaging: the staging directories killed runs left for
// the same output are removed (and, with a ceremony, the removal recorded),
// unless a live run holds one.
func TestRunRecoversStaleStaging(t *testing.T) {
	dir := t.TempDir()
	paths, keys := aesKeys(t, dir, 3)
	cdir, out := filepath.Join(dir, "c"), filepath.Join(dir, "out")
	req := export.Request{KEK: kek(t, mhsmKid), Keys: paths, OutDir: out, CeremonyDir: cdir}

	// An interrupted run recorded k1 and wrote k2 without recording it.
	undo := fsxfault.Set(fsxfault.Fault{Op: fsxfault.Rename, Path: out, Err: unix.EIO})
	_, err := export.Run(export.Request{KEK: req.KEK, Keys: paths[:1], OutDir: out, CeremonyDir: cdir})
	undo()
	if err == nil {
		t.Fatal("no failure")
	}
	rep, _ := transcripts.Verify(cdir, nil)
	k1, _ := rep.ReadArtifact("k1.byok")
	stale := filepath.Join(dir, ".out.tmp-123")
	os.Mkdir(stale, 0o755)
	os.WriteFile(filepath.Join(stale, "k1.byok"), k1, 0o644)
	os.WriteFile(filepath.Join(stale, "k2.byok"), []byte(`{"unrecorded":true}`), 0o644)
	os.WriteFile(filepath.Join(stale, ".k3.byok.tmp-9"), []byte(`{"unfin`), 0o644)
	// A live run's: locked.
	live := filepath.Join(dir, ".out.tmp-456")
	os.Mkdir(live, 0o755)
	lf, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// Someone else's name is not touched.
	other := filepath.Join(dir, ".out.tmp-x1")
	os.Mkdir(other, 0o755)

	var notes []string
	req.Notify = func(n string) { notes = append(notes, n) }
	if _, err := export.Run(req); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Fatal("the stale staging directory is still there")
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatal("a live run's staging directory was removed")
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatal("a directory of another naming was removed")
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "removed "+stale+", the unfinished output directory of an interrupted export (2 file(s), 1 of them recorded in the ceremony)") {
		t.Fatalf("notes %q", notes)
	}
	rep = checkBatch(t, cdir, out, keys)
	var cleanup []transcripts.Entry
	for _, e := range rep.Events {
		if e.Step == "byok.export.cleanup" {
			cleanup = append(cleanup, e)
		}
	}
	if len(cleanup) != 1 || len(cleanup[0].Deviations) != 1 || !strings.Contains(cleanup[0].Deviations[0], `1 file(s) the interrupted run wrapped were never recorded and are discarded (the keys are exported again): "k2.byok"`) {
		t.Fatalf("cleanup events %+v", cleanup)
	}

	// Without a ceremony: removed and reported.
	out2 := filepath.Join(dir, "out2")
	stale2 := filepath.Join(dir, ".out2.tmp-7")
	os.Mkdir(stale2, 0o755)
	notes = nil
	if _, err := export.Run(export.Request{KEK: req.KEK, Keys: paths, OutDir: out2, Notify: req.Notify}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale2); err == nil || len(notes) != 1 {
		t.Fatalf("without a ceremony: stale directory left, notes %q", notes)
	}
}

// TestRunRefusesBeforeWork: what the ceremony would refuse to record, a
// ceremony in use and one that cannot be written are refused before any
// key is wrapped, leaving nothing.
func TestRunRefusesBeforeWork(t *testing.T) {
	dir := t.TempDir()
	aes := vectors + "/target-aes256.bin"
	ec := vectors + "/target-ec-p256.pem"
	long := func(n int, src, ext string) string {
		p := filepath.Join(dir, strings.Repeat("k", n)+ext)
		os.WriteFile(p, read(t, src), 0o600)
		return p
	}
	cdir := filepath.Join(dir, "c")
	for _, tc := range []struct {
		name string
		req  export.Request
		msg  string
	}{
		{"space", export.Request{Keys: []string{aes}, Out: filepath.Join(dir, "my key.byok")},
			`--out: the ceremony cannot record the output "my key.byok" (key ` + aes + `): transcripts: artifact name "my key.byok": want a plain file name`},
		{"non-ASCII", export.Request{Keys: []string{aes}, Out: filepath.Join(dir, "clé.byok")},
			`--out: the ceremony cannot record the output "clé.byok"`},
		{"leading dot", export.Request{Keys: []string{aes}, Out: filepath.Join(dir, ".app.byok")},
			`--out: the ceremony cannot record the output ".app.byok"`},
		{"batch name too long", export.Request{Keys: []string{aes, long(124, aes, ".bin")}, OutDir: filepath.Join(dir, "out")},
			`--out-dir: the ceremony cannot record the output "` + strings.Repeat("k", 124) + `.byok"`},
		{"public key name too long", export.Request{Keys: []string{long(118, ec, ".pem")}, Out: filepath.Join(dir, "ec.byok")},
			`the ceremony cannot record the public key as "` + strings.Repeat("k", 118) + `.public.pem"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.KEK, tc.req.CeremonyDir = kek(t, mhsmKid), cdir
			_, err := export.Run(tc.req)
			if err == nil || !strings.HasPrefix(err.Error(), tc.msg) && !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v\nwant %s", err, tc.msg)
			}
			if _, err := os.Stat(cdir); err == nil {
				t.Fatal("the refused export created the ceremony")
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 { // the key files made above
		t.Fatalf("refused runs left %d entries", len(ents))
	}

	// A recorded export, then exports that would conflict with it.
	first := filepath.Join(dir, "first")
	os.Mkdir(first, 0o755)
	if _, err := export.Run(export.Request{KEK: kek(t, mhsmKid), Keys: []string{aes}, Out: filepath.Join(first, "app.byok"), CeremonyDir: cdir}); err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(dir, "second")
	os.Mkdir(second, 0o755)
	for _, tc := range []struct {
		name string
		req  export.Request
		msg  string
	}{
		{"another key", export.Request{Keys: []string{vectors + "/target-aes128.bin"}, Out: filepath.Join(second, "app.byok")},
			`app.byok is already recorded in ceremony ` + cdir + `, by event 2, for another export: it has source "` + aes + `", not "` + vectors + `/target-aes128.bin"`},
		{"other ops", export.Request{Keys: []string{aes}, Ops: []string{"encrypt", "decrypt"}, Out: filepath.Join(second, "app.byok")},
			`key_ops "encrypt,decrypt,wrapKey,unwrapKey", not "encrypt,decrypt"`},
		{"other name", export.Request{Keys: []string{aes}, Name: "other", Out: filepath.Join(second, "app.byok")},
			`name "target-aes256", not "other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.KEK, tc.req.CeremonyDir = kek(t, mhsmKid), cdir
			_, err := export.Run(tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v\nwant %s", err, tc.msg)
			}
			if ents, _ := os.ReadDir(second); len(ents) != 0 {
				t.Fatalf("the refused export left %d entries", len(ents))
			}
		})
	}

	// A ceremony in use: refused at once.
	c, err := transcripts.Open(cdir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = export.Run(export.Request{KEK: kek(t, mhsmKid), Keys: []string{aes}, Out: filepath.Join(second, "busy.byok"), CeremonyDir: cdir})
	c.Close()
	if !errors.Is(err, transcripts.ErrBusy) || !strings.Contains(err.Error(), "is in use by another keyrite process") {
		t.Fatalf("busy ceremony: %v", err)
	}
	if ents, _ := os.ReadDir(second); len(ents) != 0 {
		t.Fatalf("the refused export left %d entries", len(ents))
	}
	rep, err := transcripts.Verify(cdir, nil)
	if err != nil || len(rep.Events) != 2 {
		t.Fatalf("the refusals changed the ceremony: %d events, %v", len(rep.Events), err)
	}
}

// TestRunRefusesUnwritableCeremony: a ceremony on a read-only file system
// is refused before any work.
func TestRunRefusesUnwritableCeremony(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a read-only tmpfs")
	}
	ro := fsxtest.TinyFS(t, 1<<20, 0)
	if err := os.Mkdir(filepath.Join(ro, "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", ro, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only: %v", err)
	}
	dir := t.TempDir()
	for _, cdir := range []string{filepath.Join(ro, "c"), filepath.Join(ro, "new")} {
		_, err := export.Run(export.Request{KEK: kek(t, mhsmKid), Keys: []string{vectors + "/target-aes256.bin"}, Out: filepath.Join(dir, "app.byok"), CeremonyDir: cdir})
		var xe *export.Error
		if !errors.As(err, &xe) || !errors.Is(err, fs.ErrPermission) && !errors.Is(err, unix.EROFS) || !strings.Contains(strings.Join(xe.Hints(), " "), "nothing was exported") {
			t.Fatalf("%s: %v", cdir, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("the refused export left %d entries", len(ents))
		}
	}
}

// BenchmarkRunBatch300 times a 300-key soft AES batch, without and with a
// ceremony (one event per key, each fsynced).
func BenchmarkRunBatch300(b *testing.B) {
	paths, _ := aesKeys(b, b.TempDir(), 300)
	k := kek(b, mhsmKid)
	for _, withCeremony := range []bool{false, true} {
		name := "files"
		if withCeremony {
			name = "ceremony"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				dir := b.TempDir()
				req := export.Request{KEK: k, Keys: paths, OutDir: filepath.Join(dir, "out")}
				if withCeremony {
					req.CeremonyDir = filepath.Join(dir, "c")
				}
				if _, err := export.Run(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRunResumesSoftHSM interrupts a batch from a real SoftHSM2 token: the
// re-run logs in only for the keys not recorded yet (none at all when every
// key is), names an id-only object as the interrupted run did, and ends
// with every key recorded once.
func TestRunResumesSoftHSM(t *testing.T) {
	tok := softhsmtest.New(t, "vendor")
	keys := map[string][]byte{}
	var srcs []string
	for i := 1; i <= 4; i++ {
		k := make([]byte, 32)
		rand.Read(k)
		name := fmt.Sprintf("hk%d", i)
		keys[name] = k
		tok.WriteSecretKey(t, k, softhsmtest.Options{Label: name, ID: fmt.Sprintf("0%d", i), Extractable: true, Sensitive: true})
		srcs = append(srcs, tok.URI(name))
	}
	// The fourth named by id only: its name is its label, read from the token.
	srcs[3] = fmt.Sprintf("pkcs11:token=%s;id=%%04?module-path=%s", tok.Label, tok.Module)

	for _, tc := range []struct {
		name     string
		fault    func(dir, out string) fsxfault.Fault
		recorded int
		logins   int
	}{
		{"partial", func(dir, out string) fsxfault.Fault {
			return fsxfault.Fault{Op: fsxfault.Create, After: 2, Path: filepath.Join(dir, ".out.tmp-*", "*.byok")}
		}, 2, 1},
		{"all recorded", func(dir, out string) fsxfault.Fault {
			return fsxfault.Fault{Op: fsxfault.Rename, Path: out, Err: unix.EIO}
		}, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cdir, out := filepath.Join(dir, "c"), filepath.Join(dir, "out")
			logins := 0
			req := export.Request{KEK: kek(t, mhsmKid), Keys: srcs, OutDir: out, CeremonyDir: cdir,
				PIN: func(string) ([]byte, error) { logins++; return []byte(tok.PIN), nil }}
			undo := fsxfault.Set(tc.fault(dir, out))
			_, err := export.Run(req)
			undo()
			if err == nil {
				t.Fatal("no failure")
			}
			logins = 0
			res, err := export.Run(req)
			if err != nil {
				t.Fatal(err)
			}
			if logins != tc.logins {
				t.Fatalf("%d PIN prompts, want %d", logins, tc.logins)
			}
			resumed := 0
			for _, k := range res.Keys {
				if k.Resumed {
					resumed++
					if k.HSM == nil || k.HSM.Token.Label != "vendor" || k.Kty != "oct-HSM" || k.Target != "AES-256" || k.KCV == "" {
						t.Fatalf("resumed key %+v", k)
					}
				}
			}
			if resumed != tc.recorded {
				t.Fatalf("%d keys resumed, want %d", resumed, tc.recorded)
			}
			checkBatch(t, cdir, out, keys)
		})
	}
}

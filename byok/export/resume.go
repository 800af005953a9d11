package export

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/base/fsx"
	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// openCeremony opens the ceremony directory; tests count the calls.
var openCeremony = transcripts.Open

// begin does what comes after the plan and before any key is wrapped: it
// opens and locks the ceremony (once for the whole run), finds the keys an
// interrupted run of the same export already recorded, removes the
// unfinished output directories interrupted runs left, and decides about
// an output that exists.
func (r *run) begin() error {
	q := r.req
	if q.CeremonyDir != "" {
		c, err := openCeremony(q.CeremonyDir)
		if err != nil {
			return ceremonyErr(q.CeremonyDir, err)
		}
		r.cer = c
		if rec := c.Recovered(); rec != nil {
			r.note(fmt.Sprintf("ceremony %s: %s", q.CeremonyDir, rec))
		}
		if err := r.resume(); err != nil {
			return err
		}
	}
	if err := r.recoverStale(); err != nil {
		return err
	}
	return r.checkOutput()
}

// end releases the ceremony.
func (r *run) end() {
	if r.cer != nil {
		r.cer.Close()
		r.cer = nil
	}
}

func (r *run) note(msg string) {
	r.notes = append(r.notes, msg)
	if r.req.Notify != nil {
		r.req.Notify(msg)
	}
}

// target is the output: the batch directory or the single file.
func (r *run) target() (path, flagName string) {
	if r.req.OutDir != "" {
		return r.req.OutDir, "--out-dir"
	}
	return r.req.Out, "--out"
}

func ceremonyErr(dir string, err error) error {
	e := &Error{Msg: fmt.Sprintf("--ceremony %s: %s", dir, err.Error()), Err: err}
	switch {
	case errors.Is(err, transcripts.ErrBusy):
		e.Msg = fmt.Sprintf("--ceremony %s is in use by another keyrite process: a ceremony records one step at a time", dir)
		e.Hint = []string{"wait for the other export or signature to finish, then run this again: nothing was done"}
	case errors.Is(err, transcripts.ErrNotCeremony):
		e.Hint = []string{"give a new or empty directory for a new ceremony, or the directory of an existing one"}
	case errors.Is(err, transcripts.ErrCorrupt):
		e.Hint = []string{fmt.Sprintf("run keyrite transcript verify %s to see what is damaged; nothing was exported", dir)}
	default:
		e.Hint = []string{"the ceremony must be writable before anything is exported: check the path, its permissions and that its file system is mounted read-write; nothing was exported"}
	}
	return e
}

// resume finds, for each key, whether the ceremony already records it: an
// ok byok.export event whose .byok is this key's output name, with the
// same source, KEK, name and key_ops (and, where this run knows them
// already, the same public key or key check value). Such a key is not
// wrapped again: its recorded .byok is published, so that a re-run of an
// interrupted batch completes it with every key recorded once. An output
// name the ceremony records for anything else is refused now, before any
// work, rather than when the step is recorded.
func (r *run) resume() error {
	kek := r.req.KEK
	r.byArtifact = map[string]*steps.BYOKExport{}
	bySource := map[string][]*steps.BYOKExport{}
	for _, e := range r.cer.Recorded(steps.StepBYOKExport) {
		if e.Result != "ok" || e.Actor.Role == transcripts.RoleUploader {
			continue
		}
		x, err := steps.ParseBYOKExport(&e)
		if err != nil {
			continue // not an export this run could resume: its .byok name is refused as taken below
		}
		r.byArtifact[x.BYOK.Name] = x
		if x.Source != "" {
			bySource[x.Source] = append(bySource[x.Source], x)
		}
	}
	if r.req.OutDir != "" {
		// An object named by id only has no name before the token is
		// read; the run that recorded it read its label.
		for _, j := range r.jobs {
			if j.name != "" {
				continue
			}
			var found []*steps.BYOKExport
			for _, x := range bySource[j.src] {
				if x.Kid == kek.Kid {
					found = append(found, x)
				}
			}
			if len(found) == 1 {
				j.name = found[0].Name
			}
		}
		if err := r.assignOutputs(false); err != nil {
			return err
		}
	}
	for _, j := range r.jobs {
		if err := r.matchRecorded(j); err != nil {
			return err
		}
	}
	return nil
}

// matchRecorded decides about one key whose output name is known (see
// resume); it runs again for token keys once the token is read.
func (r *run) matchRecorded(j *job) error {
	if r.cer == nil || j.out == "" || j.resumed != nil {
		return nil
	}
	kek := r.req.KEK
	art := filepath.Base(j.out)
	e := r.byArtifact[art]
	if e == nil {
		if b, ok := r.cer.BoundBy(art); ok {
			return hinted(fmt.Errorf("--key %s: %s is already recorded in ceremony %s, by event %d (%s), not by an export of this key", j.src, art, r.req.CeremonyDir, b.Seq, b.Step),
				"a ceremony keeps one file per name: choose another output name, or record this export in another ceremony directory")
		}
		if j.name != "" && j.pub != nil {
			pa := steps.PublicKeyFileName(j.name)
			if b, ok := r.cer.BoundBy(pa); ok {
				want := words.Sum(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: j.pub})).Hex()
				if ref, _ := b.Artifact(pa); ref.SHA256 != want {
					return hinted(fmt.Errorf("--key %s: %s is already recorded in ceremony %s, by event %d, with another public key: another key named %s was exported into it", j.src, pa, r.req.CeremonyDir, b.Seq, j.name),
						"give this key another name, or record its export in another ceremony directory")
				}
			}
		}
		return nil
	}
	var diffs []string
	check := func(what, got, want string) {
		if got != want {
			diffs = append(diffs, fmt.Sprintf("%s %q, not %q", what, got, want))
		}
	}
	check("source", e.Source, j.src)
	check("KEK kid", e.Kid, kek.Kid)
	check("KEK sha256", e.KEKSHA256, kek.Fingerprint().Hex())
	if j.name != "" {
		check("name", e.Name, j.name)
	}
	ops := j.ops
	if ops == nil {
		ops = DefaultOps(typeOfKty(e.Kty))
	}
	check("key_ops", strings.Join(e.Ops, ","), strings.Join(ops, ","))
	if j.pub != nil {
		check("public key sha256", e.PublicKeySHA256, words.Sum(j.pub).Hex())
	}
	if j.kcv != "" {
		check("key check value", e.KCV, j.kcv)
	}
	if len(diffs) > 0 {
		return hinted(fmt.Errorf("--key %s: %s is already recorded in ceremony %s, by event %d, for another export: it has %s", j.src, art, r.req.CeremonyDir, e.Seq, strings.Join(diffs, "; ")),
			"a ceremony keeps one file per name, and running an export again resumes it only with the same --key, --kek, --kid, --name and --ops",
			"to export this key anew, record it in another ceremony directory")
	}
	blob, err := r.cer.ReadArtifact(art)
	if err != nil {
		return hinted(fmt.Errorf("--key %s: %s is recorded in ceremony %s (event %d), but cannot be read back: %w", j.src, art, r.req.CeremonyDir, e.Seq, err),
			fmt.Sprintf("run keyrite transcript verify %s to see what is damaged", r.req.CeremonyDir))
	}
	b, err := byok.ParseBlob(blob)
	if err != nil || b.Kid != kek.Kid {
		return hinted(fmt.Errorf("--key %s: %s recorded in ceremony %s (event %d) is not a .byok for KEK %s", j.src, art, r.req.CeremonyDir, e.Seq, kek.Kid),
			fmt.Sprintf("run keyrite transcript verify %s", r.req.CeremonyDir))
	}
	j.resumed, j.seq = e, e.Seq
	j.blob, j.ciphertext, j.generator, j.mechanism = blob, b.Ciphertext, b.Generator, e.Mechanism
	if j.name == "" {
		j.name = e.Name
	}
	return nil
}

func typeOfKty(kty string) byok.KeyType {
	for _, t := range []byok.KeyType{byok.TypeRSA, byok.TypeEC, byok.TypeAES} {
		if t.JWKType() == kty {
			return t
		}
	}
	return ""
}

// isStagingDir reports whether name is how fsx.TempDirFor names a
// directory beside the output base (".BASE.tmp-N"), where a run writes its
// files before it publishes them.
func isStagingDir(name, base string) bool {
	rest, ok := strings.CutPrefix(name, "."+base+".tmp-")
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// recoverStale removes the unfinished output directories that interrupted
// runs for the same output left (".OUT.tmp-N", fsx.TempDirFor's naming):
// what is in them was never published. A directory a live run holds (its
// lock) is left alone. Each removal is reported and, with a ceremony,
// recorded, saying how many of its files the ceremony records.
func (r *run) recoverStale() error {
	target, _ := r.target()
	parent, base := filepath.Dir(target), filepath.Base(target)
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil // plan checked it exists; publishing will say what is wrong
	}
	for _, ent := range ents {
		name := ent.Name()
		if !isStagingDir(name, base) || ent.Type() != fs.ModeDir {
			continue
		}
		path := filepath.Join(parent, name)
		lock, err := lockDir(path)
		if err != nil {
			continue // a live run's, or not ours to judge
		}
		files, recorded, unrecorded := r.staleContents(path)
		err = os.RemoveAll(path)
		lock.Close()
		if err != nil {
			return hinted(fmt.Errorf("removing %s, the unfinished output directory of an interrupted export: %w", path, fsx.UnwrapPathErr(err)),
				"remove it by hand: nothing in it was published")
		}
		fsx.SyncDir(parent)
		msg := fmt.Sprintf("removed %s, the unfinished output directory of an interrupted export (%d file(s)", path, files)
		if r.cer != nil {
			msg += fmt.Sprintf(", %d of them recorded in the ceremony", recorded)
		}
		r.note(msg + "); nothing in it had been published")
		if r.cer != nil {
			if err := r.recordCleanup(name, files, recorded, unrecorded); err != nil {
				return err
			}
		}
	}
	return nil
}

// lockDir opens a directory and takes its lock without waiting: the run
// that made a staging directory holds it until the directory is published
// or removed.
func lockDir(path string) (*os.File, error) {
	d, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// staleContents counts the finished files of a stale staging directory, and
// which of them the ceremony records with the same content.
func (r *run) staleContents(dir string) (files, recorded int, unrecorded []string) {
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		n := ent.Name()
		if !ent.Type().IsRegular() || strings.HasPrefix(n, ".") {
			continue // fsx's temporary files: never finished
		}
		files++
		if r.cer == nil {
			continue
		}
		// Only a name the ceremony binds can be recorded: read no other.
		if b, ok := r.cer.BoundBy(n); ok {
			ref, _ := b.Artifact(n)
			data, err := fsx.ReadLimited(filepath.Join(dir, n), "file", 1<<20)
			if err == nil && words.Sum(data).Hex() == ref.SHA256 {
				recorded++
				continue
			}
		}
		unrecorded = append(unrecorded, n)
	}
	return files, recorded, unrecorded
}

func (r *run) recordCleanup(dir string, files, recorded int, unrecorded []string) error {
	x := steps.BYOKExportCleanup{Common: steps.Common{Actor: r.req.Actor, Result: "ok"}, Directory: dir, Files: files, Recorded: recorded}
	if len(unrecorded) > 0 {
		slices.Sort(unrecorded)
		x.Deviations = []string{steps.DiscardedDeviation(unrecorded)}
	}
	if err := r.cer.Record(x.Event()); err != nil {
		return hinted(fmt.Errorf("recording the removal of %s in ceremony %s: %w", dir, r.req.CeremonyDir, err))
	}
	return nil
}

// checkOutput decides about an output that exists. It is refused, as
// outputs are never overwritten, unless it is exactly what this export,
// every key of it already recorded in the ceremony, publishes: an earlier
// run completed, and there is nothing to do.
func (r *run) checkOutput() error {
	target, flagName := r.target()
	if _, err := os.Lstat(target); err != nil {
		return nil
	}
	if r.cer != nil && r.published(target) {
		r.complete = true
		r.note(fmt.Sprintf("every key is already recorded in ceremony %s and %s holds exactly the recorded files: nothing to do", r.req.CeremonyDir, target))
		return nil
	}
	return checkNewPath(target, flagName)
}

// published reports whether target holds exactly the recorded .byok of
// every key.
func (r *run) published(target string) bool {
	want := map[string][]byte{}
	for _, j := range r.jobs {
		if j.resumed == nil {
			return false
		}
		want[filepath.Base(j.out)] = j.blob
	}
	same := func(path string, blob []byte) bool {
		st, err := os.Lstat(path)
		if err != nil || !st.Mode().IsRegular() || st.Size() != int64(len(blob)) {
			return false
		}
		data, err := os.ReadFile(path)
		return err == nil && bytes.Equal(data, blob)
	}
	if r.req.OutDir == "" {
		return same(target, r.jobs[0].blob)
	}
	ents, err := os.ReadDir(target)
	if err != nil || len(ents) != len(want) {
		return false
	}
	for _, ent := range ents {
		blob, ok := want[ent.Name()]
		if !ok || !same(filepath.Join(target, ent.Name()), blob) {
			return false
		}
	}
	return true
}

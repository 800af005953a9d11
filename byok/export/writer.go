package export

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/internal/base/buildinfo"
	"github.com/keyrite/keyrite/internal/base/fsx"
)

// softMechanism is how soft-form keys are wrapped.
const softMechanism = "software: RSA-OAEP-SHA1 || RFC 5649 (byok.Wrap)"

// exportAll wraps every key not already recorded, HSM keys in one session
// and soft keys in software, and hands each .byok to a blobWriter as soon
// as it is made; keys resumed from the ceremony go to it first.
func (r *run) exportAll() (err error) {
	kek := r.req.KEK
	w := &blobWriter{kek: kek, target: r.req.Out, batch: r.req.OutDir != ""}
	if w.batch {
		w.target = r.req.OutDir
	}
	if r.cer != nil {
		w.record = r.record
	}
	defer func() {
		if err != nil {
			w.abort()
		}
	}()
	var hsmJobs []*job
	for _, j := range r.jobs {
		switch {
		case j.resumed != nil:
			if err := r.add(w, j); err != nil {
				return err
			}
		case j.uri != nil:
			hsmJobs = append(hsmJobs, j)
		}
	}
	if len(hsmJobs) > 0 {
		if err := r.exportFromHSM(hsmJobs, w); err != nil {
			return err
		}
	}
	rnd := r.req.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	for _, j := range r.jobs {
		if j.soft == nil || j.resumed != nil {
			continue
		}
		ct, err := byok.Wrap(kek, j.soft.Plaintext, rnd)
		j.soft.Wipe()
		if err != nil {
			return keyErr(j.src, err)
		}
		j.ciphertext, j.mechanism = ct, softMechanism
		j.generator = buildinfo.Generator() + "; software key file"
		if err := r.add(w, j); err != nil {
			return err
		}
	}
	return w.finish()
}

// add hands a wrapped key to the writer and reports progress.
func (r *run) add(w *blobWriter, j *job) error {
	if err := w.add(j); err != nil {
		return err
	}
	r.done++
	if r.req.Progress != nil {
		r.req.Progress(r.done, len(r.jobs))
	}
	return nil
}

// blobWriter writes the .byok files on its own goroutine while the HSM
// works on the next key, reads each back, records it (see the package
// doc), and publishes them when every key is done.
//
// Files are written into a staging directory beside the output
// (fsx.TempDirFor: ".OUT.tmp-N"), which the writer holds locked, so that a
// later run can tell an abandoned one (see recoverStale) from a live one.
// A batch directory is published whole (fsx.CommitDir); a single file is
// moved from it into place the same way, and the empty directory removed.
type blobWriter struct {
	kek    *byok.KEK
	target string // the output: the batch directory or the single file
	batch  bool
	// record, when set, records a key once its file is read back.
	record func(*job) error

	started bool
	tmp     string
	lock    *os.File // tmp, locked
	queue   chan *job
	done    chan error

	mu  sync.Mutex
	err error // the writer's first error
}

// add builds j's .byok (unless it is a recorded one) and queues it for
// writing. It returns the writer's first error, if one has already
// happened.
func (w *blobWriter) add(j *job) error {
	if j.out == "" {
		return fmt.Errorf("--key %s: no output name", j.src)
	}
	if j.blob == nil {
		j.blob = byok.NewBlob(w.kek, j.ciphertext, j.generator).Marshal()
	}
	if !w.started {
		if err := w.start(); err != nil {
			return err
		}
	}
	if err := w.failed(); err != nil {
		return err // stop exporting: the batch is lost anyway
	}
	w.queue <- j
	return nil
}

func (w *blobWriter) start() error {
	flagName, hint := "--out", "outputs are never overwritten: choose a new name"
	if w.batch {
		flagName, hint = "--out-dir", "outputs are never overwritten: choose a new directory"
	}
	tmp, err := fsx.TempDirFor(w.target)
	if err != nil {
		return writeErr(fmt.Errorf("%s: %w", flagName, err), hint)
	}
	w.tmp = tmp
	if w.lock, err = lockDir(tmp); err != nil {
		w.removeTmp()
		return fmt.Errorf("%s: locking the staging directory: %w", flagName, fsx.UnwrapPathErr(err))
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		w.removeTmp()
		return fmt.Errorf("%s: %w", flagName, fsx.UnwrapPathErr(err)) // its path is the temporary name
	}
	w.queue, w.done = make(chan *job, 64), make(chan error, 1)
	w.started = true
	go w.run()
	return nil
}

func (w *blobWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *blobWriter) run() {
	var first error
	for j := range w.queue {
		if first != nil {
			continue
		}
		p := filepath.Join(w.tmp, filepath.Base(j.out))
		if err := fsx.WriteNew(p, j.blob, 0o644); err != nil {
			first = writeErr(fmt.Errorf("writing %s: %w", j.out, fsx.UnwrapPathErr(err)), "outputs are never overwritten: choose a new name")
		} else {
			first = readBack(j, w.kek, p)
		}
		if first == nil && j.resumed == nil && w.record != nil {
			first = w.record(j)
		}
		if first != nil {
			w.mu.Lock()
			w.err = first
			w.mu.Unlock()
		}
	}
	w.done <- first
}

// finish waits for the writes and publishes the output.
func (w *blobWriter) finish() error {
	if !w.started {
		return errors.New("no key was exported")
	}
	close(w.queue)
	w.started = false
	if err := <-w.done; err != nil {
		w.removeTmp()
		return err
	}
	if w.batch {
		if err := fsx.CommitDir(w.tmp, w.target); err != nil {
			w.removeTmp()
			return writeErr(fmt.Errorf("--out-dir: %w", err), "outputs are never overwritten: choose a new directory")
		}
		w.tmp = ""
		w.unlock()
		return nil
	}
	// fsx.CommitDir renames without replacing, and fsyncs the directory
	// (taking the file back on failure): a file as well as a directory.
	if err := fsx.CommitDir(filepath.Join(w.tmp, filepath.Base(w.target)), w.target); err != nil {
		w.removeTmp()
		return writeErr(fmt.Errorf("--out: %w", err), "outputs are never overwritten: choose a new name")
	}
	w.removeTmp() // empty now
	return nil
}

// abort stops the writer and removes the staging directory: nothing is
// published.
func (w *blobWriter) abort() {
	if w.started {
		close(w.queue)
		w.started = false
		<-w.done
	}
	w.removeTmp()
}

// writeErr gives a failed write its hint only when an output was in the
// way: a full disk or an I/O error is not fixed by choosing a new name.
func writeErr(err error, existHint string) error {
	if errors.Is(err, fs.ErrExist) {
		return hinted(err, existHint)
	}
	return hinted(err)
}

func (w *blobWriter) removeTmp() {
	if w.tmp != "" {
		os.RemoveAll(w.tmp)
		w.tmp = ""
	}
	w.unlock()
}

func (w *blobWriter) unlock() {
	if w.lock != nil {
		w.lock.Close()
		w.lock = nil
	}
}

// checkBlob parses a written .byok and checks it against what was meant:
// same kid, ciphertext and generator, and a ciphertext length that fits the
// KEK size and the target type.
func checkBlob(data []byte, kek *byok.KEK, j *job) error {
	b, err := byok.ParseBlob(data)
	if err != nil {
		return fmt.Errorf("read-back of %s: %w", j.out, libErr(err))
	}
	if b.Kid != kek.Kid || !bytes.Equal(b.Ciphertext, j.ciphertext) || b.Generator != j.generator {
		return fmt.Errorf("read-back of %s: the file does not hold the blob that was written", j.out)
	}
	if j.info.Type == "" {
		return nil // a key resumed from the ceremony, not read from its token: checked when it was recorded
	}
	if err := byok.CheckCiphertextLen(kek, j.info, len(b.Ciphertext)); err != nil {
		return fmt.Errorf("read-back of %s: %w", j.out, libErr(err))
	}
	return nil
}

func readBack(j *job, kek *byok.KEK, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read-back of %s: %w", j.out, fsx.UnwrapPathErr(err)) // its path is the staging one
	}
	if !bytes.Equal(data, j.blob) {
		return fmt.Errorf("read-back of %s: the file differs from what was written", j.out)
	}
	return checkBlob(data, kek, j)
}

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
	"github.com/keyrite/keyrite/internal/buildinfo"
	"github.com/keyrite/keyrite/internal/fsx"
)

// softMechanism is how soft-form keys are wrapped.
const softMechanism = "software: RSA-OAEP-SHA1 || RFC 5649 (byok.Wrap)"

// exportAll wraps every key, HSM keys in one session and soft keys in
// software, and hands each .byok to a blobWriter as soon as it is made.
func (r *run) exportAll() (err error) {
	kek := r.req.KEK
	w := &blobWriter{kek: kek, outDir: r.req.OutDir}
	defer func() {
		if err != nil {
			w.abort()
		}
	}()
	var hsmJobs []*job
	for _, j := range r.jobs {
		if j.uri != nil {
			hsmJobs = append(hsmJobs, j)
		}
	}
	if len(hsmJobs) > 0 {
		if err := r.exportFromHSM(hsmJobs, w); err != nil {
			return err
		}
	}
	for _, j := range r.jobs {
		if j.soft == nil {
			continue
		}
		rnd := r.req.Rand
		if rnd == nil {
			rnd = rand.Reader
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
// works on the next key, and reads each back (see the package doc).
type blobWriter struct {
	kek    *byok.KEK
	outDir string

	started bool
	tmp     string
	queue   chan *job
	done    chan error

	mu  sync.Mutex
	err error // the writer's first error
}

// add builds j's .byok and queues it for writing. It returns the writer's
// first error, if one has already happened.
func (w *blobWriter) add(j *job) error {
	if j.out == "" {
		return fmt.Errorf("--key %s: no output name", j.src)
	}
	j.blob = byok.NewBlob(w.kek, j.ciphertext, j.generator).Marshal()
	if !w.started {
		if w.outDir != "" {
			tmp, err := fsx.TempDirFor(w.outDir)
			if err != nil {
				return hinted(fmt.Errorf("--out-dir: %w", err), "outputs are never overwritten: choose a new directory")
			}
			w.tmp = tmp
			if err := os.Chmod(tmp, 0o755); err != nil {
				return err
			}
		}
		w.queue, w.done = make(chan *job, 64), make(chan error, 1)
		w.started = true
		go w.run()
	}
	if err := w.failed(); err != nil {
		return err // stop exporting: the batch is lost anyway
	}
	w.queue <- j
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
		p := j.out
		if w.tmp != "" {
			p = filepath.Join(w.tmp, filepath.Base(j.out))
		}
		if err := fsx.WriteNew(p, j.blob, 0o644); err != nil {
			first = writeErr(fmt.Errorf("writing %s: %w", j.out, fsx.UnwrapPathErr(err)), "outputs are never overwritten: choose a new name")
		} else {
			first = readBack(j, w.kek, p)
		}
		if first != nil {
			w.mu.Lock()
			w.err = first
			w.mu.Unlock()
		}
	}
	w.done <- first
}

// finish waits for the writes and commits a batch directory.
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
	if w.tmp != "" {
		if err := fsx.CommitDir(w.tmp, w.outDir); err != nil {
			w.removeTmp()
			return writeErr(fmt.Errorf("--out-dir: %w", err), "outputs are never overwritten: choose a new directory")
		}
		w.tmp = ""
	}
	return nil
}

// abort stops the writer and removes a batch's temporary directory. A
// single Out already written stays: it was complete and checked.
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
	if err := byok.CheckCiphertextLen(kek, j.info, len(b.Ciphertext)); err != nil {
		return fmt.Errorf("read-back of %s: %w", j.out, libErr(err))
	}
	return nil
}

func readBack(j *job, kek *byok.KEK, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read-back of %s: %w", j.out, err)
	}
	if !bytes.Equal(data, j.blob) {
		return fmt.Errorf("read-back of %s: the file differs from what was written", j.out)
	}
	return checkBlob(data, kek, j)
}

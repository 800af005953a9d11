package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// memFS serves the testdata files from memory, so that fuzzing never
// reads what a mutated plan names elsewhere on disk.
type memFS map[string][]byte

func (m memFS) ReadFile(path, what string, limit int64) ([]byte, error) {
	data, ok := m[filepath.ToSlash(filepath.Clean(path))]
	if !ok {
		return nil, fmt.Errorf("%s %s: no such file", what, path)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s %s: larger than %d KiB", what, path, limit>>10)
	}
	return bytes.Clone(data), nil
}

func testFiles(f *testing.F) memFS {
	m := memFS{}
	entries, err := os.ReadDir(filepath.Join(testdata, "files"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(testdata, "files", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		m["testdata/files/"+e.Name()] = data
	}
	return m
}

// FuzzParse: no input panics; a plan is either refused with line-numbered
// problems and no Plan, or accepted whole, printable in both formats.
// Seeded with the templates, the testdata plans and a few broken ones.
func FuzzParse(f *testing.F) {
	files := testFiles(f)
	for _, kind := range Kinds {
		tmpl, err := Template(kind)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tmpl)
	}
	for _, name := range []string{"byok.yaml", "activation.yaml", "restore.yaml"} {
		data, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(bytes.Replace(data, []byte("quorum: 2"), []byte("quorum: 11"), 1))
		f.Add(bytes.Replace(data, []byte("name:"), []byte("nmae:"), 1))
		f.Add(append(bytes.Clone(data), "\n---\nkind: x\n"...))
	}
	f.Add([]byte("a: &x [*x, *x]\n"))
	f.Add([]byte("keyrite_plan: !!binary AQ==\n"))
	f.Add([]byte("<<: {kind: byok}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("plan.yaml", testdata, data, files)
		if (p == nil) == (err == nil) {
			t.Fatalf("plan %v, error %v: want exactly one", p != nil, err)
		}
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 || len(errs.List) > maxErrors {
				t.Fatalf("error %T %v: want 1 to %d problems", err, err, maxErrors)
			}
			if !strings.HasPrefix(err.Error(), "plan.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(p.Steps) == 0 || p.Steps[len(p.Steps)-1].Kind != StepSign {
			t.Fatalf("accepted plan without its closing step: %+v", p.Steps)
		}
		for i, s := range p.Steps {
			if s.N != i+1 {
				t.Fatalf("step %d numbered %d", i+1, s.N)
			}
		}
		for _, format := range []string{FormatText, FormatMarkdown} {
			if err := p.WriteScript(io.Discard, format, p.CheckReview(nil)); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Contains(p.NoteText(), []byte(p.Digest.Hex())) {
			t.Fatal("the note text does not bind the digest")
		}
	})
}

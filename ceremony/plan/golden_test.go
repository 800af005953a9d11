package plan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGoldenScripts pins the printed script of each testdata plan, as text
// and as markdown: a change there is a change participants will read.
func TestGoldenScripts(t *testing.T) {
	for _, name := range []string{"byok", "activation", "restore"} {
		p, err := Read(filepath.Join("testdata", name+".yaml"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, format := range []string{FormatText, FormatMarkdown} {
			var b bytes.Buffer
			if err := p.WriteScript(&b, format, p.CheckReview(nil)); err != nil {
				t.Fatal(err)
			}
			ext := ".txt"
			if format == FormatMarkdown {
				ext = ".md"
			}
			golden := filepath.Join("testdata", "golden", name+ext)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s: the script differs from %s (run with -update and review the diff):\n%s", name, golden, b.String())
			}
		}
	}
}

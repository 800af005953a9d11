package plan

import (
	"embed"
	"fmt"
	"slices"
	"strings"
)

//go:embed templates/*.yaml
var templates embed.FS

// Template returns the commented template of a kind of plan. Its "FILL IN"
// values are placeholders: the template passes Parse only once each is
// replaced.
func Template(kind string) ([]byte, error) {
	if !slices.Contains(Kinds, kind) {
		return nil, fmt.Errorf("plan kind %q: want one of %s", kind, strings.Join(Kinds, ", "))
	}
	return templates.ReadFile("templates/" + kind + ".yaml")
}

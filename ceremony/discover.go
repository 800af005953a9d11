package ceremony

import (
	"fmt"
	"sort"
	"strings"

	"github.com/keyrite/keyrite/hsm"
)

// Discovery lists PKCS#11 modules, tokens and objects so that the person
// chooses from lists instead of typing URIs. The binary passes package
// hsm's discovery; a nil member leaves only typing.
type Discovery struct {
	// Modules lists the PKCS#11 modules found on the machine.
	Modules func() []ModuleChoice
	// Tokens lists the tokens of a module (present or not).
	Tokens func(module string) ([]TokenChoice, error)
	// Objects lists the key objects of a token; with a PIN it logs in
	// first (private objects are listed only then), treating the PIN
	// counter as login says.
	Objects func(module string, token TokenChoice, pin []byte, login hsm.LoginOptions) ([]ObjectChoice, error)
	// Certificates lists a token's certificates without a login.
	Certificates func(module string, token TokenChoice) ([]CardCert, error)
}

// A ModuleChoice is a PKCS#11 module found on the machine.
type ModuleChoice struct {
	Path   string
	Source string // where it was found (a p11-kit file, a well-known path)
}

// A TokenChoice is a token as listed.
type TokenChoice struct {
	Label, Manufacturer, Model, Serial string
	Present                            bool
	// Flags says what the token reports of its PIN: "PIN locked",
	// "final PIN try", "PIN count low", or "".
	Flags string
}

// String is the token's line in a list.
func (t TokenChoice) String() string {
	s := fmt.Sprintf("%s  (%s %s, serial %s)", t.Label, t.Manufacturer, t.Model, t.Serial)
	if !t.Present {
		s += "  not present"
	}
	if t.Flags != "" {
		s += "  " + t.Flags
	}
	return s
}

// An ObjectChoice is a key object as listed.
type ObjectChoice struct {
	URI   string // names exactly this object, with module-path
	Label string
	ID    string // hex
	Class string // "private key", "secret key", "public key", "certificate"
	Type  string // e.g. "RSA 2048", "EC P-256", "AES 256"
	// Extractable, Sensitive and NeverExtractable are the object's
	// CKA_ attributes.
	Extractable, Sensitive, NeverExtractable bool
}

// Exportable reports whether the object can be exported under a KEK.
func (o ObjectChoice) Exportable() bool {
	return (o.Class == "private key" || o.Class == "secret key") && o.Extractable
}

// String is the object's line in a list.
func (o ObjectChoice) String() string {
	var flags []string
	if !o.Extractable {
		flags = append(flags, "not extractable")
	}
	if o.Sensitive {
		flags = append(flags, "sensitive")
	}
	if o.NeverExtractable {
		flags = append(flags, "never extractable")
	}
	s := fmt.Sprintf("%-20s %-10s %-12s id %s", o.Label, o.Type, o.Class, orDash(o.ID))
	if len(flags) > 0 {
		s += "  " + strings.Join(flags, ", ")
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sortedObjects lists objects by label, then class, then id.
func sortedObjects(m map[string]ObjectChoice) []ObjectChoice {
	out := make([]ObjectChoice, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Label != b.Label {
			return a.Label < b.Label
		}
		if a.Class != b.Class {
			return a.Class < b.Class
		}
		return a.ID < b.ID
	})
	return out
}

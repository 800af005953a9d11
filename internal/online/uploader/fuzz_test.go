package uploader

import (
	"strings"
	"testing"
)

// FuzzParseChallenge: any WWW-Authenticate header is parsed without panic,
// and with verification a token is only ever requested for a resource the
// request's host belongs to.
func FuzzParseChallenge(f *testing.F) {
	f.Add(`Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net"`, "demo.vault.azure.net")
	f.Add(`Bearer authorization="https://login.microsoftonline.com/t", scope="https://managedhsm.azure.net/.default"`, "x.managedhsm.azure.net")
	f.Add(`Bearer authorization=", resource=`, "")
	f.Add(`Basic realm="x"`, "h")
	f.Fuzz(func(t *testing.T, header, host string) {
		tro, err := parseChallenge(header, host, true)
		if err != nil {
			return
		}
		if len(tro.Scopes) != 1 || !strings.HasSuffix(tro.Scopes[0], "/.default") || !strings.HasPrefix(tro.Scopes[0], "https://") {
			t.Fatalf("scopes %q from %q", tro.Scopes, header)
		}
	})
}

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestOnlineBinariesLinkNoPKCS11: the online side never touches an HSM, so
// the uploader and the emulator link neither keyrite's hsm package nor
// miekg/pkcs11, and build without cgo (beside the offline binary's test
// that it links no network code).
func TestOnlineBinariesLinkNoPKCS11(t *testing.T) {
	for _, pkg := range []string{"github.com/keyrite/keyrite/cmd/keyrite-uploader", "github.com/keyrite/keyrite/cmd/keyrite-emulator"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == "github.com/keyrite/keyrite/hsm" || strings.HasPrefix(dep, "github.com/keyrite/keyrite/hsm/") ||
				strings.HasPrefix(dep, "github.com/miekg/pkcs11") || dep == "github.com/keyrite/keyrite/byok/export" {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
	cmd := exec.Command("go", "build", "-o", t.TempDir()+"/", "github.com/keyrite/keyrite/cmd/keyrite-uploader", "github.com/keyrite/keyrite/cmd/keyrite-emulator")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build of the online binaries: %v\n%s", err, out)
	}
}

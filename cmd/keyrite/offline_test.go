package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOfflineBinaryHasNoNetworkCode keeps the air-gapped binary free of
// network clients: nothing reachable from cmd/keyrite may be an HTTP or TLS
// stack, the Azure SDK, or keyrite's own online packages.
func TestOfflineBinaryHasNoNetworkCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"net/http", "crypto/tls", "net/rpc", "net/smtp",
		"github.com/Azure/", "github.com/AzureAD/",
		"github.com/keyrite/keyrite/internal/online/uploader", "github.com/keyrite/keyrite/internal/online/emulator",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if pkg == f || strings.HasPrefix(pkg, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(pkg, f)) {
				t.Errorf("cmd/keyrite depends on %s", pkg)
			}
		}
	}
}

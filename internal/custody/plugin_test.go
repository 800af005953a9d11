package custody

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"filippo.io/age/plugin"
)

// TestPluginRoundTrip runs the age plugin protocol for real: share 1 goes to
// a plugin recipient ("age1keyritetest1..."), encrypted by the plugin binary
// testdata/age-plugin-keyritetest on PATH, and is opened by its plugin
// identity ("AGE-PLUGIN-KEYRITETEST-1..."), again through the binary.
func TestPluginRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin binary")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "age-plugin-keyritetest"), "./testdata/age-plugin-keyritetest")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test plugin: %v\n%s", err, out)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	native, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	rs := plugin.EncodeRecipient("keyritetest", []byte(native.Recipient().String()))
	is := plugin.EncodeIdentity("keyritetest", []byte(native.String()))
	var shown []string
	ui := &plugin.ClientUI{DisplayMessage: func(name, msg string) error { shown = append(shown, msg); return nil }}

	r, err := ParseRecipient(rs, ui)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != "plugin:keyritetest" || r.String != rs {
		t.Fatalf("kind %q string %q", r.Kind, r.String)
	}
	other := x25519Custodian(t)
	res, err := Split([]byte("so-pin"), 2, []*Recipient{r, other.rcpt})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "s")
	if err := WriteDir(dir, res); err != nil {
		t.Fatal(err)
	}
	ids, err := ParseIdentities("yk.txt", []byte("# plugin identity\n"+is+"\n"), ui, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, cr, err := Combine(dir, append(ids, other.id))
	if err != nil || string(got) != "so-pin" {
		t.Fatalf("%v %q", err, got)
	}
	if fmt.Sprint(cr.Used) != "[1 2]" {
		t.Fatalf("used %v", cr.Used)
	}

	// Once the plugin is gone, combining fails clearly instead of skipping
	// the share as if it were someone else's.
	t.Setenv("PATH", t.TempDir())
	if _, err := ParseIdentities("yk.txt", []byte(is+"\n"), ui, nil); !errors.Is(err, ErrPluginNotFound) {
		t.Fatalf("got %v", err)
	}
}

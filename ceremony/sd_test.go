package ceremony_test

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/ceremonytest"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/fsx/fsxfault"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
)

// card is a custodian key standing in for one on a smartcard: it works
// only while the card is "inserted" (between OpenCustodian and its close),
// and can fail its first decryption as a flaky token would.
type card struct {
	key      securitydomain.Decrypter
	inserted *bool
	flaky    *bool // fail the next decryption, once
}

func (c *card) Public() crypto.PublicKey { return c.key.Public() }
func (c *card) Mechanism() string        { return "card" }

func (c *card) DecryptOAEPSHA256(ct []byte) ([]byte, error) {
	if !*c.inserted {
		return nil, errors.New("the card was used after it was removed")
	}
	if *c.flaky {
		*c.flaky = false
		return nil, errors.New("CKR_DEVICE_ERROR")
	}
	return c.key.DecryptOAEPSHA256(ct)
}

// cards is an OpenCustodian backend over the vector's PEM keys, named by
// the "URI" wrap_N; flaky names the cards whose first decryption fails.
func cards(t *testing.T, flaky ...string) func(string, func(string) ([]byte, error), hsm.LoginOptions) (securitydomain.Custodian, func() error, error) {
	inserted := false
	fails := map[string]*bool{}
	for _, f := range flaky {
		fails[f] = new(bool)
		*fails[f] = true
	}
	return func(uri string, pin func(string) ([]byte, error), _ hsm.LoginOptions) (securitydomain.Custodian, func() error, error) {
		if inserted {
			t.Error("a card is still inserted")
		}
		if _, err := pin("PIN for " + uri); err != nil {
			return securitydomain.Custodian{}, nil, err
		}
		key, err := securitydomain.ParsePrivateKeyPEM(mustRead(t, sdSet+"/"+uri+".pem"), nil)
		if err != nil {
			return securitydomain.Custodian{}, nil, err
		}
		cert, err := securitydomain.ParseCertificate(mustRead(t, sdSet+"/"+uri+".cer"))
		if err != nil {
			return securitydomain.Custodian{}, nil, err
		}
		inserted = true
		c := &card{key: securitydomain.SoftwareKey(key), inserted: &inserted, flaky: new(bool)}
		if f, ok := fails[uri]; ok {
			c.flaky = f
		}
		return securitydomain.Custodian{Name: uri, Cert: cert, Key: c}, func() error { inserted = false; return nil }, nil
	}
}

// TestSDRestoreCardsOnlyWhilePresent: each card is used only while it is
// inserted (nothing replays its decryption later); a card whose decryption
// fails may be tried again; the restore is recorded as the subcommand
// records it, with the blob written being the one recorded.
func TestSDRestoreCardsOnlyWhilePresent(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "blob.json")
	cer := filepath.Join(dir, "cer")
	ui := ceremonytest.New(t, sdSet+"/sd.json", sdSet+"/exchange_cert.pem", exchWords(t, sdSet+"/exchange_cert.pem"), out, "y",
		"1", "wrap_1", "1111", // the token fails: refused, asked again
		"1", "wrap_1", "1111",
		"1", "wrap_2", "2222")
	e := &ceremony.Engine{UI: ui, CeremonyDir: cer}
	e.Backends.OpenCustodian = cards(t, "wrap_1")
	if err := e.SDRestore(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains("error: Custodian 1's share was not opened", "wrap_1: SharedKeys.enc_shares[1]: CKR_DEVICE_ERROR", "custodian 1: share opened (x=2, card)",
		"custodian 2: share opened (x=3", "Recorded in the ceremony transcript", "ok: Restore blob written")
	checkBlob(t, out, sdSet)
	rep, err := transcripts.Verify(cer, nil)
	if err != nil {
		t.Fatal(err)
	}
	var restores []transcripts.Entry
	for _, ev := range rep.Events {
		if ev.Step == "sd.restore" {
			restores = append(restores, ev)
		}
	}
	if len(restores) != 1 || !strings.HasSuffix(restores[0].Action, "(guided)") {
		t.Fatalf("events %+v", restores)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(cer, "artifacts", "restore_blob.json")), mustRead(t, out)) {
		t.Fatal("the blob written is not the one recorded")
	}
}

// TestSDRestoreRecordFailsWritesNothing: the guided restore records the
// blob before writing it, as `keyrite sd restore` does: a failed recording
// leaves no blob.
func TestSDRestoreRecordFailsWritesNothing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "blob.json")
	cer := filepath.Join(dir, "cer")
	ui := ceremonytest.New(t, sdSet+"/sd.json", sdSet+"/exchange_cert.pem", exchWords(t, sdSet+"/exchange_cert.pem"), out, "y",
		"2", sdSet+"/wrap_0.pem", "2", sdSet+"/wrap_1.pem")
	e := &ceremony.Engine{UI: ui, CeremonyDir: cer}
	restore := fsxfault.Set(fsxfault.Fault{Op: fsxfault.Link, Path: filepath.Join(cer, "artifacts", "restore_blob.json")})
	err := e.SDRestore()
	restore()
	if err == nil {
		t.Fatalf("no error\n%s", ui.Log())
	}
	ui.Contains("error: the step could not be recorded; nothing was written")
	if _, err := os.Stat(out); err == nil {
		t.Fatal("an unrecorded blob was written")
	}
}

// TestSDRestoreSecondInCeremonyRefused: a second restore into one ceremony
// is refused before any custodian is called.
func TestSDRestoreSecondInCeremonyRefused(t *testing.T) {
	dir := t.TempDir()
	cer := filepath.Join(dir, "cer")
	for i, out := range []string{"a.json", "b.json"} {
		answers := []string{sdSet + "/sd.json", sdSet + "/exchange_cert.pem", exchWords(t, sdSet+"/exchange_cert.pem"), filepath.Join(dir, out), "y"}
		if i == 0 {
			answers = append(answers, "2", sdSet+"/wrap_0.pem", "2", sdSet+"/wrap_1.pem")
		}
		ui := ceremonytest.New(t, answers...)
		err := (&ceremony.Engine{UI: ui, CeremonyDir: cer}).SDRestore()
		if (err != nil) != (i == 1) {
			t.Fatalf("restore %d: %v\n%s", i, err, ui.Log())
		}
		if i == 1 && (!strings.Contains(err.Error(), "already records restore_blob.json") || strings.Contains(ui.Log(), "Custodian 1")) {
			t.Fatalf("second restore: %v\n%s", err, ui.Log())
		}
	}
}

// TestDrillRecorded: the guided drill records the step, as `keyrite sd
// verify --ceremony` does; a key with no share is in the report once.
func TestDrillRecorded(t *testing.T) {
	cer := filepath.Join(t.TempDir(), "cer")
	ui := ceremonytest.New(t, sdSet+"/sd.json", "y",
		"2", vectors+"/sd/negative/foreign.pem", "y",
		"2", sdSet+"/wrap_0.pem", "y",
		"2", sdSet+"/wrap_2.pem", "n")
	if err := (&ceremony.Engine{UI: ui, CeremonyDir: cer}).Drill(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	ui.Contains("Drill passed", "2 opened, 2 required", "Recorded in the ceremony transcript")
	if n := strings.Count(ui.Log(), "NOT opened with ../testvectors/sd/negative/foreign.pem: securitydomain: no share for this certificate"); n != 1 {
		t.Errorf("the foreign key is shown %d times in the summary:\n%s", n, ui.Log())
	}
	rep, err := transcripts.Verify(cer, nil)
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Events[len(rep.Events)-1]
	if last.Step != "sd.verify" || last.Result != "ok" || last.Inputs[0].Name != "security_domain.json" {
		t.Fatalf("last event %+v", last)
	}
}

// TestDrillRetriedPINNotFailed: a custodian whose PIN was wrong and who
// then opened their share is not listed as failed in the passed report
// (before, the retried PIN showed as a failed custodian); keys are named
// "key N", not by their whole URI.
func TestDrillRetriedPINNotFailed(t *testing.T) {
	open := cards(t)
	tries := 0
	ui := ceremonytest.New(t, sdSet+"/sd.json", "y",
		"1", "wrap_0", "0000", "y", // a wrong PIN; try another key
		"1", "wrap_0", "1111", "y", // the right one; another custodian
		"1", "wrap_2", "2222", "n")
	e := &ceremony.Engine{UI: ui}
	e.Backends.OpenCustodian = func(uri string, pin func(string) ([]byte, error), l hsm.LoginOptions) (securitydomain.Custodian, func() error, error) {
		tries++
		if tries == 1 {
			if _, err := pin("PIN"); err != nil {
				return securitydomain.Custodian{}, nil, err
			}
			return securitydomain.Custodian{}, nil, fmt.Errorf("token %q: %w", uri, hsm.ErrPINIncorrect)
		}
		return open(uri, pin, l)
	}
	if err := e.Drill(); err != nil {
		t.Fatalf("%v\n%s", err, ui.Log())
	}
	log := ui.Log()
	report := log[strings.LastIndex(log, "Drill passed"):]
	if strings.Contains(report, "no key offered") || strings.Contains(report, "PIN incorrect") {
		t.Errorf("the retried PIN is in the passed report:\n%s", report)
	}
	if !strings.Contains(report, "key 1:") || !strings.Contains(report, "opened share") {
		t.Errorf("report:\n%s", report)
	}
}

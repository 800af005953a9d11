package steps

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/keyrite/keyrite/transcripts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func text(s string) []byte { return []byte(s + "\n") }

const (
	goldenKid  = "https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a"
	goldenKEK  = "fcce796061b157ca58ef3fc64d05e4911bc00cddfb22e2bb5e40e144164ed845"
	goldenX5T  = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c"
	goldenX5T2 = "Zx9Yw8Xv7Wu6Vt5Us4Tr3Sq2Rp1Qo0Pn9Om8Nl7Mk6L"
	goldenVKey = "alice+0a1b2c3d+AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijk"
)

var (
	alice    = transcripts.Actor{Name: "alice", Role: "operator"}
	uploader = transcripts.Actor{Name: "alice", Role: transcripts.RoleUploader}
	token    = &transcripts.HSMInfo{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", ModuleSHA256: goldenKEK,
		TokenLabel: "vendor", Manufacturer: "SoftHSM project", Model: "SoftHSM v2", Serial: "0123456789abcdef", Firmware: "2.6"}
)

// goldenCases are one fixed value per step kind, and the variants whose
// encoding differs (an EC key, a failed or unanswered import, ...). Each is
// recorded in a ceremony of its own and pinned in testdata/golden/NAME.jsonl.
func goldenCases(t *testing.T) []struct {
	name string
	step Step
} {
	kek, blob := readTestdata(t, "kek.pem"), readTestdata(t, "app-key.byok")
	pub := text("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----")
	cert := func(n int) File {
		return File{Name: CertificateFileName(n), Data: text(fmt.Sprintf("-----BEGIN CERTIFICATE-----\ncustodian %d\n-----END CERTIFICATE-----", n))}
	}
	sd := File{Name: SecurityDomainFile, Data: text(`{"EncData":"placeholder security domain"}`)}
	export := &BYOKExport{
		Common: Common{Actor: alice, HSM: token, Mechanism: "CKM_RSA_AES_KEY_WRAP", Result: "ok"},
		KEK:    File{Name: KEKFileName(goldenKEK), Data: kek}, BYOK: File{Name: "app-key.byok", Data: blob},
		Kid: goldenKid, KEKSHA256: goldenKEK, Name: "app-key", Ops: []string{"encrypt", "decrypt", "wrapKey", "unwrapKey"},
		Kty: "oct-HSM", Target: "AES-256", Source: "pkcs11:token=vendor;object=app-key", Generator: "keyrite v0.0.0-test",
		BYOKSHA256: "2ae828093beef6bcd76169a11ae28d2635965443b8ed318ed456184e796141ff",
		KCV:        "0a1b2c", Preflight: &Preflight{Passed: true, Note: "wrapped a throwaway AES-256 key and unwrapped it in software"},
	}
	exportEC := &BYOKExport{
		Common: Common{Actor: alice, Mechanism: "software RSA-OAEP-SHA256 + AES-KWP", Result: "ok", Deviations: []string{"rehearsal: pre-flight check failed and was overridden"}},
		KEK:    File{Name: KEKFileName(goldenKEK), Data: kek}, BYOK: File{Name: "app-ec.byok", Data: blob},
		PublicKey: &File{Name: PublicKeyFileName("app-ec"), Data: pub}, PublicKeySHA256: goldenKEK,
		Kid: goldenKid, KEKSHA256: goldenKEK, Name: "app-ec", Ops: []string{"sign", "verify"},
		Kty: "EC-HSM", Target: "EC P-256", Crv: "P-256", Source: "app-ec.pem", Generator: "keyrite v0.0.0-test", BYOKSHA256: goldenKEK,
		Preflight: &Preflight{Reason: "the unwrapped key differs"},
	}
	exportNoPub := &BYOKExport{
		Common: Common{Actor: alice, Mechanism: "CKM_RSA_AES_KEY_WRAP", Result: "ok"},
		KEK:    File{Name: KEKFileName(goldenKEK), Data: kek}, BYOK: File{Name: "app-rsa.byok", Data: blob},
		Kid: goldenKid, KEKSHA256: goldenKEK, Name: "app-rsa", Ops: []string{"sign", "verify"},
		Kty: "RSA-HSM", Target: "RSA-2048", Source: "pkcs11:token=vendor;object=app-rsa", Generator: "keyrite v0.0.0-test", BYOKSHA256: goldenKEK,
		PublicKeyNote: "the token does not show the public key", KCVNote: "not an AES key",
	}
	restore := &SDRestore{
		Common: Common{Actor: alice, HSM: token, Mechanism: "CKM_RSA_PKCS_OAEP; software RSA-OAEP", Result: "ok"},
		Source: "/media/usb/SD.json", Opened: 2,
		SecurityDomain: sd, ExchangeKey: File{Name: ExchangeKeyFile, Data: text("-----BEGIN CERTIFICATE-----\nexchange key\n-----END CERTIFICATE-----")},
		Blob:              File{Name: RestoreBlobFile, Data: text(`{"placeholder":"restore blob"}`)},
		ExchangeKeyX5T256: goldenX5T,
		Shares: []RestoreShare{
			{X: 1, Custodian: "pkcs11:token=custodian-0", X5T256: goldenX5T, Mechanism: "CKM_RSA_PKCS_OAEP", Certificate: cert(0)},
			{X: 3, Custodian: "wrap_2.pem", X5T256: goldenX5T2, Mechanism: "software RSA-OAEP", Certificate: cert(2)},
		},
		Quorum: QuorumOf(2, 3), Tokens: []string{"custodian-0 (SoftHSM v2, serial 0123456789abcdef)"},
	}
	restoreGuided := *restore
	restoreGuided.Guided, restoreGuided.Source, restoreGuided.Tokens = true, "SD with spaces.json", nil
	imp := func(result string) *UploaderImport {
		return &UploaderImport{
			Common:    Common{Actor: uploader, Result: result, ActedOn: &transcripts.CheckpointRef{}},
			ExportSeq: 4, BYOK: File{Name: "app-ec.byok", Data: blob}, Vault: "https://demo.vault.azure.net",
			Name: "app-ec", Kty: "EC-HSM", Crv: "P-256", Ops: []string{"sign", "verify"},
		}
	}
	impOK := imp("ok")
	impOK.Kid = "https://demo.vault.azure.net/keys/app-ec/0123456789abcdef0123456789abcdef"
	impOK.Imported = &File{Name: ImportResponseName(4, "app-ec"), Data: text(`{"key":{"kid":"imported"}}`)}
	impOK.Fetched = &File{Name: GetKeyResponseName(4, "app-ec"), Data: text(`{"key":{"kid":"fetched"}}`)}
	impOK.PublicKey = &PublicKeyResult{Match: "true", Check: CheckMatch, Reason: "the service's public key is the one recorded offline"}
	impAES := imp("failed: uploader: the key check value differs")
	impAES.Name, impAES.Kty, impAES.Crv, impAES.Ops = "app-aes", "oct-HSM", "", nil
	impAES.Kid = "https://demo.managedhsm.azure.net/keys/app-aes/0123456789abcdef0123456789abcdef"
	impAES.PublicKey = &PublicKeyResult{Match: CheckNotApplicable, Check: CheckNotApplicable, Reason: "an AES key has no public part"}
	impAES.KCV = &KCVResult{Recorded: "0a1b2c", Service: "0a1b2d", Reason: "the service's key check value differs"}
	impUnknown := imp("unknown: uploader: no answer from the vault")
	lookup := &UploaderImport{Common: Common{Actor: uploader, Result: "failed: uploader: the vault answered 500", ActedOn: &transcripts.CheckpointRef{}},
		Lookup: true, ExportSeq: 4, Vault: "https://demo.vault.azure.net", Name: "app-ec"}
	upload := &UploaderSDUpload{Common: Common{Actor: uploader, Result: "ok", ActedOn: &transcripts.CheckpointRef{}},
		RestoreSeq: 7, BlobFile: RestoreBlobFile, HSMURL: "https://demo.managedhsm.azure.net",
		Status: &SDStatus{Status: "Success", Details: "restored", Polls: 3, WatchedSeconds: 12}}
	uploadFailed := &UploaderSDUpload{Common: Common{Actor: uploader, Result: "failed: uploader: the HSM refused the blob", ActedOn: &transcripts.CheckpointRef{}},
		RestoreSeq: 7, BlobFile: RestoreBlobFile, HSMURL: "https://demo.managedhsm.azure.net"}
	status := &UploaderSDStatus{Common: Common{Actor: uploader, Result: "in progress: uploader: still InProgress", ActedOn: &transcripts.CheckpointRef{}},
		RestoreSeq: 7, BlobFile: RestoreBlobFile, HSMURL: "https://demo.managedhsm.azure.net",
		Status: &SDStatus{Status: "InProgress", Details: "restoring"}}
	statusOK := &UploaderSDStatus{Common: Common{Actor: uploader, Result: "ok", ActedOn: &transcripts.CheckpointRef{}},
		RestoreSeq: 7, BlobFile: RestoreBlobFile, HSMURL: "https://demo.managedhsm.azure.net",
		Status: &SDStatus{Status: "Success", Details: "restored", Polls: 1, WatchedSeconds: 0}}

	return []struct {
		name string
		step Step
	}{
		{"byok.export", export},
		{"byok.export-ec", exportEC},
		{"byok.export-no-public-key", exportNoPub},
		{"byok.export.cleanup", &BYOKExportCleanup{Common: Common{Actor: alice, Result: "ok", Deviations: []string{DiscardedDeviation([]string{"b.byok", "a.byok"})}},
			Directory: ".out.tmp-12", Files: 3, Recorded: 1}},
		{"sd.keygen", &SDKeygen{Common: Common{Actor: alice, HSM: token, Mechanism: KeygenMechanismToken, Result: "ok"},
			Request: File{Name: DownloadRequestFile, Data: text(`{"certificates":[],"required":2}`)},
			Custodians: []KeygenCustodian{
				{Index: 0, Certificate: cert(0), X5T256: goldenX5T, Key: "pkcs11:token=custodian-0;object=wrap-0;id=%00%01"},
				{Index: 1, Certificate: cert(1), X5T256: goldenX5T2, Key: "pkcs11:token=custodian-1;object=wrap-1;id=%00%02"},
			},
			Quorum: 2, RSABits: 3072, Tokens: []string{"custodian-0 (SoftHSM v2, serial 1)", "custodian-1 (SoftHSM v2, serial 2)"}}},
		{"sd.keygen-software", &SDKeygen{Common: Common{Actor: alice, Mechanism: KeygenMechanismSoftware, Result: "ok", Deviations: []string{KeygenDeviationSoftware}},
			Request:    File{Name: DownloadRequestFile, Data: text(`{"certificates":[],"required":1}`)},
			Custodians: []KeygenCustodian{{Index: 0, Certificate: cert(0), X5T256: goldenX5T, Key: "/tmp/keys/wrap_0.pem"}},
			Quorum:     1, RSABits: 2048}},
		{"sd.restore", restore},
		{"sd.restore-guided", &restoreGuided},
		{"sd.verify", &SDVerify{Common: Common{Actor: alice, Result: "failed: share 2 did not open"},
			SecurityDomain: File{Name: "SD.json", Data: sd.Data},
			Report:         File{Name: DrillReportName(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)), Data: text(`{"ok":false}`)},
			Opened:         1, Shares: 3, Required: 2}},
		{"sd.verify-guided", &SDVerify{Common: Common{Actor: alice, HSM: token, Mechanism: "CKM_RSA_PKCS_OAEP", Result: "ok"},
			SecurityDomain: sd, Report: File{Name: DrillReportName(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), Data: text(`{"ok":true}`)},
			Opened: 3, Shares: 3, Required: 2, Guided: true, Tokens: []string{"custodian-0 (SoftHSM v2, serial 1)"}}},
		{"custody.split", &CustodySplit{Common: Common{Actor: alice, Result: "ok"},
			Manifest: File{Name: ManifestFileName("0123456789abcdef"), Data: text(`{"split_id":"0123456789abcdef"}`)},
			SplitID:  "0123456789abcdef", Threshold: 2, Shares: 3, Out: "so-pin-shares"}},
		{"custody.combine", &CustodyCombine{Common: Common{Actor: alice, Result: "ok"},
			Manifest: File{Name: ManifestFileName("0123456789abcdef"), Data: text(`{"split_id":"0123456789abcdef"}`)},
			SplitID:  "0123456789abcdef", Used: []int{1, 3}, Threshold: 2, Shares: 3}},
		{"uploader.byok.import", impOK},
		{"uploader.byok.import-aes-failed", impAES},
		{"uploader.byok.import-unknown", impUnknown},
		{"uploader.byok.import-lookup", lookup},
		{"uploader.sd.upload", upload},
		{"uploader.sd.upload-failed", uploadFailed},
		{"uploader.sd.status", status},
		{"uploader.sd.status-ok", statusOK},
		{"uploader.trust-on-first-use", &UploaderTrustOnFirstUse{Common: Common{Actor: uploader, Result: "ok", ActedOn: &transcripts.CheckpointRef{}},
			Signers: []Signer{{N: 1, Name: "alice", Role: "operator", Key: goldenVKey}, {N: 3, Name: "Bob (HSM team)", Role: "witness", Key: goldenVKey}}}},
	}
}

// record records s as the second line of a new ceremony made with a fixed
// clock, randomness and tool, and returns that line. An ActedOn given (any
// value) is replaced by the ceremony's checkpoint after its first line.
func record(t *testing.T, s Step) []byte {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "c")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c, err := transcripts.OpenWith(dir, transcripts.Options{
		Now:      func() time.Time { return t0 },
		Rand:     bytes.NewReader(bytes.Repeat([]byte{0x5a}, 64)),
		Tool:     &transcripts.Tool{Name: "keyrite", Version: "v0.0.0-test", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26"},
		Operator: "alice",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lines := func() [][]byte {
		b, err := os.ReadFile(filepath.Join(dir, transcripts.TranscriptFile))
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, transcripts.MaxLineSize+1)
		for sc.Scan() {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
		return out
	}
	ev := s.Event()
	if ev.ActedOn != nil {
		open := lines()[0]
		e, err := transcripts.ParseEntry(open)
		if err != nil {
			t.Fatal(err)
		}
		var id string
		for _, p := range e.Params {
			if p.Name == "ceremony_id" {
				id = p.Value
			}
		}
		root := tlog.RecordHash(open)
		*ev.ActedOn = transcripts.CheckpointRef{Origin: transcripts.OriginPrefix + id, Size: 1, RootHash: fmt.Sprintf("%x", root[:])}
	}
	if err := c.Record(ev); err != nil {
		t.Fatalf("recording %s: %v", s.Step(), err)
	}
	ls := lines()
	if len(ls) != 2 {
		t.Fatalf("%d lines", len(ls))
	}
	return ls[1]
}

// asRecorded is what decoding s's event gives: every File with its digest
// and without its data.
func asRecorded(s Step) Step {
	v := reflect.New(reflect.TypeOf(s).Elem())
	v.Elem().Set(reflect.ValueOf(s).Elem())
	var walk func(reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				c := reflect.New(v.Type().Elem())
				c.Elem().Set(v.Elem())
				v.Set(c)
				walk(c.Elem())
			}
		case reflect.Slice:
			if !v.IsNil() {
				c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
				reflect.Copy(c, v)
				v.Set(c)
				for i := range v.Len() {
					walk(v.Index(i))
				}
			}
		case reflect.Struct:
			if f, ok := v.Addr().Interface().(*File); ok {
				f.SHA256, f.Data = f.Digest(), nil
				return
			}
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		}
	}
	walk(v.Elem())
	return v.Interface().(Step)
}

// TestGolden pins the canonical bytes of each step kind's event, as a
// ceremony records it, and checks that parsing the line gives the value
// back. Regenerate with `go test -run Golden -update` and review the diff:
// a change here changes what auditors read.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			line := record(t, tc.step)
			path := filepath.Join("testdata", "golden", tc.name+".jsonl")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(line, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(line, '\n'), want) {
				t.Errorf("the event differs from %s:\ngot:  %s\nwant: %s", path, line, want)
			}
			e, err := transcripts.ParseEntry(bytes.TrimSuffix(want, []byte("\n")))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(e)
			if err != nil {
				t.Fatal(err)
			}
			exp := asRecorded(tc.step)
			// The seq and the checkpoint acted on are the ceremony's.
			reflect.ValueOf(exp).Elem().FieldByName("Seq").SetInt(e.Seq)
			if e.ActedOn != nil {
				reflect.ValueOf(exp).Elem().FieldByName("ActedOn").Set(reflect.ValueOf(e.ActedOn))
			}
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("parsed back:\ngot:  %+v\nwant: %+v", got, exp)
			}
		})
	}
}

// TestGoldenCoversEveryStep: each kind Parse knows has a golden case.
func TestGoldenCoversEveryStep(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range goldenCases(t) {
		seen[tc.step.Step()] = true
	}
	for _, s := range []string{StepBYOKExport, StepBYOKExportCleanup, StepSDKeygen, StepSDRestore, StepSDVerify, StepCustodySplit,
		StepCustodyCombine, StepUploaderImport, StepUploaderSDUpload, StepUploaderSDStatus, StepUploaderTrustOnFirstUse} {
		if !seen[s] {
			t.Errorf("no golden case for %s", s)
		}
		if _, err := Parse(&transcripts.Entry{Step: s}); err != nil && s != StepBYOKExport {
			t.Errorf("Parse(%s): %v", s, err)
		}
	}
}

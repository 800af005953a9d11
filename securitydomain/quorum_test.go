package securitydomain

import (
	"bytes"
	"crypto/rand"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const quorumSet = vectorDir + "/n3_q2_rsa2048"

func quorumSD(t *testing.T) *SecurityDomain {
	t.Helper()
	sd, err := ParseSD(readFile(t, filepath.Join(quorumSet, "sd.json")))
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// openBlob opens a restore blob through the service-side inverse, with the
// vector's exchange private key: not with the code that made the blob.
func openBlob(t *testing.T, blob *RestoreBlob) []Payload {
	t.Helper()
	exKey := readKey(t, filepath.Join(quorumSet, "exchange_key.pem"))
	exCert, err := ParseExchangeKey(readFile(t, filepath.Join(quorumSet, "exchange_cert.pem")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenRestoreBlob(blob.Marshal(), exKey, exCert)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestQuorumOneAtATime opens shares one key at a time, as the guided
// ceremony does with one card at a time, and checks that the restore gives
// what the all-at-once Restore gives: both blobs opened with the exchange
// private key hold the vector's plaintexts.
func TestQuorumOneAtATime(t *testing.T) {
	sd := quorumSD(t)
	exCert := readCert(t, filepath.Join(quorumSet, "exchange_cert.pem"))
	cs := custodiansFrom(t, quorumSet, []string{"wrap_2.pem", "wrap_0.pem"})

	q := sd.NewQuorum()
	defer q.Wipe()
	if _, err := q.Restore(exCert, rand.Reader); !errors.Is(err, ErrInsufficientShares) {
		t.Fatalf("restore with no share open: %v", err)
	}
	st, err := q.Open(cs[0])
	if err != nil || !st.Opened || st.X != 3 || st.Index != 2 || st.Mechanism != MechSoftware || st.Cert != cs[0].Cert {
		t.Fatalf("first key: %+v, %v", st, err)
	}
	if q.Opened() != 1 || q.Reached() {
		t.Fatalf("after one key: %d opened, reached %v", q.Opened(), q.Reached())
	}
	_, err = q.Restore(exCert, rand.Reader)
	if !errors.Is(err, ErrInsufficientShares) || !strings.Contains(err.Error(), "opened 1 of the 2 required") {
		t.Fatalf("restore below the quorum: %v", err)
	}
	if st, err = q.Open(cs[1]); err != nil || st.X != 1 {
		t.Fatalf("second key: %+v, %v", st, err)
	}
	if !q.Reached() {
		t.Fatal("quorum not reached with 2 of 2")
	}
	res, err := q.Restore(exCert, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want := expectedPlaintexts(t, filepath.Join(quorumSet, "expected_plaintexts.json"))
	incremental := openBlob(t, res.Blob)
	checkPayloads(t, incremental, want)

	all, err := Restore(sd, exCert, custodiansFrom(t, quorumSet, []string{"wrap_2.pem", "wrap_0.pem"}), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	atOnce := openBlob(t, all.Blob)
	if !reflect.DeepEqual(incremental, atOnce) {
		t.Fatal("the incremental restore and Restore give different payloads")
	}
	if !reflect.DeepEqual(res.Payloads, all.Payloads) || len(res.Shares) != len(all.Shares) {
		t.Fatalf("results differ: %+v / %+v", res, all)
	}
	for i := range res.Shares {
		a, b := res.Shares[i], all.Shares[i]
		if a.X != b.X || a.Index != b.Index || a.Opened != b.Opened || a.Custodian != b.Custodian {
			t.Errorf("share %d: %+v, Restore %+v", i, a, b)
		}
	}

	// The drill's checks on the same quorum agree with Verify.
	rep := q.Verify()
	ver, err := Verify(sd, custodiansFrom(t, quorumSet, []string{"wrap_2.pem", "wrap_0.pem"}))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Opened != ver.Opened || rep.Subsets != ver.Subsets || !reflect.DeepEqual(rep.Data, ver.Data) {
		t.Fatalf("Quorum.Verify %+v, Verify %+v", rep, ver)
	}
}

// TestQuorumRefusesAndRecords: what Open refuses before any decryption
// (nothing recorded), and what it records as not opened; a key that
// opened nothing may be offered again.
func TestQuorumRefusesAndRecords(t *testing.T) {
	sd := quorumSD(t)
	ks := custodiansFrom(t, quorumSet, []string{"wrap_0.pem", "wrap_1.pem", "wrap_2.pem"})
	foreign := custodiansFrom(t, vectorDir+"/negative", []string{"foreign.pem"})[0]
	// wrap_1's certificate with wrap_0's key: the share is wrap_1's, the key
	// does not open it.
	wrongKey := Custodian{Name: "wrong.pem", Cert: ks[1].Cert, Key: ks[0].Key}

	q := sd.NewQuorum()
	defer q.Wipe()
	for _, tc := range []struct {
		name     string
		c        Custodian
		target   error
		share    bool // a *ShareError
		recorded bool
	}{
		{"no certificate", Custodian{Name: "nocert", Key: ks[0].Key}, nil, false, false},
		{"no share", foreign, ErrNoShare, false, true},
		{"first key", ks[0], nil, false, true},
		{"same key again", ks[0], ErrDuplicateKey, false, false},
		{"same certificate, other name", Custodian{Name: "copy.pem", Cert: ks[0].Cert, Key: ks[0].Key}, ErrDuplicateKey, false, false},
		{"foreign again: a retry", foreign, ErrNoShare, false, true},
		{"wrong key", wrongKey, ErrDecryption, true, true},
		{"its right key after it", ks[1], nil, false, true},
		{"the wrong key once open", wrongKey, ErrDuplicateKey, false, false},
		{"another key", ks[2], nil, false, true},
	} {
		before := len(q.Status())
		st, err := q.Open(tc.c)
		after := q.Status()
		switch {
		case tc.name == "no certificate" && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.target != nil && !errors.Is(err, tc.target):
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.target)
		case tc.target == nil && tc.name != "no certificate" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		}
		var se *ShareError
		if errors.As(err, &se) != tc.share {
			t.Errorf("%s: ShareError %v, want %v", tc.name, se, tc.share)
		}
		if tc.share && (se.Custodian != tc.c.Name || se.Index != 1) {
			t.Errorf("%s: ShareError names %s, share %d", tc.name, se.Custodian, se.Index)
		}
		if got := len(after) - before; (got == 1) != tc.recorded {
			t.Errorf("%s: %d statuses added, recorded %v", tc.name, got, tc.recorded)
		}
		if tc.recorded && !reflect.DeepEqual(after[len(after)-1], st) {
			t.Errorf("%s: returned status %+v, recorded %+v", tc.name, st, after[len(after)-1])
		}
		if tc.recorded && err != nil && (st.Opened || st.Err == nil || st.Error == "") {
			t.Errorf("%s: status of a key that opened nothing: %+v", tc.name, st)
		}
	}
	if q.Opened() != 3 || !q.Reached() {
		t.Fatalf("%d opened, reached %v", q.Opened(), q.Reached())
	}
	if st := q.Status(); len(st) != 6 || st[0].Index != -1 || st[3].Index != 1 || st[3].Opened {
		t.Fatalf("status %+v", st)
	}
	// The failures are the drill's problems, the quorum still verifies.
	rep := q.Verify()
	if !rep.OK || len(rep.Problems) != 3 {
		t.Fatalf("report %+v", rep)
	}
}

// TestQuorumDuplicateX: a share whose x is that of a share opened before is
// refused, naming the custodian who opened the first.
func TestQuorumDuplicateX(t *testing.T) {
	sd, keys := duplicateXSD(t)
	q := sd.NewQuorum()
	defer q.Wipe()
	if _, err := q.Open(Custodian{Name: "first", Cert: keys[0].cert, Key: SoftwareKey(keys[0].key)}); err != nil {
		t.Fatal(err)
	}
	st, err := q.Open(Custodian{Name: "third", Cert: keys[2].cert, Key: SoftwareKey(keys[2].key)})
	var se *ShareError
	if !errors.As(err, &se) || !errors.Is(err, ErrShare) || !strings.Contains(st.Error, "opened by first") || st.Opened {
		t.Fatalf("duplicate x: %+v, %v", st, err)
	}
	if q.Opened() != 1 {
		t.Fatalf("%d opened", q.Opened())
	}
}

// TestQuorumWipe: Wipe clears the shares it held.
func TestQuorumWipe(t *testing.T) {
	sd := quorumSD(t)
	q := sd.NewQuorum()
	if _, err := q.Open(custodiansFrom(t, quorumSet, []string{"wrap_1.pem"})[0]); err != nil {
		t.Fatal(err)
	}
	held := q.shares[0]
	q.Wipe()
	if !bytes.Equal(held, make([]byte, len(held))) || q.Opened() != 0 {
		t.Fatalf("after Wipe: %d opened, share %x", q.Opened(), held)
	}
}

// TestOpenForRestoreSkips: keys after the quorum are recorded as skipped and
// never used.
func TestOpenForRestoreSkips(t *testing.T) {
	sd := quorumSD(t)
	cs := custodiansFrom(t, quorumSet, []string{"wrap_0.pem", "wrap_1.pem", "wrap_2.pem"})
	cs[2].Key = failingKey{cs[2].Key}
	q := sd.NewQuorum()
	defer q.Wipe()
	if err := q.OpenForRestore(cs); err != nil {
		t.Fatal(err)
	}
	st := q.Status()
	if len(st) != 3 || !st[2].Skipped || st[2].Opened || st[2].Index != 2 {
		t.Fatalf("status %+v", st)
	}
}

// failingKey fails the test's expectations if it is ever used.
type failingKey struct{ Decrypter }

func (failingKey) DecryptOAEPSHA256([]byte) ([]byte, error) {
	panic("a key after the quorum was used")
}

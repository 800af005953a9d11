package securitydomain

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// TestOpenSharesDuplicateXNamesTheRightKey: a tampered security domain gives
// two custodians shares with the same x. In a drill where a key without a
// share comes first, the error must name the custodian whose share holds
// that x, not whichever key sits at the same position in the status list.
func TestOpenSharesDuplicateXNamesTheRightKey(t *testing.T) {
	parsed, keys := duplicateXSD(t)
	cust := func(name string, k testKey) Custodian {
		return Custodian{Name: name, Cert: k.cert, Key: SoftwareKey(k.key)}
	}
	o, _ := parsed.OpenShares([]Custodian{cust("stranger", keys[5]), cust("first", keys[0]), cust("third", keys[2])}, true)
	if o == nil {
		t.Fatal("no status")
	}
	defer o.Wipe()
	st := o.Status[2]
	if st.Opened || !errors.Is(st.Err, ErrShare) || !strings.Contains(st.Error, "opened by first") {
		t.Fatalf("third key's status: opened %v, error %q; want a duplicate x naming \"first\"", st.Opened, st.Error)
	}
}

// duplicateXSD is a 2-of-3 security domain for testKeys' first three keys
// in which the third custodian's share has the first's x.
func duplicateXSD(t *testing.T) (*SecurityDomain, []testKey) {
	keys := testKeys(t)["2048"]
	mk := make([]byte, MasterKeySize)
	rand.Read(mk)
	shares, err := Split(mk, 3, 2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sd := &SecurityDomain{Required: 2, KeyAlgorithm: KeyAlgorithmShamir, Version: 2}
	k := dataKey(mk, "mhsm_backup")
	j, err := sealJWE(AlgDir, "mhsm_backup", nil, k, []byte("payload"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sd.Data = append(sd.Data, DataEntry{Tag: "mhsm_backup", CompactJWE: j.String()})
	for i := range 3 {
		s := shares[i]
		if i == 2 {
			s = shares[0] // custodian 2 gets custodian 0's x
		}
		ek, err := sealRSA(&keys[i].key.PublicKey, s, shareKid, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sd.Shares = append(sd.Shares, EncShare{EncKey: ek, X5T256: X5T256(keys[i].cert)})
	}
	parsed, err := ParseSD(sd.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return parsed, keys
}

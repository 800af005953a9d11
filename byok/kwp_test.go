package byok

import (
	"bytes"
	"crypto/aes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	kwp "github.com/tink-crypto/tink-go/v2/kwp/subtle"
)

// refUnwrapKWP is an independent RFC 5649 unwrap, written from the RFC with
// crypto/aes alone, so that tests never check Wrap with the code Wrap uses.
// It takes any AES key size and any payload length.
func refUnwrapKWP(kek, c []byte) ([]byte, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	if len(c)%8 != 0 || len(c) < 16 {
		return nil, errors.New("ref kwp: bad length")
	}
	n := len(c)/8 - 1
	var a [8]byte
	var p []byte
	if n == 1 {
		// RFC 5649 section 4.2: a single AES-ECB block.
		var b [16]byte
		block.Decrypt(b[:], c)
		copy(a[:], b[:8])
		p = append(p, b[8:]...)
	} else {
		// RFC 3394 section 2.2.2 unwrap (index-based).
		copy(a[:], c[:8])
		r := make([]byte, 8*n)
		copy(r, c[8:])
		var b [16]byte
		for j := 5; j >= 0; j-- {
			for i := n; i >= 1; i-- {
				t := uint64(n*j + i)
				binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(a[:])^t)
				copy(b[8:], r[8*(i-1):8*i])
				block.Decrypt(b[:], b[:])
				copy(a[:], b[:8])
				copy(r[8*(i-1):8*i], b[8:])
			}
		}
		p = r
	}
	// RFC 5649 section 3: check the AIV and the padding.
	if !bytes.Equal(a[:4], []byte{0xA6, 0x59, 0x59, 0xA6}) {
		return nil, errors.New("ref kwp: bad AIV")
	}
	mli := int(binary.BigEndian.Uint32(a[4:]))
	if mli > len(p) || mli <= len(p)-8 {
		return nil, errors.New("ref kwp: bad MLI")
	}
	for _, x := range p[mli:] {
		if x != 0 {
			return nil, errors.New("ref kwp: nonzero padding")
		}
	}
	return p[:mli], nil
}

type wycheproofKWP struct {
	TestGroups []struct {
		KeySize int `json:"keySize"`
		Tests   []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Flags   []string `json:"flags"`
			Key     string   `json:"key"`
			Msg     string   `json:"msg"`
			Ct      string   `json:"ct"`
			Result  string   `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKWPWycheproof checks both the independent unwrap and tink-go's KWP
// (what Wrap uses) against Wycheproof's aes_kwp_test.json.
func TestKWPWycheproof(t *testing.T) {
	var v wycheproofKWP
	if err := json.Unmarshal(mustRead(t, "../testvectors/kwp/aes_kwp_test.json"), &v); err != nil {
		t.Fatal(err)
	}
	var n int
	for _, g := range v.TestGroups {
		for _, tc := range g.Tests {
			n++
			t.Run(fmt.Sprintf("tcId%d", tc.TcID), func(t *testing.T) {
				key, msg, ct := unhex(t, tc.Key), unhex(t, tc.Msg), unhex(t, tc.Ct)
				// Independent implementation: every vector.
				got, err := refUnwrapKWP(key, ct)
				if tc.Result == "valid" {
					if err != nil || !bytes.Equal(got, msg) {
						t.Errorf("ref unwrap: %v (%s)", err, tc.Comment)
					}
				} else if err == nil && bytes.Equal(got, msg) && len(ct) > 0 {
					// Some invalid vectors are about the wrap side (empty or
					// tiny messages); for unwrapping, a ciphertext must not
					// be accepted unless it really is valid.
					t.Errorf("ref unwrap accepted invalid vector (%s)", tc.Comment)
				}
				// tink-go: only 16- and 32-byte wrapping keys.
				w, err := kwp.NewKWP(key)
				if len(key) != 16 && len(key) != 32 {
					if err == nil {
						t.Errorf("tink accepted a %d-byte wrapping key", len(key))
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				inRange := len(msg) >= kwp.MinWrapSize && len(msg) <= kwp.MaxWrapSize
				pt, uerr := w.Unwrap(ct)
				wct, werr := w.Wrap(msg)
				switch {
				case tc.Result == "valid" && inRange:
					if uerr != nil || !bytes.Equal(pt, msg) {
						t.Errorf("tink unwrap: %v", uerr)
					}
					if werr != nil || !bytes.Equal(wct, ct) {
						t.Errorf("tink wrap: %v", werr)
					}
				case tc.Result == "valid":
					// Out of tink's limits: Wrap refuses. Unwrap refuses too,
					// except for 9..15-byte payloads, whose wrapped form is
					// the minimum 24 bytes: tink unwraps those (correctly).
					// byok.Unwrap refuses them after the fact.
					if werr == nil {
						t.Errorf("tink wrapped a %d-byte payload, outside its 16..8192 limits", len(msg))
					}
					if len(ct) == 24 && len(msg) > 8 {
						if uerr != nil || !bytes.Equal(pt, msg) {
							t.Errorf("tink unwrap of a %d-byte payload: %v", len(msg), uerr)
						}
					} else if uerr == nil {
						t.Errorf("tink unwrapped a %d-byte payload, outside its 16..8192 limits", len(msg))
					}
				default:
					if uerr == nil && bytes.Equal(pt, msg) {
						t.Errorf("tink accepted invalid vector (%s)", tc.Comment)
					}
				}
			})
		}
	}
	if n < 250 {
		t.Fatalf("ran %d Wycheproof vectors; expected all 254", n)
	}
}

func TestKWPRFC5649(t *testing.T) {
	var v struct {
		Tests []struct{ Name, Kek, Key, Wrap string }
	}
	if err := json.Unmarshal(mustRead(t, "../testvectors/kwp/rfc5649.json"), &v); err != nil {
		t.Fatal(err)
	}
	for _, tc := range v.Tests {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := refUnwrapKWP(unhex(t, tc.Kek), unhex(t, tc.Wrap))
			if err != nil || !bytes.Equal(got, unhex(t, tc.Key)) {
				t.Errorf("ref unwrap = %x, %v; want %s", got, err, tc.Key)
			}
		})
	}
}

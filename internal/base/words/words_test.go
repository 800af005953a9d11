package words

import "testing"

func TestKnownWords(t *testing.T) {
	// Anchors from the published list: first and last word of each half, and
	// the worked example "E582 94F2" -> "topmost Istanbul Pluto vagabond".
	cases := []struct {
		in   []byte
		want string
	}{
		{[]byte{0x00, 0x00}, "aardvark adroitness"},
		{[]byte{0xff, 0xff}, "zulu yucatan"},
		{[]byte{0xe5, 0x82, 0x94, 0xf2}, "topmost istanbul pluto vagabond"},
	}
	for _, c := range cases {
		if got := Of(c.in); got != c.want {
			t.Errorf("Of(%x) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	f := Sum([]byte("abc"))
	if f.Hex() != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatal(f.Hex())
	}
	if n := len(splitWords(f.Words())); n != 32 {
		t.Fatalf("%d words", n)
	}
	if n := len(splitWords(f.Short())); n != ShortLen {
		t.Fatalf("%d words", n)
	}
}

func splitWords(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

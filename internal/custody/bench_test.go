package custody

import (
	"path/filepath"
	"testing"

	"filippo.io/age"
)

func benchSplit(b *testing.B, m, n, size int) {
	cs := make([]custodian, n)
	rs := make([]*Recipient, n)
	for i := range cs {
		cs[i] = x25519Custodian(b)
		rs[i] = cs[i].rcpt
	}
	secret := make([]byte, size)
	secret[0] = 1
	b.ResetTimer()
	for b.Loop() {
		if _, err := Split(secret, m, rs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplit3of5PIN(b *testing.B)   { benchSplit(b, 3, 5, 8) }
func BenchmarkSplit3of5_4KiB(b *testing.B) { benchSplit(b, 3, 5, 4096) }

func BenchmarkCombine3of5PIN(b *testing.B) {
	cs := make([]custodian, 5)
	for i := range cs {
		cs[i] = x25519Custodian(b)
	}
	dir := filepath.Join(b.TempDir(), "s")
	rs := make([]*Recipient, 5)
	for i := range cs {
		rs[i] = cs[i].rcpt
	}
	res, err := Split([]byte("12345678"), 3, rs)
	if err != nil {
		b.Fatal(err)
	}
	if err := WriteDir(dir, res); err != nil {
		b.Fatal(err)
	}
	ids := []age.Identity{cs[0].id, cs[2].id, cs[4].id}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Combine(dir, ids); err != nil {
			b.Fatal(err)
		}
	}
}

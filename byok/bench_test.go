package byok

import (
	"crypto/rand"
	"path/filepath"
	"testing"
)

// BenchmarkWrap measures the soft-form wrap (RSA-OAEP + KWP) per target.
func BenchmarkWrap(b *testing.B) {
	for _, tc := range []struct{ kek, target string }{
		{"kek-rsa2048", "target-aes256.bin"},
		{"kek-rsa2048", "target-ec-p256.pem"},
		{"kek-rsa2048", "target-rsa2048.pem"},
		{"kek-rsa4096", "target-rsa4096.pem"},
	} {
		kek := kekFromFile(b, filepath.Join(vectorsDir, tc.kek+".pem"))
		tg, err := ParseTargetFile(mustRead(b, filepath.Join(vectorsDir, tc.target)))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.kek+"/"+tg.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := Wrap(kek, tg.Plaintext, rand.Reader); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnwrap measures Unwrap (RSA private-key decryption dominates).
func BenchmarkUnwrap(b *testing.B) {
	for _, name := range []string{"kek-rsa2048", "kek-rsa4096"} {
		priv := kekPrivate(b, name)
		kek := kekFromFile(b, filepath.Join(vectorsDir, name+".pem"))
		ct, err := Wrap(kek, make([]byte, 32), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Unwrap(priv, ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseBlob measures the strict reader.
func BenchmarkParseBlob(b *testing.B) {
	data := mustRead(b, filepath.Join(vectorsDir, "rsa4096.kek-rsa4096.byok"))
	for b.Loop() {
		if _, err := ParseBlob(data); err != nil {
			b.Fatal(err)
		}
	}
}

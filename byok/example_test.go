package byok_test

import (
	"crypto/rand"
	"fmt"
	"log"
	"os"

	"github.com/keyrite/keyrite/byok"
)

// Wrapping a soft-form target key under a KEK and writing the .byok file.
func Example() {
	kekFile, _ := os.ReadFile("../testvectors/byok/kek-rsa2048.json") // `az keyvault key show` output
	kek, err := byok.ParseKEK(kekFile, "")
	if err != nil {
		log.Fatal(err)
	}
	keyFile, _ := os.ReadFile("../testvectors/byok/target-ec-p256.pem")
	target, err := byok.ParseTargetFile(keyFile)
	if err != nil {
		log.Fatal(err)
	}
	defer target.Wipe()
	ct, err := byok.Wrap(kek, target.Plaintext, rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	blob := byok.NewBlob(kek, ct, "keyrite example")
	if err := blob.Validate(); err != nil {
		log.Fatal(err)
	}
	d := blob.Describe(kek)
	fmt.Println("kid:", d.Kid)
	fmt.Println("target:", target, "as", target.Type.JWKType())
	fmt.Println("layout:", d.Layouts[0].KEKBits, d.Layouts[0].Targets, "problems:", len(d.Problems))
	// Output:
	// kid: https://keyrite-test.vault.azure.net/keys/kek-rsa2048/07a6ce20546664152745a2aeb55dc57a
	// target: EC P-256 as EC-HSM
	// layout: 2048 [EC P-256 EC P-384 EC P-521] problems: 0
}

// Reading a .byok file from another tool and telling what it holds.
func ExampleParseBlob() {
	data, _ := os.ReadFile("../testvectors/byok/ec-p521.padded-b64.kek-rsa2048.byok")
	b, err := byok.ParseBlob(data)
	if err != nil {
		log.Fatal(err)
	}
	d := b.Describe(nil)
	fmt.Println(d.Generator)
	for _, l := range d.Layouts {
		fmt.Printf("RSA-%d KEK, %v\n", l.KEKBits, l.Targets)
	}
	fmt.Println(d.Digest.Hex())
	// Output:
	// another BYOK tool 1.0; HSM vendor model firmware
	// RSA-2048 KEK, [EC P-521]
	// RSA-3072 KEK, [EC P-256 EC P-384 EC P-521]
	// 4f6a82c8c7fc9fb955da8bf66fcc7346ca7926f80f0c3d021cc03b7896808b53
}

func ExampleParseKid() {
	k, err := byok.ParseKid("https://contoso-hsm.managedhsm.azure.net/keys/kek/0123456789abcdef0123456789abcdef")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.Service, k.Cloud, k.Vault, k.Name)
	_, err = byok.ParseKid("https://contoso.vault.azure.net/keys/kek")
	fmt.Println(err)
	// Output:
	// managedhsm AzureCloud contoso-hsm kek
	// byok: invalid kid: "https://contoso.vault.azure.net/keys/kek": has no key version; expected /keys/<name>/<version>
}

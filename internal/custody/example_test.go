package custody_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"filippo.io/age"

	"github.com/keyrite/keyrite/internal/custody"
)

// Split an SO PIN 2-of-3 among three custodians, then recombine it with two
// of their identities.
func Example() {
	var rs []*custody.Recipient
	var ids []age.Identity
	for range 3 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			log.Fatal(err)
		}
		r, err := custody.ParseRecipient(id.Recipient().String(), nil)
		if err != nil {
			log.Fatal(err)
		}
		rs, ids = append(rs, r), append(ids, id)
	}
	res, err := custody.Split([]byte("87654321"), 2, rs)
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "custody-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "so-pin")
	if err := custody.WriteDir(dir, res); err != nil {
		log.Fatal(err)
	}
	for _, f := range res.Manifest.Files {
		fmt.Println(f.File, f.Kind)
	}

	secret, cr, err := custody.Combine(dir, []age.Identity{ids[2], ids[0]})
	if err != nil {
		log.Fatal(err)
	}
	defer clear(secret)
	fmt.Println("shares used:", cr.Used)
	fmt.Println("recovered the PIN:", string(secret) == "87654321")
	// Output:
	// share-1-of-3.age x25519
	// share-2-of-3.age x25519
	// share-3-of-3.age x25519
	// shares used: [1 3]
	// recovered the PIN: true
}

// Command age-plugin-keyritetest is an age plugin for tests only: its
// recipient and identity payloads are the text of a native X25519 recipient
// ("age1...") and identity ("AGE-SECRET-KEY-1..."), so that tests can run the
// plugin protocol end to end without hardware. Never use it for real secrets.
package main

import (
	"os"

	"filippo.io/age"
	"filippo.io/age/plugin"
)

func main() {
	p, err := plugin.New("keyritetest")
	if err != nil {
		os.Exit(1)
	}
	p.HandleRecipient(func(data []byte) (age.Recipient, error) {
		return age.ParseX25519Recipient(string(data))
	})
	p.HandleIdentity(func(data []byte) (age.Identity, error) {
		return age.ParseX25519Identity(string(data))
	})
	os.Exit(p.Main())
}

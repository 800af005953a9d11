package ceremony

import (
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/byok"
)

// maxKEKFile bounds a KEK file (a PEM public key or a JSON key object).
const maxKEKFile = 1 << 20

// IntakeKEK is the KEK-intake step: it asks for the KEK file and, when the
// file does not carry it, the kid; validates both with byok.ParseKEK (as
// `keyrite kek inspect` does); shows the kid, size, SHA-256 and PGP word list;
// and asks the person to confirm that the words match what the online side
// read aloud. Anything but a yes stops the flow with ErrNotConfirmed.
func (e *Engine) IntakeKEK() (*byok.KEK, error) {
	e.UI.Show(Message{Kind: Heading, Title: "Key Exchange Key (KEK)",
		Text: "The KEK file is what `az keyvault key download --encoding PEM` wrote on the online side,\nor the JSON of `az keyvault key show`."})
	var data []byte
	var kek *byok.KEK
	_, err := e.askValid("KEK file", false, func(path string) error {
		b, err := readInput(path, "KEK file", maxKEKFile)
		if err != nil {
			return err
		}
		k, err := byok.ParseKEK(b, "")
		if err != nil {
			return fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "byok: "))
		}
		data, kek = b, k
		return nil
	})
	if err != nil {
		return nil, err
	}
	if kek.Kid == "" {
		_, err := e.askValid("KEK key identifier (kid), with its version: https://VAULT.vault.azure.net/keys/NAME/VERSION", false, func(kid string) error {
			k, err := byok.ParseKEK(data, kid)
			if err != nil {
				return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "byok: "))
			}
			kek = k
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	fp := kek.Fingerprint()
	e.UI.Show(Message{Kind: Info, Title: "Check the KEK with the online side",
		Text: "Read the words aloud with the person at the online workstation (`keyrite kek inspect` there).",
		Fields: []Field{
			{"kid", kek.Kid},
			{"size", fmt.Sprintf("RSA %d bits", kek.Bits())},
			{"SHA-256", fp.Hex()},
			{"words", WordLines(fp.Words(), 8)},
		}})
	if err := e.confirm("Do these words match what the online side read aloud?", "the KEK fingerprint was not confirmed; stop and check the KEK file with the online side"); err != nil {
		return nil, err
	}
	e.UI.Show(Message{Kind: Success, Text: "KEK confirmed: " + fp.Short()})
	return kek, nil
}

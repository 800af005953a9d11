package ceremony

import (
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/byok"
)

// minTypedWords is how many of a fingerprint's words the witness types back
// from what the online side reads out.
const minTypedWords = 4

// kekForm asks for the KEK file and, when the file does not carry it, the
// kid; both are checked as they are answered (byok.ParseKEK, as `keyrite kek
// inspect` does).
type kekForm struct {
	file, kid *FormField
	kek       *byok.KEK
}

func newKEKForm() *kekForm {
	k := &kekForm{}
	k.file = &FormField{Key: "kek", Title: "KEK file", Kind: PathField,
		Help: "what `az keyvault key download --encoding PEM` wrote on the online side, or the JSON of `az keyvault key show`",
		Check: func(path string) error {
			kk, err := intakeKEK(path, "")
			if err == nil {
				k.kek = kk
			}
			return err
		},
		Status: func(string) string {
			if k.kek == nil {
				return ""
			}
			if k.kek.Kid == "" {
				return fmt.Sprintf("RSA %d bits; the file carries no kid: type it below", k.kek.Bits())
			}
			return fmt.Sprintf("RSA %d bits, kid %s", k.kek.Bits(), k.kek.Kid)
		}}
	k.kid = &FormField{Key: "kid", Title: "KEK key identifier (kid), with its version",
		Help: "https://VAULT.vault.azure.net/keys/NAME/VERSION, as `az keyvault key show --query key.kid` prints it; empty when the KEK file carries it",
		Skip: func() bool { return k.kek != nil && k.kek.Kid != "" && k.kid.Value == "" },
		Check: func(kid string) error {
			kk, err := intakeKEK(k.file.Value, kid)
			if err == nil {
				k.kek = kk
			}
			return err
		}}
	return k
}

// intakeKEK takes the KEK in through byok's intake step, as `keyrite kek
// inspect` and `keyrite byok export` do.
func intakeKEK(path, kid string) (*byok.KEK, error) {
	in, err := byok.KEKRequest{File: path, Kid: kid}.Validate()
	if err != nil {
		return nil, err
	}
	res, err := in.Run()
	if err != nil {
		return nil, err
	}
	return res.KEK, nil
}

// IntakeKEK is the KEK-intake step: a form for the KEK file and kid, then
// the fingerprint as words, which the witness checks by typing back the
// first words that the online side (`keyrite-uploader kek create` or
// `keyrite kek inspect` there) reads out. A mismatch is asked again; the
// flow goes on only with words that agree.
func (e *Engine) IntakeKEK() (*byok.KEK, error) {
	return e.intakeKEK(newKEKForm())
}

func (e *Engine) intakeKEK(k *kekForm) (*byok.KEK, error) {
	for {
		f := &Form{Step: "KEK", Title: "Key Exchange Key (KEK)", Fields: []*FormField{k.file, k.kid}}
		if err := AskForm(e.UI, f); err != nil {
			return nil, err
		}
		err := e.checkKEKWords(k.kek)
		if errors.Is(err, ErrBack) {
			continue // back to the KEK form, answers kept
		}
		if err != nil {
			return nil, err
		}
		return k.kek, nil
	}
}

func (e *Engine) checkKEKWords(kek *byok.KEK) error {
	fp := kek.Fingerprint()
	e.UI.Show(Message{Kind: Info, Title: "Check the KEK with the online side",
		Text: "The person at the online workstation reads out the KEK's words (`keyrite-uploader kek create` or `keyrite kek inspect` prints them).",
		Fields: []Field{
			{"kid", kek.Kid},
			{"size", fmt.Sprintf("RSA %d bits", kek.Bits())},
			{"SHA-256", fp.Hex()},
			{"words", WordLines(fp.Words(), 8)},
		}})
	if err := e.typeBackWords("kek-words", "KEK words", fp.Words()); err != nil {
		return err
	}
	e.UI.Show(Message{Kind: Success, Text: "KEK confirmed: " + fp.Short()})
	return nil
}

// typeBackWords asks the witness to type the first words of phrase as the
// online side reads them out; only words that agree go on.
func (e *Engine) typeBackWords(key, title, phrase string) error {
	words := &FormField{Key: key, Title: fmt.Sprintf("Type the first %d or more words the online side reads out", minTypedWords),
		Help:  "the witness types what they hear; nothing goes on unless the words agree",
		Check: func(s string) error { return checkWords(s, phrase, minTypedWords) }}
	return AskForm(e.UI, &Form{Title: title, Fields: []*FormField{words}})
}

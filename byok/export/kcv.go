package export

import (
	"errors"
	"strings"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/hsm"
)

// kcvNoEncrypt is the note for a token key whose CKA_ENCRYPT is false: the
// KCV would need the token to encrypt with it, and the export never
// changes a key's attributes.
const kcvNoEncrypt = "not available: the key does not allow CKA_ENCRYPT"

// setKCV records an AES key's check value, or why there is none. A KCV
// that cannot be had does not stop the export: it is a check for later,
// not part of the key.
func (j *job) setKCV(kcv string, err error) {
	if err != nil {
		j.kcv, j.kcvNote = "", "not available: "+err.Error()
		return
	}
	if _, perr := byok.ParseKCV(kcv); perr != nil { // never record anything but 3 bytes
		j.kcv, j.kcvNote = "", "not available: "+perr.Error()
		return
	}
	j.kcv, j.kcvNote = kcv, ""
}

// hsmKCV has the token compute the key check value of an AES key object:
// C_Encrypt(CKM_AES_ECB) of one zero block, when its CKA_ENCRYPT allows.
func hsmKCV(s *hsm.Session, obj *hsm.Object) (string, error) {
	b, err := s.AESCheckBlock(obj, byok.KCVLen)
	if errors.Is(err, hsm.ErrEncryptNotAllowed) {
		return "", errors.New(strings.TrimPrefix(kcvNoEncrypt, "not available: "))
	}
	if err != nil {
		return "", err
	}
	return byok.FormatKCV(b)
}

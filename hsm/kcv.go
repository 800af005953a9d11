package hsm

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// ErrEncryptNotAllowed is returned (wrapped) by AESCheckBlock when the key's
// CKA_ENCRYPT is false (or unreadable): a key check value needs the token to
// encrypt with the key, and keyrite never changes a key's attributes to
// get one.
var ErrEncryptNotAllowed = errors.New("hsm: the key does not allow CKA_ENCRYPT")

// AESCheckBlock returns the first n bytes (1 to 16) of AES-ECB(K, 16 zero
// bytes) computed by the token with C_EncryptInit/C_Encrypt(CKM_AES_ECB),
// where K is the AES secret key obj: the key check value (KCV) vendor
// tools show is its first 3 bytes. It reads the key's CKA_ENCRYPT first and,
// if that is not true, returns an error wrapping ErrEncryptNotAllowed
// without calling C_EncryptInit. It never reads CKA_VALUE and never changes
// an attribute. Only the n bytes asked for are returned; the rest of the
// block is cleared.
func (s *Session) AESCheckBlock(obj *Object, n int) ([]byte, error) {
	if n < 1 || n > 16 {
		return nil, fmt.Errorf("hsm: AESCheckBlock: %d bytes asked for; expected 1 to 16", n)
	}
	if obj.Class != pkcs11.CKO_SECRET_KEY || obj.KeyType != pkcs11.CKK_AES {
		return nil, fmt.Errorf("hsm: %s is not an AES secret key", obj.Summary())
	}
	got, err := s.attrs(obj.Handle, pkcs11.CKA_ENCRYPT)
	if err != nil {
		return nil, err
	}
	if !boolean(got[pkcs11.CKA_ENCRYPT]) {
		return nil, fmt.Errorf("%w (%s)", ErrEncryptNotAllowed, obj.Summary())
	}
	ctx := "key check value of " + obj.Summary()
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_ECB, nil)}
	if err := s.p.EncryptInit(s.h, mech, obj.Handle); err != nil {
		return nil, wrapErr("C_EncryptInit", ctx+" with CKM_AES_ECB", err)
	}
	ct, err := s.p.Encrypt(s.h, make([]byte, 16))
	if err != nil {
		return nil, wrapErr("C_Encrypt", ctx+" with CKM_AES_ECB", err)
	}
	defer clear(ct)
	if len(ct) != 16 {
		return nil, fmt.Errorf("hsm: C_Encrypt (%s with CKM_AES_ECB): the token returned %d bytes for one 16-byte block", ctx, len(ct))
	}
	return append([]byte(nil), ct[:n]...), nil
}

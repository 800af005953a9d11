package securitydomain

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"path/filepath"
	"strings"
)

// ErrPassword is returned (wrapped) when an encrypted private key does not
// decrypt with the password given.
var ErrPassword = errors.New("securitydomain: wrong password for the encrypted private key")

// CertPathFor returns where the az CLI looks for a wrapping key's
// certificate: the key's path without its last extension, plus ".cer"
// (wrap_0.pem -> wrap_0.cer).
func CertPathFor(keyPath string) string {
	return strings.TrimSuffix(keyPath, filepath.Ext(keyPath)) + ".cer"
}

// IsEncryptedPEM reports whether data holds an encrypted private key: a
// legacy "Proc-Type: 4,ENCRYPTED" block or an "ENCRYPTED PRIVATE KEY" (PKCS#8).
func IsEncryptedPEM(data []byte) bool {
	block, _ := pem.Decode(data)
	if block == nil {
		return false
	}
	//lint:ignore SA1019 legacy encrypted PEM is still what some tools write.
	return block.Type == "ENCRYPTED PRIVATE KEY" || x509.IsEncryptedPEMBlock(block)
}

// ParsePrivateKeyPEM reads an RSA private key from a PEM file, as the az CLI
// accepts them: "RSA PRIVATE KEY" (PKCS#1) or "PRIVATE KEY" (PKCS#8),
// unencrypted or encrypted. Encrypted keys are either legacy OpenSSL PEM
// encryption ("Proc-Type: 4,ENCRYPTED", DEK-Info; decrypted with the
// deprecated x509.DecryptPEMBlock, which cannot always tell a wrong password)
// or PKCS#8 "ENCRYPTED PRIVATE KEY" with PBES2 (PBKDF2 with HMAC-SHA-1, -256,
// -384 or -512, and AES-128/192/256-CBC: what OpenSSL 1.1+ and Python's
// cryptography write). scrypt and the old PBES1 schemes are refused with a
// message saying so. password is called only for an encrypted key; the
// returned buffer is wiped after use.
func ParsePrivateKeyPEM(data []byte, password func() ([]byte, error)) (*rsa.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("securitydomain: no PEM block found (want an RSA private key in PEM)")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("securitydomain: more than one PEM block (want a single private key)")
	}
	der := block.Bytes
	typ := block.Type
	//lint:ignore SA1019 legacy encrypted PEM is still what some tools write.
	legacy := x509.IsEncryptedPEMBlock(block)
	if legacy || typ == "ENCRYPTED PRIVATE KEY" {
		if password == nil {
			return nil, errors.New("securitydomain: the private key is encrypted and no password source was given")
		}
		pw, err := password()
		if err != nil {
			return nil, err
		}
		defer clear(pw)
		if legacy {
			//lint:ignore SA1019 see above.
			der, err = x509.DecryptPEMBlock(block, pw)
			if err != nil {
				if errors.Is(err, x509.IncorrectPasswordError) {
					return nil, ErrPassword
				}
				return nil, fmt.Errorf("securitydomain: decrypting the legacy encrypted PEM: %v", err)
			}
		} else {
			der, err = decryptPKCS8(der, pw)
			if err != nil {
				return nil, err
			}
			typ = "PRIVATE KEY"
		}
		defer clear(der)
	}
	var key any
	var err error
	switch typ {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(der)
	default:
		return nil, fmt.Errorf("securitydomain: PEM block is %q, want \"RSA PRIVATE KEY\", \"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\"", typ)
	}
	if err != nil {
		if legacy {
			return nil, fmt.Errorf("%w (or the key is damaged: %v)", ErrPassword, err)
		}
		return nil, fmt.Errorf("securitydomain: parsing the private key: %v", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("securitydomain: the private key is %T, want RSA", key)
	}
	return rk, nil
}

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

type encryptedPrivateKeyInfo struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt      []byte
	Iter      int
	KeyLength int                      `asn1:"optional"`
	PRF       pkix.AlgorithmIdentifier `asn1:"optional"`
}

// maxPBKDF2Iter bounds the work a damaged or hostile file can ask for.
const maxPBKDF2Iter = 1 << 24

// decryptPKCS8 decrypts a PKCS#8 EncryptedPrivateKeyInfo with PBES2 (RFC 8018).
func decryptPKCS8(der, pw []byte) ([]byte, error) {
	unsupported := func(what string) error {
		return fmt.Errorf("securitydomain: encrypted PKCS#8 key uses %s, which is not supported (PBES2 with PBKDF2 and AES-CBC is); re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256`", what)
	}
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, errors.New("securitydomain: malformed ENCRYPTED PRIVATE KEY")
	}
	if !info.Algo.Algorithm.Equal(oidPBES2) {
		return nil, unsupported("the scheme " + info.Algo.Algorithm.String() + " (not PBES2)")
	}
	var p pbes2Params
	if rest, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &p); err != nil || len(rest) != 0 {
		return nil, errors.New("securitydomain: malformed PBES2 parameters")
	}
	if p.KDF.Algorithm.Equal(oidScrypt) {
		return nil, unsupported("scrypt")
	}
	if !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, unsupported("the key derivation " + p.KDF.Algorithm.String())
	}
	var kp pbkdf2Params
	if rest, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil || len(rest) != 0 {
		return nil, errors.New("securitydomain: malformed PBKDF2 parameters")
	}
	if kp.Iter < 1 || kp.Iter > maxPBKDF2Iter {
		return nil, fmt.Errorf("securitydomain: PBKDF2 iteration count %d out of range [1, %d]", kp.Iter, maxPBKDF2Iter)
	}
	var h func() hash.Hash
	switch prf := kp.PRF.Algorithm; {
	case len(prf) == 0 || prf.Equal(oidHMACSHA1):
		h = sha1.New
	case prf.Equal(oidHMACSHA256):
		h = sha256.New
	case prf.Equal(oidHMACSHA384):
		h = sha512.New384
	case prf.Equal(oidHMACSHA512):
		h = sha512.New
	default:
		return nil, unsupported("the PBKDF2 PRF " + prf.String())
	}
	var keyLen int
	switch e := p.Enc.Algorithm; {
	case e.Equal(oidAES128CBC):
		keyLen = 16
	case e.Equal(oidAES192CBC):
		keyLen = 24
	case e.Equal(oidAES256CBC):
		keyLen = 32
	default:
		return nil, unsupported("the cipher " + e.String())
	}
	if kp.KeyLength != 0 && kp.KeyLength != keyLen {
		return nil, errors.New("securitydomain: PBKDF2 key length does not match the cipher")
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(p.Enc.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 || len(iv) != aes.BlockSize {
		return nil, errors.New("securitydomain: malformed AES-CBC IV in PBES2 parameters")
	}
	if len(info.Data) == 0 || len(info.Data)%aes.BlockSize != 0 {
		return nil, errors.New("securitydomain: encrypted private key length is not a multiple of the AES block size")
	}
	key, err := pbkdf2.Key(h, string(pw), kp.Salt, kp.Iter, keyLen)
	if err != nil {
		return nil, fmt.Errorf("securitydomain: PBKDF2: %v", err)
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, info.Data)
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize || !bytes.Equal(pt[len(pt)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		clear(pt)
		return nil, ErrPassword
	}
	out := pt[:len(pt)-pad]
	if _, err := x509.ParsePKCS8PrivateKey(out); err != nil {
		clear(pt)
		return nil, ErrPassword
	}
	return out, nil
}

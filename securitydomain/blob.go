package securitydomain

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
)

// ErrInvalidBlob is returned (wrapped) when a restore blob is malformed.
var ErrInvalidBlob = errors.New("securitydomain: invalid restore blob")

func blobErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidBlob, fmt.Sprintf(format, args...))
}

// A Payload is one security-domain backup: its tag (hsm_backup,
// base_enclave_backup, partition_enclave_backup, ...) and its opaque bytes.
type Payload struct {
	Tag  string
	Data []byte
}

// A RestoreBlob is the file `keyrite sd restore` (and `az keyvault
// security-domain restore-blob`) writes and the service accepts on upload
// (spec §8): the EncData re-encrypted under a fresh master key, and that key
// wrapped to the exchange certificate.
type RestoreBlob struct {
	Data   []DataEntry // EncData.data
	EncKey string      // WrappedKey.enc_key: RSA-OAEP-256 JWE of the master key
	X5T256 string      // WrappedKey.x5t_256: thumbprint of the exchange certificate

	data    []*jwe
	wrapped *jwe
}

// ParseRestoreBlob parses a restore blob strictly (exact keys, no duplicates,
// the same JWE rules as ParseSD); JSON white space is free, so blobs from the
// az CLI and from keyrite both parse.
func ParseRestoreBlob(data []byte) (*RestoreBlob, error) {
	text := bytes.TrimSpace(data)
	if len(text) == 0 {
		return nil, blobErr("the file is empty")
	}
	top, err := objectFields(text)
	if err != nil {
		return nil, blobErr("%v", err)
	}
	if err := fieldSet(top, "top level", []string{"EncData", "WrappedKey"}); err != nil {
		return nil, blobErr("%v", err)
	}
	ed, err := objectFields(top["EncData"])
	if err != nil {
		return nil, blobErr("EncData: %v", err)
	}
	if err := fieldSet(ed, "EncData", []string{"data", "kdf"}); err != nil {
		return nil, blobErr("%v", err)
	}
	kdf, err := jsonString(ed["kdf"], "EncData.kdf")
	if err != nil {
		return nil, blobErr("%v", err)
	}
	if kdf != KDFName {
		return nil, blobErr("EncData.kdf is %q, want %q", kdf, KDFName)
	}
	list, err := jsonArray(ed["data"], "EncData.data")
	if err != nil {
		return nil, blobErr("%v", err)
	}
	if len(list) == 0 {
		return nil, blobErr("EncData.data is empty")
	}
	b := &RestoreBlob{}
	if b.Data, b.data, err = parseDataEntries(list, "EncData.data"); err != nil {
		return nil, blobErr("%v", err)
	}
	wk, err := objectFields(top["WrappedKey"])
	if err != nil {
		return nil, blobErr("WrappedKey: %v", err)
	}
	if err := fieldSet(wk, "WrappedKey", []string{"enc_key", "x5t_256"}); err != nil {
		return nil, blobErr("%v", err)
	}
	if b.EncKey, err = jsonString(wk["enc_key"], "WrappedKey.enc_key"); err != nil {
		return nil, blobErr("%v", err)
	}
	if b.X5T256, err = jsonString(wk["x5t_256"], "WrappedKey.x5t_256"); err != nil {
		return nil, blobErr("%v", err)
	}
	if t, err := decodeB64u(b.X5T256); err != nil || len(t) != 32 {
		return nil, blobErr("WrappedKey.x5t_256 is %s, want the unpadded base64url of a SHA-256 digest", quoteShort([]byte(b.X5T256)))
	}
	if b.wrapped, err = parseJWE(b.EncKey); err != nil {
		return nil, blobErr("WrappedKey.enc_key: %v", err)
	}
	if b.wrapped.alg != AlgRSAOAEP256 || b.wrapped.kid != shareKid {
		return nil, blobErr("WrappedKey.enc_key: JWE alg %q kid %q, want %q and %q", b.wrapped.alg, b.wrapped.kid, AlgRSAOAEP256, shareKid)
	}
	return b, nil
}

// Marshal returns the blob in the az CLI's layout: Python json.dumps with its
// default separators (", " and ": "), keys in the order below, one line, no
// trailing newline.
//
//	{"EncData": {"data": [{"compact_jwe": "...", "tag": "..."}, ...], "kdf": "sp108_kdf"},
//	 "WrappedKey": {"enc_key": "...", "x5t_256": "..."}}
func (b *RestoreBlob) Marshal() []byte {
	var w bytes.Buffer
	w.WriteString(`{"EncData": {"data": [`)
	for i, e := range b.Data {
		if i > 0 {
			w.WriteString(", ")
		}
		w.WriteString(`{"compact_jwe": ` + pyQuote(e.CompactJWE) + `, "tag": ` + pyQuote(e.Tag) + `}`)
	}
	w.WriteString(`], "kdf": ` + pyQuote(KDFName) + `}, "WrappedKey": {"enc_key": ` + pyQuote(b.EncKey) +
		`, "x5t_256": ` + pyQuote(b.X5T256) + `}}`)
	return w.Bytes()
}

// NewRestoreBlob re-encrypts payloads under a fresh random 32-byte master key
// and wraps that key to the exchange certificate (spec §8 steps 3–6).
func NewRestoreBlob(payloads []Payload, exchange *x509.Certificate, rand io.Reader) (*RestoreBlob, error) {
	pub, err := rsaPublic(exchange)
	if err != nil {
		return nil, fmt.Errorf("exchange key: %w", err)
	}
	if len(payloads) == 0 {
		return nil, errors.New("securitydomain: no payloads to put in the restore blob")
	}
	mk := make([]byte, MasterKeySize)
	defer clear(mk)
	if _, err := io.ReadFull(rand, mk); err != nil {
		return nil, fmt.Errorf("securitydomain: reading random master key: %w", err)
	}
	b := &RestoreBlob{X5T256: X5T256(exchange)}
	for _, p := range payloads {
		k := dataKey(mk, p.Tag)
		j, err := sealJWE(AlgDir, p.Tag, nil, k, p.Data, rand)
		clear(k)
		if err != nil {
			return nil, err
		}
		b.Data = append(b.Data, DataEntry{Tag: p.Tag, CompactJWE: j.String()})
		b.data = append(b.data, j)
	}
	if b.EncKey, err = sealRSA(pub, mk, shareKid, rand); err != nil {
		return nil, err
	}
	if b.wrapped, err = parseJWE(b.EncKey); err != nil {
		return nil, err
	}
	return b, nil
}

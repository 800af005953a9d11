package emulator

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"net/http"
	"slices"
)

// encryptRequest is the body of POST /keys/{name}[/{version}]/encrypt
// (azkeys KeyOperationParameters): value, iv, aad and tag are base64url.
type encryptRequest struct {
	Alg   *string `json:"alg"`
	Value *b64url `json:"value"`
	IV    *b64url `json:"iv"`
	AAD   *b64url `json:"aad"`
	Tag   *b64url `json:"tag"`
}

// encryptResult is the service's answer: the key version's kid and the
// ciphertext (base64url).
type encryptResult struct {
	Kid   string `json:"kid"`
	Value b64url `json:"value"`
}

// maxEncrypt bounds the plaintext of one encrypt call.
const maxEncrypt = 64 << 10

// cbcAlgs maps the unpadded AES-CBC algorithms to their key sizes in bits.
var cbcAlgs = map[string]int{"A128CBC": 128, "A192CBC": 192, "A256CBC": 256}

// decodeEncrypt parses and validates an encrypt request for an oct-HSM key
// of bits: alg A128CBC, A192CBC or A256CBC matching the key size, iv of
// exactly 16 bytes, value a non-empty multiple of 16 bytes, no aad or tag.
// It is cheap, so it is fuzzed.
func decodeEncrypt(body []byte, bits int) (*encryptRequest, *badParam) {
	var req encryptRequest
	if err := strictUnmarshal(body, &req); err != nil {
		return nil, badf("The request body is not valid: %s", err)
	}
	if req.Alg == nil || *req.Alg == "" {
		return nil, badf("The property alg is required")
	}
	alg := *req.Alg
	size, ok := cbcAlgs[alg]
	if !ok {
		return nil, badf("Algorithm %q is not supported for oct-HSM keys by the emulator; it implements A128CBC, A192CBC and A256CBC (AES-CBC without padding)", alg)
	}
	if size != bits {
		return nil, badf("Algorithm %s needs a %d-bit key; this key is %d bits", alg, size, bits)
	}
	if req.AAD != nil || req.Tag != nil {
		return nil, badf("The properties aad and tag are not allowed with algorithm %s", alg)
	}
	if req.IV == nil {
		return nil, badf("The property iv is required for algorithm %s", alg)
	}
	if len(*req.IV) != aes.BlockSize {
		return nil, badf("The property iv is %d bytes; algorithm %s needs exactly %d", len(*req.IV), alg, aes.BlockSize)
	}
	if req.Value == nil || len(*req.Value) == 0 {
		return nil, badf("The property value is required and must not be empty")
	}
	if n := len(*req.Value); n%aes.BlockSize != 0 {
		return nil, badf("The property value is %d bytes; algorithm %s (no padding) needs a multiple of %d", n, alg, aes.BlockSize)
	}
	if len(*req.Value) > maxEncrypt {
		return nil, badf("The property value is %d bytes; the emulator encrypts at most %d", len(*req.Value), maxEncrypt)
	}
	return &req, nil
}

// encrypt answers POST /keys/{name}[/{version}]/encrypt for an oct-HSM key
// on a Managed HSM: AES-CBC without padding under the key's bytes, which
// the emulator keeps for the keys it generated or imported.
func (e *Emulator) encrypt(w http.ResponseWriter, r *http.Request, svc service, name, version string) {
	if !validKeyName(name) {
		writeError(w, http.StatusBadRequest, "BadParameter", fmt.Sprintf("Invalid key name %q: 1 to 127 letters, digits and hyphens", name), "")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	rec, err := e.state.getKey(svc, name, version)
	e.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "reading the emulator's state failed", "")
		return
	}
	if rec == nil {
		what := fmt.Sprintf("A key with (name/id) %s was not found in this key vault", name)
		if version != "" {
			what = fmt.Sprintf("A key with (name/id) %s (version %s) was not found in this key vault", name, version)
		}
		writeError(w, http.StatusNotFound, "KeyNotFound", what, "")
		return
	}
	defer wipe(rec.SecretKey)
	if rec.Kty != ktyOctHSM {
		writeError(w, http.StatusBadRequest, "BadParameter", fmt.Sprintf("The emulator implements encrypt only for oct-HSM keys; %s is %s", name, rec.Kty), "")
		return
	}
	if !rec.Enabled {
		writeError(w, http.StatusForbidden, "Forbidden", "Operation encrypt is not allowed on a disabled key.", "KeyDisabled")
		return
	}
	if !slices.Contains(rec.KeyOps, "encrypt") {
		writeError(w, http.StatusForbidden, "Forbidden", "Operation encrypt is not permitted on this key.", "KeyOperationForbidden")
		return
	}
	if n := len(rec.SecretKey); n != rec.KeySize/8 || (n != 16 && n != 24 && n != 32) {
		writeError(w, http.StatusInternalServerError, "InternalError", fmt.Sprintf("the emulator's state holds no key bytes for %s (imported by an older emulator, which kept only public parts)", name), "")
		return
	}
	req, perr := decodeEncrypt(body, rec.KeySize)
	if perr != nil {
		writeBad(w, perr)
		return
	}
	block, err := aes.NewCipher(rec.SecretKey)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "the key's bytes do not make an AES key", "")
		return
	}
	ct := make([]byte, len(*req.Value))
	cipher.NewCBCEncrypter(block, *req.IV).CryptBlocks(ct, *req.Value)
	writeJSON(w, http.StatusOK, encryptResult{Kid: svc.kid(rec.Name, rec.Version), Value: ct})
}

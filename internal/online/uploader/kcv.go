package uploader

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keyrite/keyrite/byok"
)

// ErrKCVMismatch is returned (wrapped) by ImportCeremony when an imported
// AES key's check value, as the service computes it, differs from the one
// recorded offline: the HSM holds a key other than the one exported.
var ErrKCVMismatch = errors.New("uploader: the service's key check value differs from the one recorded offline")

// cbcAlg is the unpadded AES-CBC algorithm for an AES key of bits.
func cbcAlg(bits int) (azkeys.EncryptionAlgorithm, bool) {
	switch bits {
	case 128:
		return azkeys.EncryptionAlgorithmA128CBC, true
	case 192:
		return azkeys.EncryptionAlgorithmA192CBC, true
	case 256:
		return azkeys.EncryptionAlgorithmA256CBC, true
	}
	return "", false
}

// checkKCV compares an imported oct-HSM key's check value with the one
// recorded offline (spec.KCV). The service is asked to encrypt one zero
// block with AES-CBC (A128CBC/A192CBC/A256CBC by the recorded key size, no
// padding) and a zero IV: the first ciphertext block is then AES-ECB(K, 0),
// whose first 3 bytes are the KCV. It needs the key's key_ops to include
// encrypt; without them, or without a recorded KCV or key size, nothing is
// compared and the reason says so. Only 3 bytes of the answer are kept.
func checkKCV(ctx context.Context, kc *azkeys.Client, spec ImportSpec, key *azkeys.JSONWebKey, version string, res *ImportResult) {
	alg, okAlg := cbcAlg(spec.AESBits)
	switch {
	case spec.KCV == nil:
		res.KCVReason = "no key check value was recorded offline"
		if spec.NoKCVReason != "" {
			res.KCVReason = spec.NoKCVReason
		}
		return
	case len(spec.KCV) != byok.KCVLen:
		res.KCVReason = fmt.Sprintf("the recorded key check value is %d bytes; expected %d", len(spec.KCV), byok.KCVLen)
		return
	case !slices.Contains(opsOf(key.KeyOps), "encrypt"):
		res.KCVReason = "not compared: the key's key_ops do not include encrypt, which computing its key check value in the service needs"
		return
	case !okAlg:
		res.KCVReason = "not compared: the export records no AES key size (param target AES-128, AES-192 or AES-256) to choose the algorithm by"
		return
	}
	zero := make([]byte, 16)
	r, err := kc.Encrypt(ctx, spec.Name, version, azkeys.KeyOperationParameters{
		Algorithm: to.Ptr(alg), Value: zero, IV: make([]byte, 16),
	}, nil)
	if err != nil {
		res.KCVReason = fmt.Sprintf("not compared: the service did not compute the key check value (%s of one zero block): %v", alg, serviceError(err))
		return
	}
	defer clear(r.Result)
	if r.KID == nil || string(*r.KID) != res.Kid {
		res.KCVReason = fmt.Sprintf("not compared: the service encrypted with kid %s, not the imported %s", echo(string(deref(r.KID))), res.Kid)
		return
	}
	if len(r.Result) != 16 {
		res.KCVReason = fmt.Sprintf("not compared: the service returned %d bytes for one block under %s; expected 16", len(r.Result), alg)
		return
	}
	got := r.Result[:byok.KCVLen]
	res.KCVService = hex.EncodeToString(got)
	want := hex.EncodeToString(spec.KCV)
	if bytes.Equal(got, spec.KCV) {
		res.KCVMatch = true
		res.KCVReason = fmt.Sprintf("the service's key check value %s equals the one recorded offline", res.KCVService)
		return
	}
	res.KCVMismatch = true
	res.KCVReason = fmt.Sprintf("the service's key check value %s differs from the one recorded offline (%s)", res.KCVService, want)
}

// aesMatchReason is MatchReason for an AES key: no public key, and what
// the key check value said.
func aesMatchReason(res *ImportResult) string {
	s := "an AES key has no public part to compare"
	switch {
	case res.KCVMatch:
		s += "; its key check value matches (kcv_match)"
	case res.KCVMismatch:
		s += "; its key check value DIFFERS (kcv_match)"
	default:
		s += "; its key check value was not compared (kcv_match)"
	}
	return s
}

// Package byok is the core of Bring Your Own Key into Azure Key Vault and
// Managed HSM: the Key Exchange Key (KEK) and its key identifier, the target
// keys the service accepts, the CKM_RSA_AES_KEY_WRAP ciphertext, and the
// .byok file that carries it.
//
// The facts this package relies on are gathered in the project's
// docs/specs/byok.md, after Microsoft's "Bring your own key specification".
//
// # The KEK
//
// The KEK is an RSA key (2048, 3072 or 4096 bits) that the vault generated
// with key_ops exactly ["import"]. [ParseKEK] reads its public half as a PEM
// SubjectPublicKeyInfo or PKCS#1 public key (what `az keyvault key download`
// writes), as the same in DER, or as the JSON that `az keyvault key show`
// prints (the whole object or just its "key" JWK). The key identifier (kid)
// must be a versioned https key URL of Key Vault or Managed HSM in one of the
// Azure clouds; see [ParseKid] for the exact rules. The KEK's fingerprint is
// the SHA-256 of its canonical SubjectPublicKeyInfo DER, so the same key has
// the same fingerprint whichever form it came in.
//
// # Target keys
//
// The service accepts RSA 2048/3072/4096, EC P-256/P-384/P-521 and (Managed
// HSM only) AES 128/192/256. The plaintext inside the wrap is the PKCS#8 DER
// of an RSA or EC private key (the EC key inside as an RFC 5915
// ECPrivateKey), or the raw bytes of an AES key. [ParseTargetFile] reads
// soft-form targets; [ClassifyPlaintext] and [IsCanonical] say what an
// unwrapped plaintext is and whether it is byte-for-byte the canonical
// encoding.
//
// # The ciphertext
//
//	ciphertext = RSA-OAEP(KEK, aes) || AES-KWP(aes, plaintext)
//
// where aes is a fresh AES-256 key, RSA-OAEP uses SHA-1, MGF1-SHA-1 and an
// empty label, and AES-KWP is RFC 5649 (NIST SP 800-38F KWP). The first
// len(KEK modulus) bytes are the RSA part. [Wrap] and [Unwrap] implement it in
// software, with crypto/rsa and tink-go's kwp/subtle.
//
// # The .byok file
//
//	{"schema_version":"1.0.0","header":{"kid":"<KEK kid>","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"<base64url>","generator":"<tool>"}
//
// [Blob.Marshal] writes exactly that, with members in that order, no
// insignificant whitespace, base64url without padding, and one final newline.
// [ParseBlob] is strict: it names the first deviation it finds. It accepts
// base64url with "=" padding, which some vendor tools emit, and a missing
// generator, which the specification makes optional.
//
// # Secrets
//
// Plaintext keys and ephemeral AES keys are cleared after use as a best
// effort; Go cannot guarantee that no copy survives (the AES key schedule,
// for one, is out of reach). Errors never contain key material.
package byok

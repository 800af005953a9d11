// Package securitydomain reads, restores and verifies Azure Key Vault Managed
// HSM security domains (SDs) offline, and creates the activation inputs
// (custodian certificates and the download request).
//
// The formats and cryptography follow the project's specification
// (docs/specs/security-domain.md), which was checked against the Azure CLI's own
// code and a real service-produced security domain:
//
//   - The SD file (§3): EncData entries, each a compact JWE with alg "dir",
//     and SharedKeys, one RSA-OAEP-256 JWE per custodian certificate holding a
//     Shamir share of the 32-byte master key. [ParseSD] accepts the plain JSON
//     the service returns and the base64 of it (the REST example's form). A
//     share JWE's kid is "not used" in SDs made before 2025 and a UUID-form
//     value per share since ([SecurityDomain.ShareKidForm]); nothing reads
//     it, and any string is accepted. testvectors/sd/recorded2025 holds a
//     real service-made SD of the current form.
//   - Compact JWE (§4): A256CBC-HS512 (RFC 7518 §5.2.5) with a 32-byte tag
//     compared in constant time; any other tag length is an error (the CLI
//     silently skips the MAC check then). Key management is RSA-OAEP-256
//     (SHA-256, MGF1-SHA-256, empty label) or "dir". Headers are byte-identical
//     to the service's; parsing rejects any header that is not in that form
//     (a share's kid aside: see above).
//   - Secret sharing (§5) over GF(257), not Vault's GF(2^8): each secret byte
//     gives a little-endian 16-bit word x<<9|y. [Combine] rejects duplicate or
//     zero x, x differing within a share, unequal lengths, y > 256 and a
//     recovered value > 255; [Split] is the service-side inverse.
//   - Key derivation (§6): NIST SP 800-108 counter mode with HMAC-SHA-512;
//     K_tag = KDF(master, tag, "", 512).
//   - The exchange key (§7): the PEM certificate `init-recovery` writes, or the
//     transfer-key JSON whose transfer_key is an object or a JSON string.
//   - The restore blob (§8): written in the az CLI's layout (key order, ", "
//     and ": " separators, no trailing newline).
//
// Custodian keys are reached through the small [Decrypter] interface, so that
// a restore works the same with a PEM private key ([SoftwareKey]) and with a
// key on a smartcard or PKCS#11 token ([NewTokenDecrypter]), which may only
// offer raw RSA; OAEP is then decoded on the host in constant time
// ([DecodeOAEPSHA256], RFC 8017 §7.1.2).
//
// The service side ([NewSecurityDomain], [OpenRestoreBlob], [TransferKeyJSON],
// [TransferKeyResponse], [ParseDownloadRequest]) exists for the emulator and for tests that check the
// offline side through an independent path.
//
// Go cannot guarantee that secrets leave no copy in memory; buffers holding
// shares, master keys and content keys are cleared as a best effort.
package securitydomain

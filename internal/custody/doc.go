// Package custody splits a secret M-of-N among custodians and recombines it
// from a quorum of their shares. It is meant for the small secrets a key
// ceremony must not leave in one person's hands: an HSM user PIN or SO PIN, a
// backup passphrase, a signing key.
//
// # Splitting
//
// [Split] validates everything before it does anything: 2 ≤ M ≤ N ≤ 255, a
// non-empty secret of at most [MaxSecretSize] bytes, and N distinct
// recipients (age X25519 "age1...", hybrid "age1pq1...", ssh-ed25519 and
// ssh-rsa public keys, and plugin recipients such as "age1yubikey1...", whose
// age-plugin-NAME binary must be on PATH). It then
//
//  1. draws a random 16-byte split ID and a random 32-byte commitment key K;
//  2. builds the payload K || BE32(len(secret)) || secret || zero padding up to
//     a multiple of [PayloadBlock] bytes, so that the share size does not tell
//     a 4-digit PIN from an 8-digit one;
//  3. splits the payload M-of-N with HashiCorp Vault's Shamir secret sharing
//     over GF(2^8) (github.com/hashicorp/vault/shamir);
//  4. encrypts share i, together with the split ID, M, N, i and the
//     commitment (see [Share]), to recipient i with age
//     (https://age-encryption.org/v1);
//  5. describes the split in a public [Manifest]: M, N, the recipients, each
//     share file's SHA-256, and the commitment.
//
// [WriteDir] writes the share files and manifest.json into a new directory,
// all or nothing.
//
// # The commitment
//
// Combining fewer than M Shamir shares does not fail: it silently yields a
// wrong value. The manifest therefore carries a commitment to the secret so
// that [Combine] can confirm what it produced. A bare or salted SHA-256 of the
// secret would be unsafe: the manifest is public and a PIN has perhaps 20 to 30
// bits of entropy, so anyone could find it by trying every PIN. The commitment
// is instead HMAC-SHA256(K, split ID || secret), where K is random and is
// itself part of the shared payload: only a quorum learns K, and without K the
// commitment says nothing about the secret.
//
// # Combining
//
// [Combine] reads the manifest, checks every share file present against its
// SHA-256, decrypts the shares the given identities open, checks that each
// belongs to this split (split ID, M, N, index and commitment all match the
// manifest, else [ErrMixedSplits]), needs at least M of them
// ([ErrTooFewShares]), combines, checks the padding and the commitment
// ([ErrCommitment]), and only then returns the secret.
//
// age does not authenticate who encrypted a file: someone able to replace
// every share file and the manifest could substitute a split of their own.
// The split ID and the manifest's fingerprint are therefore shown at split
// time and at combine time so that people can compare them with the record of
// the ceremony.
//
// # Steps
//
// `keyrite custody split`, `keyrite custody combine` and the guided
// ceremony run [SplitRequest] and [CombineRequest], shaped like the other
// ceremony steps: Validate checks everything checkable before the secret
// is split or recombined (outputs free, parameters, recipients and
// identities loaded, the secret file read, the ceremony open and locked),
// Run acts and, with a ceremony, records the step ("custody.split",
// "custody.combine", through transcripts/steps).
//
// A failed recording: the outputs are written first (a split's shares are
// the custodians' and are handed out at once; a combined secret is what
// the ceremony needs next), then the step is recorded. If the recording
// fails, the outputs stay and the error ([ErrRecord]) says so, for the step
// to be recorded by hand. The ceremony is held open, and locked, from
// Validate to Close.
//
// Secrets are kept in byte slices and cleared after use as a best effort; Go
// cannot promise that no copy remains in memory.
package custody

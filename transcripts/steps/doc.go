// Package steps is the one place where each kind of ceremony step is turned
// into a transcript event and read back from one.
//
// Every step keyrite records has a Go type here. Its Event method is the
// only encoding of that step: the step name, the sentence for people
// (action), the parameter names and their order, which artifacts are
// inputs and which outputs, and of what kind. Its Parse function is the only
// decoding: it reads an [transcripts.Entry] back into the type, accepting
// the spellings that transcripts written by earlier builds use. Writers
// (byok/export, ceremony, cmd/keyrite, internal/online/uploader) build these types
// and record their events; readers (the uploader, an export resuming,
// transcripts/replay) parse entries into them. A golden test pins the
// canonical bytes of each kind, so a change to what is recorded shows up as
// a diff someone has to review: auditors read these lines for years.
//
// # Steps
//
//	byok.export                  [BYOKExport]                one key wrapped under a KEK, as a .byok
//	byok.export.cleanup          [BYOKExportCleanup]         an interrupted export's unpublished outputs removed
//	sd.keygen                    [SDKeygen]                  custodian keys made, and the download request
//	sd.restore                   [SDRestore]                 a restore blob built from a quorum of custodian keys
//	sd.verify                    [SDVerify]                  a quorum drill
//	custody.split                [CustodySplit]              a secret split M-of-N among custodians
//	custody.combine              [CustodyCombine]            a split secret recombined
//	uploader.byok.import         [UploaderImport]            a recorded export imported (or its failure)
//	uploader.sd.upload           [UploaderSDUpload]          a recorded restore blob uploaded
//	uploader.sd.status           [UploaderSDStatus]          a later look at that upload's status
//	uploader.trust-on-first-use  [UploaderTrustOnFirstUse]   acting without a trust file, on whoever signed
//
// # Old spellings
//
// Transcripts are never rewritten, so the decoders keep reading what
// earlier builds and other tools recorded:
//
//   - byok.export: "key_ops" for "ops"; "target_spki_sha256" for
//     "public_key_sha256"; "kek_fingerprint" for "kek_sha256"; "key_uri" for
//     "source"; only "target" (RSA-2048, EC P-256, AES-256, ...) where newer
//     events also record "kty" and "crv"; the target's public key as an input
//     rather than an output, and as a DER rather than a PEM file.
//   - uploader.byok.import: no "public_key_check", which is then inferred
//     from "public_key_match" ([PublicKeyResult.RecordedCheck]).
//
// Steps of other kinds (a witness's note, "kek.inspect", another tool's
// steps) are left as entries: [Parse] returns nil for them, and [ClaimsOf]
// reads them by the parameter names the known kinds use.
//
// # Errors
//
// Decoding refuses only what makes an entry unusable as its kind (a
// byok.export with no .byok, or with a key type no import could name),
// with an [*EntryError] that names the event ("byok.export event 4: ...")
// so that a reader can put it into its own message as is. Everything else is
// read as recorded; what a reader will act on (a vault key name, the key
// operations, a key check value) it checks itself.
package steps

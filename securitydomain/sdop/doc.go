// Package sdop is the security-domain steps of a ceremony: the
// activation's custodian keys ([KeygenRequest]), the quorum restore
// ([RestoreRequest]) and the quorum drill ([DrillRequest]).
// `keyrite sd keygen`, `keyrite sd restore`, `keyrite sd verify` and the
// guided ceremony all run them; none has a keygen, restore or drill of its
// own.
//
// A keygen is checked by Validate (parameters, output directory, token
// URIs, every token present unless OneAtATime, the ceremony) before any
// key is made; Generate makes one custodian's key at a time (the guided
// ceremony: "insert custodian 2's card"), and Run makes the rest, writes
// the download request and the certificates, and records "sd.keygen"
// before the output directory is published.
//
// Each step is a Request, checked completely by Validate before anything
// is decrypted or written, then Run once, giving a result:
//
//	op, err := req.Validate() // files, sizes, exchange key, output, ceremony, key sources
//	defer op.Close()
//	op.Open(custodian)        // guided: one custodian at a time, the card removed after
//	res, err := op.Run()
//
// With Request.Keys (the command line) Validate loads every key source
// through the Loader (reading certificates, and checking unencrypted PEM
// keys against them, without a PIN or password) and Run opens the shares.
// Without Keys (the guided ceremony), custodians are offered one at a time
// with Open between Validate and Run, each share decrypted while its key is
// present ([securitydomain.Quorum]).
//
// # What Validate refuses
//
// Before any key is used: a missing file, a directory, a file over its
// limit ([MaxSDFile], [MaxExchangeKeyFile]), a malformed security domain or
// exchange key, an output that exists or whose directory does not, fewer
// key sources than the quorum, a security domain holding fewer shares than
// its quorum, a key source that cannot be loaded ([*KeyError]), a key given
// twice; and, with a ceremony, a ceremony directory that cannot record the
// step (in use, not a ceremony, unwritable, or already recording what this
// step would record under another content: one restore per ceremony). Each
// refusal matches a sentinel with errors.Is (this package's, or package
// securitydomain's, custodian's or transcripts').
//
// # Policies
//
// Size limits. A security-domain file may be up to [MaxSDFile] bytes, the
// largest artifact a transcript keeps: the file is recorded, and a file
// that could not be would fail only after the custodians did their work.
// Real security domains are some tens of KiB.
//
// Read-back. The blob is parsed back and compared before it is recorded
// (the same bytes after re-encoding; wrapped to the exchange certificate;
// the security domain's entries, in order, each with a ciphertext of the
// length its plaintext gives; a wrapped key of the exchange key's modulus
// size), and the written file is read again and compared byte for byte.
// Opening it needs the exchange private key, which only the HSM holds.
//
// A failed recording. With a ceremony, the restore blob is recorded before
// it is written to Request.Out: if the recording fails, nothing is
// written; if the write fails after the recording, the blob is in the
// ceremony (artifacts/restore_blob.json) and the error says so. A killed
// run therefore never leaves an output its transcript does not record.
// The ceremony is held open, and locked, from Validate to Close.
//
// The drill writes nothing but, with a ceremony, records an "sd.verify"
// step (the security domain and the drill's report), from the command line
// and the guided ceremony alike.
//
// # Errors
//
// Errors name the file, key source or ceremony at fault. Those of package
// securitydomain and custodian beneath keep their "securitydomain: " and
// "custodian: " prefixes; a key that did not open its share is a
// [*securitydomain.ShareError].
package sdop

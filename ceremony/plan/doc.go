// Package plan reads, checks, prints and co-signs ceremony plans: what a
// key ceremony is to do, written and reviewed before the day, so that an
// auditor can tell a faithful ceremony from an improvised one.
//
// # The plan file
//
// A plan is one YAML document (at most 1 MiB), decoded strictly with
// go.yaml.in/yaml/v3: unknown fields (with a "did you mean" for typos),
// duplicate keys and wrong types are refused, as are anchors, aliases,
// merge keys, explicit tags, control characters and any value still
// holding the templates' "FILL IN" placeholder. Every problem is reported
// with its line and field path ("plan.yaml:23: targets[0].size: ..."; a
// field missing from the top level has no line, a YAML syntax error the
// line where the text stops parsing), up to 20 at once, and a plan with
// any problem gives no [Plan] at all.
//
//	keyrite_plan: 1                  # the format version
//	kind: byok                       # byok | activation | restore
//	name: contoso-app-keys-2026q1
//	purpose: Import the payment signing key into contoso-prod.
//	people:                          # one role each; the key they sign with
//	  - {name: alice, role: operator, key: "alice+17e39a15+AZJ5..."}
//	  - {name: bob, role: witness, key: "bob+e001e97f+AZIg...", token_serial: "5c0ffee1"}
//	  - {name: rita, role: reviewer, key: "rita+a02c6f28+ASkw..."}
//	kek:
//	  kid: https://contoso-prod.vault.azure.net/keys/kek/0123...
//	  spki_sha256: 13e5718e...          # as `keyrite kek inspect` prints it
//	  file: kek.pem                     # optional, checked against both
//	targets:
//	  - {name: payments-signing, token: vendor, object: payments-signing,
//	     type: RSA, size: 3072, key_ops: [sign, verify], tags: {owner: payments}}
//	checklist:
//	  - {item: "tamper bag #4711 intact", by: bob}          # at: start (default) or end
//	policy:
//	  closing: {operator: 1, witness: 1}   # transcripts trust policy that closes the ceremony
//	  review: {reviewer: 1}                # signatures the plan needs before the day
//
// Activation and restore plans have security_domain instead of kek and
// targets: the quorum and the custodians (each a person of role
// custodian); a restore also names the security-domain file and its
// SHA-256, each custodian's certificate file and x5t#S256 thumbprint, and
// optionally the exchange key. [Template] gives a commented template of
// each kind (`keyrite plan new KIND`).
//
// # What the check knows before the day
//
// [Parse] and [Read] check everything that can be known without the
// hardware: the version and kind; names (people as transcripts signer
// names, vault key names as the service allows, PKCS#11 sources as
// package hsm parses them); each verifier key (parsed, named as the
// person, no key twice); roles (exactly one operator, a witness,
// custodians for the security domain, nobody referenced who is not
// listed); the KEK's kid (byok.ParseKid) and, with its file, its SPKI
// digest; target types and sizes the service imports, key_ops the type
// allows, tags within the service's limits; the security-domain quorum
// within the service's limits (2 to 10, 3 to 10 custodians at activation,
// never more than the custodians listed); for a restore, the
// security-domain file's SHA-256 and quorum, each certificate's thumbprint
// and that the security domain holds a share for it, the exchange key's
// thumbprint; and that both policies are satisfiable by the people listed
// (transcripts.NewTrust: the closing policy by the people in the room, the
// review policy by everyone). Files are named relative to the plan, never
// absolutely, so that plan and files travel together.
//
// # The script
//
// A checked plan has [Plan.Steps]: the ordered script of the ceremony,
// each [Step] with a number, a [StepKind] (attendance, checklist,
// selftest, kek.inspect, byok.export, sd.keygen, sd.download, sd.verify,
// sd.file, sd.exchange-key, sd.custodian, sd.restore, transcript.sign),
// who acts and confirms, the action as people read it, the keyrite
// command that performs it by hand, and the expected [Fact]s (kid,
// fingerprints with their words, token serials, key type, vault name,
// key_ops, tags; empty values for what is known only on the day). Facts
// marked Aloud are compared aloud. [Plan.WriteScript] prints the steps as
// text or as markdown with initials and time columns for printing.
//
// A runner (`keyrite ceremony run`, later work) walks Steps in order: for
// each step it performs the operation of its kind with the plan's answers
// pre-filled, checks each hardware fact against the step's Facts before
// any PIN is asked, and records anything different as a deviation. Step
// kinds that record a transcript event are named as the event's step.
//
// # Review signatures
//
// Reviewers co-sign the plan before the day with the same keys and forms
// as transcripts (Ed25519 or ECDSA P-256, [transcripts.Signer]; [OpenKey]
// opens a PEM file or a key on a token): a C2SP
// signed note over [Plan.NoteText], which binds the kind, the name and
// the SHA-256 of the plan file's exact bytes, kept beside the plan as
// PLAN.sig ([SigPath]); each reviewer's signature is merged into it
// ([Plan.Sign]). [Plan.CheckReview] says who signed and whether the
// review policy is met. Any change to the plan, even to a comment,
// changes its digest: earlier signatures are then reported as stale and
// count for nothing.
package plan

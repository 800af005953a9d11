// Package ceremony runs keyrite's guided ceremonies: BYOK export, Managed
// HSM security-domain restore, and the quorum drill. It drives each step
// through the small [UI] interface and knows nothing of how the person sees
// it: package ceremony/tui draws it with Bubble Tea, ceremony/plain asks line
// by line (no terminal needed, for --plain and screen readers), and
// ceremony/ceremonytest scripts it for tests. One engine, three faces.
//
// # What the engine does
//
// The flows call the same operations as the command-line subcommands:
// package byok for the KEK, byok/export (through [Backends]) for the export,
// and securitydomain/sdop for the restore and the drill, each a Request
// validated completely before it acts, then run and recorded the same way
// from every face; the restore opens one custodian's share at a time
// (securitydomain.Quorum), so a card can be removed once its share is open. Every flow validates everything before it acts: it
// checks each input as it is given, refuses an output that exists, and shows a
// summary to confirm before it asks for a PIN or opens an HSM session. After
// writing, it reads the output back and checks it.
//
// Every artifact is shown as its SHA-256 and its PGP word list
// (internal/base/words) so that the people on both sides of the air gap can compare
// them aloud. When a ceremony directory is chosen, each state-changing step is
// recorded, as one of the typed events of transcripts/steps.
//
// # Secrets
//
// PINs and passphrases are asked for with [UI.AskSecret], which never echoes
// them; they are cleared after use as a best effort (Go cannot guarantee that
// no copy remains). The engine never puts a secret in a [Message].
package ceremony

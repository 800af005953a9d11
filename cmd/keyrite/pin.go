package main

import (
	"flag"
	"fmt"

	"github.com/keyrite/keyrite/hsm"
)

// Hints for a token's PIN counter (byok export has its own, in package
// byok/export).
const (
	hintPINLocked   = "the token's security officer must unlock or reset the user PIN with the vendor's tool (e.g. pkcs11-tool --login --login-type so --init-pin); no PIN can be tried until then"
	hintPINFinalTry = "the next wrong PIN locks the token: make sure of the PIN, then run again with --final-pin-try to use the last try, or have the security officer reset the PIN first"
)

// registerFinalPINTry adds --final-pin-try to a command that logs in to
// tokens: without it, a token that reports that the next wrong PIN locks
// it (CKF_USER_PIN_FINAL_TRY) is refused before any PIN is tried.
func registerFinalPINTry(fs *flag.FlagSet) *bool {
	return fs.Bool("final-pin-try", false, "try the PIN even when the token reports that the next wrong PIN locks it (the last try)")
}

// loginOptions is how the command's logins treat the token's PIN counter:
// the final try only with --final-pin-try, warnings (a wrong PIN entered
// earlier) on stderr before the PIN is asked for or tried. (The token's
// label in them is quoted with %q, so a label cannot forge lines.)
func loginOptions(e *env, finalTry bool) hsm.LoginOptions {
	return hsm.LoginOptions{FinalTry: finalTry, Warn: func(msg string) {
		fmt.Fprintf(e.stderr, "keyrite: warning: %s\n", msg)
	}}
}

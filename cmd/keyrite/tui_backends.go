package main

import (
	"fmt"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/securitydomain"
)

// guidedBackends hands the guided ceremony the PKCS#11 paths of the
// subcommands, so that both run the same code. BYOK export from an HSM is
// wired in when `keyrite byok export` has it.
func guidedBackends() ceremony.Backends {
	return ceremony.Backends{OpenCustodian: guidedOpenCustodian}
}

// guidedOpenCustodian opens a custodian's key on a token the way `keyrite sd
// restore --wrapping-key pkcs11:...` does (sd_keys.go: keyLoader), except
// that the PIN comes from the ceremony UI instead of --pin-env/--pin-file or
// the terminal. It logs in at once: the guided restore opens each share while
// the card is present, then closes the session so the card can be removed.
func guidedOpenCustodian(uri string, pin func(string) ([]byte, error)) (securitydomain.Custodian, func() error, error) {
	l := newKeyLoader(nil, nil)
	fail := func(err error) (securitydomain.Custodian, func() error, error) {
		l.Close()
		return securitydomain.Custodian{}, nil, err
	}
	c, err := l.loadToken(uri)
	if err != nil {
		return fail(err)
	}
	tk, ok := c.Key.(*tokenKey)
	if !ok {
		return fail(fmt.Errorf("internal error: %s is not a token key", c.Name))
	}
	p, err := pin(fmt.Sprintf("PIN for token %q (not shown)", tk.conn.sess.Token().Label))
	if err != nil {
		return fail(err)
	}
	if err := tk.conn.sess.Login(p); err != nil { // Login wipes p
		return fail(fmt.Errorf("token %q: %s", tk.conn.sess.Token().Label, sdMsg(err)))
	}
	tk.conn.loggedIn = true
	if err := tk.open(); err != nil {
		return fail(err)
	}
	return c, func() error { l.Close(); return nil }, nil
}

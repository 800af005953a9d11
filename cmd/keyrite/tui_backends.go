package main

import (
	"errors"

	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
)

// guidedBackends hands the guided ceremony the code paths of the
// subcommands, so that both run the same code: the export is package
// byok/export, which `keyrite byok export` calls too (ceremony.RunExport
// hands it the PIN the ceremony asked for through its PIN callback).
func guidedBackends() ceremony.Backends {
	return ceremony.Backends{Export: ceremony.RunExport, OpenCustodian: guidedOpenCustodian, Discovery: guidedDiscovery()}
}

// guidedOpenCustodian opens a custodian's key on a token the way `keyrite sd
// restore --wrapping-key pkcs11:...` does (package custodian), except that
// the PIN comes from the ceremony UI instead of --pin-env/--pin-file or the
// terminal, and that it is asked at once (custodian.Loader.Open): the guided
// restore opens each share while the card is present, then closes the
// session so the card can be removed; login is the ceremony's treatment of
// the token's PIN counter (warnings shown, the final try a second
// question). Errors read as the subcommand's; an error of the UI itself
// (cancelled, at the PIN or at the final-try question) comes back as it is.
func guidedOpenCustodian(uri string, pin func(string) ([]byte, error), login hsm.LoginOptions) (securitydomain.Custodian, func() error, error) {
	var uiErr error
	if confirm := login.ConfirmFinalTry; confirm != nil {
		login.ConfirmFinalTry = func(q string) (bool, error) {
			ok, err := confirm(q)
			uiErr = err
			return ok, err
		}
	}
	l := custodian.NewLoader(custodian.Options{PIN: func(prompt string) ([]byte, error) {
		p, err := pin(prompt + " (not shown)")
		uiErr = err
		return p, err
	}, Login: login})
	c, err := l.Open(uri)
	if err != nil {
		l.Close()
		switch {
		case uiErr != nil && errors.Is(err, uiErr):
			err = uiErr
		default:
			err = custodianError(err, true)
		}
		return securitydomain.Custodian{}, nil, err
	}
	return c, l.Close, nil
}

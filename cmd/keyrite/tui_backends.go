package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/internal/cli"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
)

// guidedBackends hands the guided ceremony the code paths of the
// subcommands, so that both run the same code.
func guidedBackends() ceremony.Backends {
	return ceremony.Backends{Export: guidedExport, OpenCustodian: guidedOpenCustodian}
}

// guidedExport exports a key for the guided ceremony with package
// byok/export, the code `keyrite byok export` runs: the KEK is the one the
// person confirmed, and the PIN, when there is one, is the one the ceremony
// asked for after the summary (handed over through the PIN callback, never
// through the disk, argv or the environment). Deviations are returned as
// warnings in the details; an error carries its hints in its text.
func guidedExport(req ceremony.ExportRequest) (*ceremony.ExportResult, error) {
	pin := req.PIN
	defer clear(pin)
	xr := export.Request{KEK: req.KEK, Keys: []string{req.Source}, Out: req.Out, Name: req.Name, CeremonyDir: req.CeremonyDir}
	if pin != nil {
		// Asked for before the module is loaded, as --pin-file is.
		xr.PINEarly = true
		xr.PIN = func(string) ([]byte, error) { return bytes.Clone(pin), nil }
	}
	res, err := export.Run(xr)
	if err != nil {
		if h := cli.Hints(err); len(h) > 0 {
			return nil, fmt.Errorf("%w (hint: %s)", err, strings.Join(h, "; "))
		}
		return nil, err
	}
	r := res.Keys[0]
	out := &ceremony.ExportResult{Blob: r.Blob, Target: r.Target, Detail: []ceremony.Field{
		{Name: "key", Value: r.Key},
		{Name: "name", Value: r.Name},
		{Name: "key_ops", Value: strings.Join(r.Ops, ",")},
		{Name: "mechanism", Value: r.Mechanism},
	}}
	if r.HSM != nil {
		out.Detail = append(out.Detail, ceremony.Field{Name: "token", Value: fmt.Sprintf("%s (%s %s, serial %s)",
			r.HSM.Token.Label, r.HSM.Token.Manufacturer, r.HSM.Token.Model, r.HSM.Token.Serial)})
	}
	if r.Preflight != nil {
		st := "passed"
		if !r.Preflight.Passed {
			st = "FAILED (rehearsal): " + r.Preflight.Reason
		}
		out.Detail = append(out.Detail, ceremony.Field{Name: "pre-flight", Value: st})
	}
	for _, d := range r.Deviations {
		out.Detail = append(out.Detail, ceremony.Field{Name: "warning", Value: d})
	}
	return out, nil
}

// guidedOpenCustodian opens a custodian's key on a token the way `keyrite sd
// restore --wrapping-key pkcs11:...` does (package custodian), except that
// the PIN comes from the ceremony UI instead of --pin-env/--pin-file or the
// terminal, and that it is asked at once (custodian.Loader.Open): the guided
// restore opens each share while the card is present, then closes the
// session so the card can be removed. Errors read as the subcommand's; an
// error of the UI itself (cancelled) comes back as it is.
func guidedOpenCustodian(uri string, pin func(string) ([]byte, error)) (securitydomain.Custodian, func() error, error) {
	var uiErr error
	l := custodian.NewLoader(custodian.Options{PIN: func(prompt string) ([]byte, error) {
		p, err := pin(prompt + " (not shown)")
		uiErr = err
		return p, err
	}})
	c, err := l.Open(uri)
	if err != nil {
		info, _ := l.HSMInfo()
		l.Close()
		switch {
		case uiErr != nil && errors.Is(err, custodian.ErrNoSecret):
			err = uiErr
		case errors.Is(err, custodian.ErrLogin) && info != nil:
			err = fmt.Errorf("token %q: %s", info.TokenLabel, sdMsg(err))
		default:
			err = custodianError(err, true)
		}
		return securitydomain.Custodian{}, nil, err
	}
	return c, l.Close, nil
}

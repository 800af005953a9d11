package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

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

// guidedExport runs `keyrite byok export` itself (runBYOKExport) for the
// guided ceremony. The KEK it passes is the one the person confirmed, as a
// PEM written into a pipe, and the PIN, when there is one, goes through a
// pipe too (--pin-file /dev/fd/N): neither touches the disk, argv or the
// environment. Warnings the command prints are returned as details.
func guidedExport(req ceremony.ExportRequest) (*ceremony.ExportResult, error) {
	kekPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: req.KEK.SPKI})
	kekFile, err := guidedPipe(kekPEM)
	if err != nil {
		return nil, err
	}
	defer kekFile.Close()
	args := []string{"--key", req.Source, "--kek", guidedFdPath(kekFile), "--kid", req.KEK.Kid, "--out", req.Out, "--json"}
	if req.Name != "" {
		args = append(args, "--name", req.Name)
	}
	if req.CeremonyDir != "" {
		args = append(args, "--ceremony", req.CeremonyDir)
	}
	if req.PIN != nil {
		pinFile, err := guidedPipe(req.PIN)
		clear(req.PIN)
		if err != nil {
			return nil, err
		}
		defer pinFile.Close()
		args = append(args, "--pin-file", guidedFdPath(pinFile))
	}
	var stdout, stderr bytes.Buffer
	err = runBYOKExport(&env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}, args)
	if err != nil {
		if h := cli.Hints(err); len(h) > 0 {
			return nil, fmt.Errorf("%w (hint: %s)", err, strings.Join(h, "; "))
		}
		return nil, err
	}
	var r exportJSON
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("internal error: reading the export result: %w", err)
	}
	blob, err := os.ReadFile(req.Out)
	if err != nil {
		return nil, err
	}
	res := &ceremony.ExportResult{Blob: blob, Target: r.Target, Detail: []ceremony.Field{
		{Name: "key", Value: r.Key},
		{Name: "name", Value: r.Name},
		{Name: "key_ops", Value: strings.Join(r.Ops, ",")},
		{Name: "mechanism", Value: r.Mechanism},
	}}
	if r.HSM != nil {
		res.Detail = append(res.Detail, ceremony.Field{Name: "token", Value: fmt.Sprintf("%s (%s %s, serial %s)",
			r.HSM.Token.Label, r.HSM.Token.Manufacturer, r.HSM.Token.Model, r.HSM.Token.Serial)})
	}
	if r.Preflight != nil {
		st := "passed"
		if !r.Preflight.Passed {
			st = "FAILED (rehearsal): " + r.Preflight.Reason
		}
		res.Detail = append(res.Detail, ceremony.Field{Name: "pre-flight", Value: st})
	}
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if l != "" {
			res.Detail = append(res.Detail, ceremony.Field{Name: "warning", Value: strings.TrimPrefix(l, "keyrite: warning: ")})
		}
	}
	return res, nil
}

// guidedPipe returns the read end of a pipe holding data (which must fit in
// the pipe buffer: a key or a PIN does).
func guidedPipe(data []byte) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	_, err = w.Write(data)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func guidedFdPath(f *os.File) string { return fmt.Sprintf("/dev/fd/%d", f.Fd()) }

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

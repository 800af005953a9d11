package custodian

import (
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/transcripts"
)

// Options are where a [Loader] gets secrets. Prompts name what is asked for
// (`password for wrap_0.pem`, `PIN for token "alice"`) without final
// punctuation: the caller adds its own (": " on a terminal). The loader
// clears a returned buffer once it was used.
type Options struct {
	// Password returns the password of an encrypted PEM key. It is called
	// when the key is first used, once per key. When nil, encrypted keys
	// fail with ErrNoSecret.
	Password func(prompt string) ([]byte, error)
	// PIN returns a token's user PIN. It is called when the token must first
	// be logged in, once per token (again only after a failed login). A
	// URI's pin-source=file:PATH is read instead. When nil, a token without
	// pin-source fails with ErrNoSecret when it needs a login.
	PIN func(prompt string) ([]byte, error)
	// Login says how a login treats the token's PIN counter (see
	// [hsm.LoginOptions]): the token's flags are read before the PIN is
	// asked for, a locked PIN is refused, and the final try needs a
	// confirmation (Login.FinalTry or Login.ConfirmFinalTry); warnings go
	// to Login.Warn. A refusal or a failed login is an ErrLogin wrapping
	// the *hsm.PINError.
	Login hsm.LoginOptions
}

// A Loader turns key sources into custodians (see the package
// documentation for the forms). Keys on the same token share one session
// and one login. Close the Loader when done: the keys it made are unusable
// afterwards. A Loader is not safe for concurrent use.
type Loader struct {
	opts   Options
	tokens map[string]*Token // by module path and token filter
	order  []*Token          // in the order first used
}

// NewLoader returns a Loader that asks for secrets through opts.
func NewLoader(opts Options) *Loader {
	return &Loader{opts: opts, tokens: map[string]*Token{}}
}

// Load makes the custodian for one key source. It reads the certificate
// (from the file, or from the token without logging in when the certificate
// carries the key's label or id= is given) and checks an unencrypted PEM key
// against it now; an encrypted key's password and a token's PIN are asked
// when the key is first used, so that a restore asks only the custodians
// whose shares it opens. The custodian's Name is the key file's path or the
// redacted URI.
func (l *Loader) Load(src string) (securitydomain.Custodian, error) {
	if hsm.IsURI(src) {
		return l.loadToken(src)
	}
	return l.loadFile(src)
}

// Open is Load followed by opening the key at once: the password or PIN is
// asked now, and a token key is found and checked against its certificate.
// The guided ceremony uses it to open one custodian's share while the card
// is present, with one Loader per card, closed right after.
func (l *Loader) Open(src string) (securitydomain.Custodian, error) {
	c, err := l.Load(src)
	if err != nil {
		return securitydomain.Custodian{}, err
	}
	k, ok := c.Key.(interface{ open() error })
	if !ok {
		return securitydomain.Custodian{}, fmt.Errorf("custodian: internal error: %s has no key to open", c.Name)
	}
	if err := k.open(); err != nil {
		return securitydomain.Custodian{}, err
	}
	return c, nil
}

// Close logs out of every token this Loader logged in to and closes its
// sessions and modules. Passwords and PINs are not kept, so there is none to
// wipe. The Loader may be used again afterwards; the keys it made before may
// not. The first error is returned, after everything was tried.
func (l *Loader) Close() error {
	var errs []error
	for _, t := range l.order {
		if t.loggedIn {
			errs = append(errs, t.sess.Logout())
		}
		errs = append(errs, t.sess.Close(), t.mod.Close())
		t.loggedIn, t.closed = false, true
	}
	l.order, l.tokens = nil, map[string]*Token{}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("custodian: closing: %w", err)
		}
	}
	return nil
}

// HSMInfo describes, for a transcript, the first token this Loader used,
// and lists every token as "LABEL (MANUFACTURER MODEL, serial SERIAL,
// module PATH)". Both are empty when no token was used.
func (l *Loader) HSMInfo() (*transcripts.HSMInfo, []string) {
	var first *transcripts.HSMInfo
	var all []string
	for _, t := range l.order {
		ti := t.sess.Token()
		if first == nil {
			first = &transcripts.HSMInfo{ModulePath: t.mod.Path, ModuleSHA256: t.mod.SHA256, TokenLabel: ti.Label,
				Manufacturer: ti.Manufacturer, Model: ti.Model, Serial: ti.Serial, Firmware: ti.Firmware}
		}
		all = append(all, fmt.Sprintf("%s (%s %s, serial %s, module %s)", ti.Label, ti.Manufacturer, ti.Model, ti.Serial, t.mod.Path))
	}
	return first, all
}

// A Token is an open session on one custodian's token, shared by every key
// the Loader loads from it and logged in at most once. It belongs to the
// Loader: Loader.Close ends it.
type Token struct {
	mod      *hsm.Module
	sess     *hsm.Session
	loggedIn bool
	closed   bool   // by Loader.Close: the module may be unloaded
	pinFile  string // from the URI's pin-source
	pin      func(prompt string) ([]byte, error)
	login    hsm.LoginOptions
}

// Token returns the (shared) session on the token u names, opening it
// without logging in. Only u's token attributes and module-path matter; its
// pin-source, if any, is where Login reads the PIN. Keygen uses it to
// generate keys on custodians' tokens.
func (l *Loader) Token(u *hsm.URI) (*Token, error) {
	if u.ModulePath == "" {
		return nil, errorf(ErrModule, nil, "PKCS#11 URI %s has no module-path", u.Redacted())
	}
	f := u.TokenFilter()
	key := u.ModulePath + "\x00" + f.String()
	if t, ok := l.tokens[key]; ok {
		return t, nil
	}
	m, err := hsm.Load(u.ModulePath)
	if err != nil {
		return nil, wrap(ErrModule, err)
	}
	slot, err := m.FindToken(f)
	if err != nil {
		m.Close()
		return nil, wrap(ErrToken, err)
	}
	s, err := m.OpenSession(slot)
	if err != nil {
		m.Close()
		return nil, wrap(ErrSession, err)
	}
	t := &Token{mod: m, sess: s, pinFile: u.PINFile(), pin: l.opts.PIN, login: l.opts.Login}
	l.tokens[key] = t
	l.order = append(l.order, t)
	return t, nil
}

// Label is the token's label.
func (t *Token) Label() string { return t.sess.Token().Label }

// Session is the token's session, for operations this package does not do
// (generating keys). Do not close it or log it out, nor use it after
// Loader.Close.
func (t *Token) Session() *hsm.Session { return t.sess }

// usable fails once the Loader was closed: the session is gone and the
// module may be unloaded, so nothing may call into it.
func (t *Token) usable() error {
	if t.closed {
		return errorf(ErrSession, nil, "token %q: the session was closed", t.sess.Token().Label)
	}
	return nil
}

// Login logs the token's user in, once: it reads the token's PIN flags
// (refusing a locked PIN, and the final try without a confirmation, before
// anyone is asked), reads the PIN from the URI's pin-source file or asks
// Options.PIN, and clears it after the login.
func (t *Token) Login() error {
	if err := t.usable(); err != nil {
		return err
	}
	if t.loggedIn {
		return nil
	}
	if _, err := t.sess.CheckPIN(t.login); err != nil {
		return wrap(ErrLogin, err)
	}
	label := t.Label()
	prompt := fmt.Sprintf("PIN for token %q", label)
	var pin []byte
	var err error
	switch {
	case t.pinFile != "":
		pin, err = readPINFile(t.pinFile)
	case t.pin == nil:
		err = errors.New("no PIN source was given")
	default:
		pin, err = t.pin(prompt)
	}
	if err != nil {
		clear(pin)
		return errorf(ErrNoSecret, err, "token %q: %v", label, err)
	}
	if err := t.sess.LoginWith(pin, t.login); err != nil { // clears pin
		return wrap(ErrLogin, err)
	}
	t.loggedIn = true
	return nil
}

package ceremony

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/keyrite/keyrite/internal/base/words"
	"github.com/keyrite/keyrite/securitydomain"
)

// A CardCert is a certificate found on a card without a PIN (certificates
// are public objects), with the URI of the private key beside it.
type CardCert struct {
	KeyURI  string // the private key with the certificate's CKA_ID, with module-path
	Label   string
	Subject string
	SHA256  [32]byte // of the certificate's DER
}

// X5T256 is the certificate's x5t#S256, as security domains name it.
func (c CardCert) X5T256() string { return base64.RawURLEncoding.EncodeToString(c.SHA256[:]) }

// restoreCards finds custodians' keys on cards for a restore or a drill:
// the card is found in the reader, its certificates listed without a PIN,
// and the one that holds a share of the security domain is shown (whose
// card it is: token, serial, thumbprint and words) before the PIN.
type restoreCards struct {
	e  *Engine
	sd *securitydomain.SecurityDomain
	w  *cardWaiter
}

func (rc *restoreCards) available() bool {
	d := rc.e.Backends.Discovery
	return d.Modules != nil && d.Tokens != nil && d.Certificates != nil && rc.e.Backends.OpenCustodian != nil
}

// keyOnCard waits for who's card and returns the URI of its wrapping key,
// and the function that marks the card used (once its share is open).
func (rc *restoreCards) keyOnCard(who string) (string, func(), error) {
	if rc.w == nil {
		f := newModuleField(rc.e, "PKCS#11 module of the custodians' cards")
		if err := AskForm(rc.e.UI, &Form{Title: "Cards", Fields: []*FormField{f}}); err != nil {
			return "", nil, err
		}
		rc.w = &cardWaiter{e: rc.e, module: f.Value, seen: map[string]bool{}, keepFresh: true}
	}
	t, err := rc.w.wait(who)
	if err != nil {
		return "", nil, err
	}
	certs, err := rc.e.Backends.Discovery.Certificates(rc.w.module, t)
	if err != nil {
		return "", nil, err
	}
	for _, c := range certs {
		for i, sh := range rc.sd.Shares {
			if sh.X5T256 != c.X5T256() {
				continue
			}
			rc.e.UI.Show(Message{Kind: Info, Title: fmt.Sprintf("%s's card holds share %d of the security domain", who, i+1), Fields: []Field{
				{"certificate", c.Label + " (" + c.Subject + ")"},
				{"x5t#S256", c.X5T256()},
				{"words", WordLines(words.Fingerprint(c.SHA256).Short(), 8)},
			}})
			return c.KeyURI, func() { rc.w.seen[tokenKey(t)] = true }, nil
		}
	}
	return "", nil, fmt.Errorf("%w: card %q (serial %s) holds no certificate of this security domain's %d shares",
		ErrNoShareOnCard, t.Label, t.Serial, len(rc.sd.Shares))
}

// ErrNoShareOnCard is returned (wrapped) when a card holds no certificate
// of the security domain.
var ErrNoShareOnCard = errors.New("ceremony: no share for this card")

// newModuleField is a select field of the discovered PKCS#11 modules.
func newModuleField(e *Engine, title string) *FormField {
	return &FormField{Key: "module", Title: title, Kind: SelectField,
		Options: func() ([]Option, error) {
			if e.Backends.Discovery.Modules == nil {
				return nil, fmt.Errorf("%w: module discovery", ErrNotAvailable)
			}
			var opts []Option
			for _, m := range e.Backends.Discovery.Modules() {
				opts = append(opts, Option{Label: m.Path + "  (" + m.Source + ")", Value: m.Path})
			}
			if len(opts) == 0 {
				return nil, errors.New("no PKCS#11 module found in the usual places")
			}
			return opts, nil
		}}
}

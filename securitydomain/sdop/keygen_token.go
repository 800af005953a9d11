package sdop

import (
	"fmt"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
)

// A TokenKeyError is a failure making custodian Index's key on its token
// (labelled Token): generating the pair, signing or storing the
// certificate, or making the key decrypt-only. It matches Err (package
// hsm's or securitydomain's).
type TokenKeyError struct {
	Index int
	Token string
	Bits  int
	Err   error
}

func (e *TokenKeyError) Error() string { return fmt.Sprintf("token %q: %v", e.Token, e.Err) }
func (e *TokenKeyError) Unwrap() error { return e.Err }

// tokenID tells tokens apart across Loaders (one card at a time).
type tokenID struct{ manufacturer, model, serial, label string }

// tokenKeyLabel is the label of custodian i's new key: the URI's object=,
// else PREFIX-<i+1>.
func tokenKeyLabel(u *hsm.URI, prefix string, i int) string {
	if u.Object != "" {
		return u.Object
	}
	return fmt.Sprintf("%s-%d", prefix, i+1)
}

// tokenKeyURI names the new private key on the token u names.
func tokenKeyURI(u *hsm.URI, label string, id []byte) string {
	ku := *u
	ku.Object, ku.ID, ku.Type = label, id, "private"
	return ku.String()
}

// generateOnToken makes custodian i's key on its token: found now, with a
// Loader of its own, when OneAtATime.
func (k *Keygen) generateOnToken(i int) (*KeygenCustodian, error) {
	if !k.req.OneAtATime {
		return k.makeOn(i, k.toks[i])
	}
	if k.req.NextToken != nil {
		if err := k.nextToken(i); err != nil {
			return nil, err
		}
	}
	l := custodian.NewLoader(k.req.Secrets)
	defer l.Close()
	tok, err := l.Token(k.uris[i])
	if err != nil {
		return nil, &KeyError{Source: k.req.Tokens[i], Err: err}
	}
	ti := tok.Session().Token()
	id := tokenID{ti.Manufacturer, ti.Model, ti.Serial, ti.Label}
	for j, s := range k.seen {
		if s == id {
			return nil, &TokenSourceError{Index: i, URI: fmt.Sprintf("%q", ti.Label), Other: j, Err: ErrSameToken}
		}
	}
	c, err := k.makeOn(i, tok)
	if err != nil {
		return nil, err
	}
	k.seen = append(k.seen, id)
	info, all := l.HSMInfo()
	if k.info == nil {
		k.info = info
	}
	k.tokens = append(k.tokens, all...)
	return c, nil
}

// makeOn logs in to tok (the PIN asked now), generates the key pair on it,
// signs and stores the certificate and makes the key decrypt-only.
func (k *Keygen) makeOn(i int, tok *custodian.Token) (*KeygenCustodian, error) {
	if err := tok.Login(); err != nil {
		return nil, &KeyError{Source: k.req.Tokens[i], Err: err}
	}
	u := k.uris[i]
	label := tokenKeyLabel(u, k.req.Label, i)
	id := make([]byte, 16)
	if _, err := k.rand().Read(id); err != nil {
		return nil, err
	}
	s := tok.Session()
	fail := func(err error) error {
		return &TokenKeyError{Index: i, Token: s.Token().Label, Bits: k.req.Bits, Err: err}
	}
	key, err := s.GenerateRSAKeyPair(hsm.RSAKeyPairOptions{Bits: k.req.Bits, Label: label, ID: id, Sign: true})
	if err != nil {
		return nil, fail(err)
	}
	k.made = append(k.made, tokenKeyURI(u, label, id))
	cert, err := securitydomain.SelfSignedCertificate(key, label, k.now(), k.rand())
	if err != nil {
		return nil, fail(err)
	}
	if err := key.DisableSign(); err != nil {
		return nil, fail(err)
	}
	if _, err := s.StoreCertificate(cert, label, id); err != nil {
		return nil, fail(err)
	}
	c := describeCustodian(i, cert)
	c.Key = tokenKeyURI(u, label, id)
	c.Token = s.Token().Label
	return c, nil
}

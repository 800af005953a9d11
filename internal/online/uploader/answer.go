package uploader

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/transcripts"
)

// Checks of what the service answers to the key calls, before anything in
// it is believed or recorded.

// ErrUnexpectedKid is returned (wrapped, as *KidError) when the service
// answers a key call with a key identifier that is not a version of the
// key sent, in the vault called. The answer is refused: never recorded as
// the key imported or created.
var ErrUnexpectedKid = errors.New("uploader: " + unexpectedKidText)

// unexpectedKidText is ErrUnexpectedKid's text without the prefix, for
// KidError (see busyText).
const unexpectedKidText = "the service answered with a key identifier of another key or vault"

// KidError is ErrUnexpectedKid with the answer.
type KidError struct {
	Answer string // which answer, e.g. "the answer to PUT /keys/app"
	Kid    string // the kid it named (cut by echo)
	Want   string // what it should have named
	Why    string // how it differs
}

func (e *KidError) Error() string {
	return fmt.Sprintf("%s: %s names kid %s, which is not %s: %s; refusing it", unexpectedKidText, e.Answer, e.Kid, e.Want, e.Why)
}

func (e *KidError) Unwrap() error { return ErrUnexpectedKid }

// NonRetriable tells azcore's retry policy not to retry.
func (e *KidError) NonRetriable() {}

// kidHost is the host of the key identifiers the vault at vaultURL (as
// serviceURL returned it) mints. For a real vault, its own host. For a
// local stand-in (--ca), the host the service would give it, by the
// emulator's rules: https://HOST:PORT/kv/NAME mints NAME.vault.azure.net,
// /mhsm/NAME NAME.managedhsm.azure.net; a host NAME.vault.* or
// NAME.managedhsm.* (a name resolved to the stand-in) likewise; any other
// URL is the emulator's Managed HSM "default".
func (c *Client) kidHost(vaultURL string) (string, error) {
	u, err := url.Parse(vaultURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: %q", ErrURL, vaultURL)
	}
	host := strings.ToLower(u.Hostname())
	if !c.local {
		return host, nil
	}
	const vault, hsm = ".vault.azure.net", ".managedhsm.azure.net"
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) >= 2 && parts[1] != "" {
		switch parts[0] {
		case "kv":
			return strings.ToLower(parts[1]) + vault, nil
		case "mhsm":
			return strings.ToLower(parts[1]) + hsm, nil
		}
	}
	if net.ParseIP(host) == nil {
		if name, rest, ok := strings.Cut(host, "."); ok {
			switch {
			case strings.HasPrefix(rest, "vault."):
				return name + vault, nil
			case strings.HasPrefix(rest, "managedhsm."):
				return name + hsm, nil
			}
		}
	}
	return "default" + hsm, nil
}

// checkKid checks a kid the service answered a call on key name in the
// vault at vaultURL with: a key version URL as the service writes them
// (byok.ParseKid: https, no port, query or fragment, /keys/NAME/VERSION
// with 32 hex digits), on the vault's kid host (kidHost), naming the key
// sent (key names are case-insensitive; the service keeps the first
// spelling).
func (c *Client) checkKid(vaultURL, name, kid, answer string) (*byok.Kid, error) {
	host, err := c.kidHost(vaultURL)
	if err != nil {
		return nil, err
	}
	want := fmt.Sprintf("a version of key %s in %s", name, host)
	ke := &KidError{Answer: answer, Kid: echo(kid), Want: want}
	id, err := byok.ParseKid(kid)
	switch {
	case err != nil:
		ke.Why = "it is not a key version URL as the service writes them (https://" + host + "/keys/" + name + "/<32 hex digits>)"
	case id.Host != host:
		ke.Why = fmt.Sprintf("its host is %s, not %s", id.Host, host)
	case !strings.EqualFold(id.Name, name):
		ke.Why = fmt.Sprintf("it names key %s, not %s", id.Name, name)
	default:
		return id, nil
	}
	return nil, ke
}

// recordable returns a key answer's JSON for the transcript, refusing an
// answer that carries private key members (a vault never returns them) or
// that the transcript would refuse: a failure must always be recordable.
// Its errors have no prefix: the callers put "uploader: importing K: " or
// the like before them.
func recordable(answer string, b azkeys.KeyBundle) ([]byte, error) {
	if k := b.Key; k != nil && (len(k.D) > 0 || len(k.P) > 0 || len(k.Q) > 0 || len(k.DP) > 0 || len(k.DQ) > 0 || len(k.QI) > 0 || len(k.K) > 0 || len(k.T) > 0) {
		return nil, fmt.Errorf("the answer to %s carries private key members (d, p, q, dp, dq, qi, k or key_hsm), which a vault never returns; refusing it", answer)
	}
	data, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("the answer to %s: %w", answer, err)
	}
	if err := transcripts.CheckArtifact(transcripts.NewArtifact("answer.json", transcripts.KindServiceResponse, data)); err != nil {
		return nil, fmt.Errorf("the answer to %s cannot be recorded (%w); refusing it", answer, err)
	}
	return data, nil
}

// kidPolicy checks the kid of every successful key answer (create, import,
// get, encrypt), whoever made the call: it must be a version of the key the
// request named, in the vault called (checkKid), and the version the
// request named, if it named one. Otherwise the answer is refused
// (KidError) before azkeys decodes it.
type kidPolicy struct{ c *Client }

func (p kidPolicy) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, err
	}
	u := req.Raw().URL
	i := strings.Index(u.Path, "/keys/")
	if i < 0 {
		return resp, nil
	}
	segs := strings.Split(u.Path[i+len("/keys/"):], "/")
	name, version := segs[0], ""
	if len(segs) > 1 && segs[1] != "create" {
		version = segs[1]
	}
	body, err := runtime.Payload(resp)
	if err != nil {
		return resp, err
	}
	var v struct {
		KID *string `json:"kid"` // encrypt
		Key *struct {
			KID *string `json:"kid"`
		} `json:"key"` // create, import, get
	}
	if json.Unmarshal(body, &v) != nil {
		return resp, nil // azkeys reports what does not decode
	}
	kid := v.KID
	if v.Key != nil && v.Key.KID != nil {
		kid = v.Key.KID
	}
	if kid == nil {
		return resp, nil // the callers refuse an answer without one
	}
	answer := "the answer to " + describeRequest(req.Raw().Method, u.Path)
	id, err := p.c.checkKid(u.Scheme+"://"+u.Host+u.Path[:i], name, *kid, answer)
	if err == nil && version != "" && !strings.EqualFold(id.Version, version) {
		err = &KidError{Answer: answer, Kid: echo(*kid), Want: "version " + echo(version) + " of key " + name, Why: "it names version " + id.Version}
	}
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

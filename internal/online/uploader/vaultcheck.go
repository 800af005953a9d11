package uploader

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// What the uploader did is a fact about the vault, not about the
// transcript. Its own records (uploader.byok.import events after the signed
// state) are notes that nobody signed: anyone who can write the ceremony
// directory can add or delete them. So before a key is skipped as already
// imported, the vault is asked: does it hold this key, with the public key
// (or, for AES, the key check value) recorded offline? Only then is the
// import skipped; a note naming a key the vault does not hold changes
// nothing, and deleting the notes makes no key be imported twice.

// vaultHolding is what the vault says about one planned key.
type vaultHolding struct {
	Kid      string
	Verified bool   // the vault's key was shown to be the one exported
	Reason   string // what was compared, or why nothing could be
	KCV      *bool  // AES: the key check value matched (nil: not compared)
	KCVNote  string
}

// inVault looks for the planned key in the vault: first the version an
// earlier run's note names (if any, and if it is a version of this key in
// this vault), then the key's current version. It returns the first version
// whose public key (or AES key check value) equals the one recorded
// offline, or nil when none does. A version that exists but cannot be
// compared (nothing recorded offline, or an AES key without the encrypt
// operation) is returned unverified only when an earlier note named it:
// without any record, the ceremony's import goes ahead.
func (c *Client) inVault(ctx context.Context, kc *azkeys.Client, vault string, p ExportPlan) (*vaultHolding, error) {
	var versions []string
	if p.Done != "" {
		id := azkeys.ID(p.Done)
		if id.Name() == p.Spec.Name && sameKidVault(p.Done, vault, c.local) && id.Version() != "" {
			versions = append(versions, id.Version())
		}
	}
	versions = append(versions, "") // the current version
	var unverified *vaultHolding
	for i, v := range versions {
		got, err := kc.GetKey(ctx, p.Spec.Name, v, nil)
		if err != nil {
			var re *azcore.ResponseError
			if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
				continue
			}
			return nil, fmt.Errorf("uploader: looking for %s in the vault: %w", p.Spec.Name, serviceError(err))
		}
		if got.Key == nil || got.Key.KID == nil || got.Key.Kty == nil || string(*got.Key.Kty) != p.Spec.Kty {
			continue
		}
		h := &vaultHolding{Kid: string(*got.Key.KID)}
		version := got.Key.KID.Version()
		pub, err := publicFromJWK(got.Key)
		if err != nil {
			continue
		}
		switch {
		case pub == nil: // AES
			res := &ImportResult{Kid: h.Kid}
			checkKCV(ctx, kc, p.Spec, got.Key, version, res)
			h.KCVNote = res.KCVReason
			switch {
			case res.KCVMatch:
				h.Verified, h.KCV = true, new(true)
				h.Reason = "the vault already holds it: " + res.KCVReason + " (checked now)"
				return h, nil
			case res.KCVMismatch:
				continue
			}
		case p.Spec.Expected != nil:
			if eq, ok := p.Spec.Expected.(interface{ Equal(crypto.PublicKey) bool }); ok && eq.Equal(pub) {
				h.Verified = true
				h.Reason = "the vault already holds it: its public key equals the one recorded offline (checked now)"
				return h, nil
			}
			continue
		}
		// Exists, but nothing recorded offline to compare it with.
		if i == 0 && p.Done != "" && unverified == nil {
			h.Reason = "an earlier run's note names " + h.Kid + ", which the vault holds, but it cannot be checked: " + notComparable(p.Spec, h.KCVNote)
			unverified = h
		}
	}
	return unverified, nil
}

func notComparable(spec ImportSpec, kcvNote string) string {
	if spec.Kty == "oct-HSM" {
		return kcvNote
	}
	if spec.NoExpectedReason != "" {
		return spec.NoExpectedReason
	}
	return "no public key was recorded offline"
}

// sameKidVault reports whether kid is a key identifier of the vault at
// vaultURL. Against a local stand-in the kid names the vault as the service
// would (NAME.vault.azure.net), not the stand-in's address: any host passes.
func sameKidVault(kid, vaultURL string, local bool) bool {
	if local {
		return true
	}
	k, err1 := url.Parse(kid)
	v, err2 := url.Parse(vaultURL)
	return err1 == nil && err2 == nil && k.Scheme == "https" && strings.EqualFold(k.Host, v.Host)
}

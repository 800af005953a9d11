package byok

import (
	"fmt"
	"net/url"
	"strings"
)

// Service is the Azure service a key identifier belongs to.
type Service string

// Services.
const (
	KeyVault   Service = "keyvault"
	ManagedHSM Service = "managedhsm"
)

// kidSuffixes are the DNS suffixes of Key Vault and Managed HSM data planes
// in the Azure clouds.
var kidSuffixes = []struct {
	suffix  string
	service Service
	cloud   string
}{
	{".vault.azure.net", KeyVault, "AzureCloud"},
	{".vault.azure.cn", KeyVault, "AzureChinaCloud"},
	{".vault.usgovcloudapi.net", KeyVault, "AzureUSGovernment"},
	{".vault.microsoftazure.de", KeyVault, "AzureGermanCloud"},
	{".managedhsm.azure.net", ManagedHSM, "AzureCloud"},
	{".managedhsm.azure.cn", ManagedHSM, "AzureChinaCloud"},
	{".managedhsm.usgovcloudapi.net", ManagedHSM, "AzureUSGovernment"},
}

// Kid is a parsed, validated key identifier: the versioned URL of a key in
// Key Vault or Managed HSM.
type Kid struct {
	URL     string  // the identifier exactly as given (it is canonical)
	Service Service // KeyVault or ManagedHSM
	Cloud   string  // AzureCloud, AzureChinaCloud, AzureUSGovernment, AzureGermanCloud
	Vault   string  // the vault or Managed HSM name (first DNS label)
	Host    string  // e.g. contoso.vault.azure.net
	Name    string  // the key name
	Version string  // the key version (32 hex digits)
}

// String returns the identifier.
func (k *Kid) String() string { return k.URL }

// VaultURL returns "https://" + Host, the base URL of the vault.
func (k *Kid) VaultURL() string { return "https://" + k.Host }

// ParseKid parses and validates a KEK key identifier. The rules:
//
//   - the scheme is https, in lowercase;
//   - the host is a lowercase DNS name ending in one of .vault.azure.net,
//     .vault.azure.cn, .vault.usgovcloudapi.net, .vault.microsoftazure.de
//     (Key Vault) or .managedhsm.azure.net, .managedhsm.azure.cn,
//     .managedhsm.usgovcloudapi.net (Managed HSM), with exactly one label
//     before the suffix: the vault name, 3-24 letters, digits and hyphens,
//     starting with a letter, ending with a letter or digit, no "--";
//   - no user information, port, query or fragment;
//   - the path is exactly /keys/{name}/{version}: name is 1-127 letters,
//     digits and hyphens, version is 32 hexadecimal digits (the version is
//     required: a BYOK blob names one exact KEK);
//   - nothing is percent-encoded and there is no surrounding whitespace.
//
// Every error wraps ErrKid and names the part that deviates.
func ParseKid(s string) (*Kid, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %q: "+format, append([]any{ErrKid, s}, args...)...)
	}
	if s == "" {
		return nil, fmt.Errorf("%w: empty; expected https://<vault>.vault.azure.net/keys/<name>/<version>", ErrKid)
	}
	if len(s) > 512 {
		return nil, fmt.Errorf("%w: %d characters long; a key URL is at most 512", ErrKid, len(s))
	}
	if strings.TrimSpace(s) != s {
		return nil, bad("has leading or trailing whitespace")
	}
	for _, r := range s {
		if r <= 0x20 || r >= 0x7f {
			return nil, bad("contains a space, control or non-ASCII character")
		}
	}
	if strings.Contains(s, "%") {
		return nil, bad("contains percent-encoding; expected plain ASCII")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil, bad("not a URL; expected https://<vault>.vault.azure.net/keys/<name>/<version>")
	}
	if scheme != "https" {
		return nil, bad("scheme is %q; expected https", scheme)
	}
	if strings.ContainsAny(rest, "?#") {
		if strings.Contains(rest, "?") {
			return nil, bad("has a query; expected none")
		}
		return nil, bad("has a fragment; expected none")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, bad("not a valid URL")
	}
	if u.User != nil {
		return nil, bad("has user information before the host; expected none")
	}
	if u.Port() != "" || strings.HasSuffix(u.Host, ":") {
		return nil, bad("has a port; expected none (443 is implied)")
	}
	host := u.Host
	if host == "" {
		return nil, bad("has no host")
	}
	if strings.ToLower(host) != host {
		return nil, bad("host %q has uppercase letters; expected it exactly as the vault prints it, in lowercase", host)
	}
	k := &Kid{URL: s, Host: host}
	var suffix string
	for _, c := range kidSuffixes {
		if strings.HasSuffix(host, c.suffix) {
			suffix, k.Service, k.Cloud = c.suffix, c.service, c.cloud
			break
		}
	}
	if suffix == "" {
		return nil, bad("host %q is not a Key Vault or Managed HSM host; expected <name>.vault.azure.net, <name>.managedhsm.azure.net or their sovereign-cloud equivalents", host)
	}
	k.Vault = strings.TrimSuffix(host, suffix)
	if strings.Contains(k.Vault, ".") {
		return nil, bad("host %q has more than one label before %s", host, suffix)
	}
	if err := checkVaultName(k.Vault); err != nil {
		return nil, bad("vault name %q %s", k.Vault, err)
	}
	if u.Path == "" || u.Path == "/" {
		return nil, bad("has no key path; expected /keys/<name>/<version>")
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if parts[0] != "keys" {
		return nil, bad("path starts with /%s; expected /keys/<name>/<version>", parts[0])
	}
	switch {
	case len(parts) == 2 || (len(parts) == 3 && parts[2] == ""):
		return nil, bad("has no key version; expected /keys/<name>/<version>")
	case len(parts) == 4 && parts[3] == "":
		return nil, bad("has a trailing slash; expected /keys/<name>/<version>")
	case len(parts) != 3:
		return nil, bad("path has %d segments; expected /keys/<name>/<version>", len(parts))
	}
	k.Name, k.Version = parts[1], parts[2]
	if err := checkKeyName(k.Name); err != nil {
		return nil, bad("key name %q %s", k.Name, err)
	}
	if len(k.Version) != 32 || !isHex(k.Version) {
		return nil, bad("version %q is not 32 hexadecimal digits", k.Version)
	}
	if want := "https://" + host + "/keys/" + k.Name + "/" + k.Version; want != s {
		return nil, bad("not in canonical form; expected %q", want)
	}
	return k, nil
}

func checkVaultName(n string) error {
	switch {
	case len(n) < 3 || len(n) > 24:
		return fmt.Errorf("is %d characters; expected 3 to 24", len(n))
	case !isLetter(n[0]):
		return fmt.Errorf("must start with a letter")
	case n[len(n)-1] == '-':
		return fmt.Errorf("must end with a letter or digit")
	case strings.Contains(n, "--"):
		return fmt.Errorf("must not contain consecutive hyphens")
	}
	for i := 0; i < len(n); i++ {
		if !isLetter(n[i]) && !isDigit(n[i]) && n[i] != '-' {
			return fmt.Errorf("may hold only letters, digits and hyphens")
		}
	}
	return nil
}

func checkKeyName(n string) error {
	if len(n) < 1 || len(n) > 127 {
		return fmt.Errorf("is %d characters; expected 1 to 127", len(n))
	}
	for i := 0; i < len(n); i++ {
		if !isLetter(n[i]) && !isDigit(n[i]) && n[i] != '-' {
			return fmt.Errorf("may hold only letters, digits and hyphens")
		}
	}
	return nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && !('a' <= c && c <= 'f') && !('A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

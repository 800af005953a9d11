package byok

import (
	"errors"
	"strings"
	"testing"
)

const v32 = "0123456789abcdef0123456789abcdef"

func TestParseKidValid(t *testing.T) {
	for _, tc := range []struct {
		kid     string
		service Service
		cloud   string
		vault   string
	}{
		{"https://contoso.vault.azure.net/keys/kek/" + v32, KeyVault, "AzureCloud", "contoso"},
		{"https://contoso-hsm.managedhsm.azure.net/keys/KEK-for-BYOK/" + v32, ManagedHSM, "AzureCloud", "contoso-hsm"},
		{"https://kv1.vault.azure.cn/keys/k/" + strings.ToUpper(v32), KeyVault, "AzureChinaCloud", "kv1"},
		{"https://kv1.vault.usgovcloudapi.net/keys/k/" + v32, KeyVault, "AzureUSGovernment", "kv1"},
		{"https://kv1.vault.microsoftazure.de/keys/k/" + v32, KeyVault, "AzureGermanCloud", "kv1"},
		{"https://hsm1.managedhsm.azure.cn/keys/k/" + v32, ManagedHSM, "AzureChinaCloud", "hsm1"},
		{"https://hsm1.managedhsm.usgovcloudapi.net/keys/k/" + v32, ManagedHSM, "AzureUSGovernment", "hsm1"},
		{"https://a2345678901234567890123b.vault.azure.net/keys/" + strings.Repeat("k", 127) + "/" + v32, KeyVault, "AzureCloud", "a2345678901234567890123b"},
	} {
		t.Run(tc.kid, func(t *testing.T) {
			k, err := ParseKid(tc.kid)
			if err != nil {
				t.Fatal(err)
			}
			if k.Service != tc.service || k.Cloud != tc.cloud || k.Vault != tc.vault || k.String() != tc.kid {
				t.Errorf("got %+v", k)
			}
			if !strings.HasPrefix(tc.kid, k.VaultURL()+"/keys/"+k.Name+"/"+k.Version) {
				t.Errorf("VaultURL %s", k.VaultURL())
			}
		})
	}
}

func TestParseKidInvalid(t *testing.T) {
	base := "https://contoso.vault.azure.net/keys/kek/" + v32
	for name, tc := range map[string]struct{ kid, want string }{
		"empty":            {"", "empty; expected https://"},
		"http":             {"http://contoso.vault.azure.net/keys/kek/" + v32, `scheme is "http"; expected https`},
		"HTTPS upper":      {"HTTPS://contoso.vault.azure.net/keys/kek/" + v32, `scheme is "HTTPS"`},
		"no scheme":        {"contoso.vault.azure.net/keys/kek/" + v32, "not a URL"},
		"no version":       {"https://contoso.vault.azure.net/keys/kek", "has no key version"},
		"no version slash": {"https://contoso.vault.azure.net/keys/kek/", "has no key version"},
		"trailing slash":   {base + "/", "has a trailing slash"},
		"short version":    {"https://contoso.vault.azure.net/keys/kek/abc", `version "abc" is not 32 hexadecimal digits`},
		"non-hex version":  {"https://contoso.vault.azure.net/keys/kek/" + strings.Repeat("g", 32), "not 32 hexadecimal digits"},
		"foreign host":     {"https://contoso.example.com/keys/kek/" + v32, `host "contoso.example.com" is not a Key Vault or Managed HSM host`},
		"lookalike host":   {"https://contoso.vault.azure.net.evil.com/keys/kek/" + v32, "is not a Key Vault or Managed HSM host"},
		"suffix only":      {"https://vault.azure.net/keys/kek/" + v32, "is not a Key Vault or Managed HSM host"},
		"two labels":       {"https://a.contoso.vault.azure.net/keys/kek/" + v32, "more than one label"},
		"upper host":       {"https://Contoso.vault.azure.net/keys/kek/" + v32, "has uppercase letters"},
		"port":             {"https://contoso.vault.azure.net:443/keys/kek/" + v32, "has a port"},
		"empty port":       {"https://contoso.vault.azure.net:/keys/kek/" + v32, "has a port"},
		"userinfo":         {"https://user@contoso.vault.azure.net/keys/kek/" + v32, "user information"},
		"query":            {base + "?api-version=7.4", "has a query"},
		"fragment":         {base + "#x", "has a fragment"},
		"secrets path":     {"https://contoso.vault.azure.net/secrets/kek/" + v32, "path starts with /secrets"},
		"extra segment":    {base + "/x", "path has 4 segments"},
		"no path":          {"https://contoso.vault.azure.net", "has no key path"},
		"percent":          {"https://contoso.vault.azure.net/keys/k%65k/" + v32, "percent-encoding"},
		"space":            {" " + base, "leading or trailing whitespace"},
		"newline":          {base + "\n", "leading or trailing whitespace"},
		"inner space":      {"https://contoso.vault.azure.net/keys/k k/" + v32, "space, control or non-ASCII"},
		"unicode":          {"https://contosö.vault.azure.net/keys/kek/" + v32, "non-ASCII"},
		"bad key name":     {"https://contoso.vault.azure.net/keys/k_k/" + v32, `key name "k_k" may hold only letters, digits and hyphens`},
		"long key name":    {"https://contoso.vault.azure.net/keys/" + strings.Repeat("k", 128) + "/" + v32, "expected 1 to 127"},
		"short vault":      {"https://ab.vault.azure.net/keys/kek/" + v32, `vault name "ab" is 2 characters; expected 3 to 24`},
		"digit vault":      {"https://1abc.vault.azure.net/keys/kek/" + v32, "must start with a letter"},
		"hyphen end":       {"https://abc-.vault.azure.net/keys/kek/" + v32, "must end with a letter or digit"},
		"double hyphen":    {"https://ab--c.vault.azure.net/keys/kek/" + v32, "consecutive hyphens"},
		"dot segment":      {"https://contoso.vault.azure.net/keys/../keys/kek/" + v32, "path"},
		"double slash":     {"https://contoso.vault.azure.net//keys/kek/" + v32, "path"},
		"backslash":        {`https://contoso.vault.azure.net\keys\kek\` + v32, ""},
		"too long":         {"https://contoso.vault.azure.net/keys/kek/" + strings.Repeat("a", 600), "at most 512"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseKid(tc.kid)
			if err == nil {
				t.Fatalf("accepted %q", tc.kid)
			}
			if !errors.Is(err, ErrKid) {
				t.Errorf("does not wrap ErrKid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v; want %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "byok: invalid kid: ") {
				t.Errorf("err = %v; want the package prefix", err)
			}
		})
	}
}

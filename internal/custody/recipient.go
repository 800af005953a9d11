package custody

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/plugin"
	"golang.org/x/crypto/ssh"
)

// ErrPluginNotFound is returned (wrapped) when a plugin recipient or identity
// needs an age-plugin-NAME binary that is not on PATH.
var ErrPluginNotFound = errors.New("custody: age plugin not found")

// maxRecipientFile bounds how much of a recipient or identity file is read.
const maxRecipientFile = 1 << 16

// A Recipient is one custodian's public key.
type Recipient struct {
	age.Recipient
	// Kind is "x25519", "hybrid", "ssh-ed25519", "ssh-rsa" or "plugin:NAME".
	Kind string
	// String is the canonical encoding recorded in the manifest: the age
	// recipient string, or the ssh key type and base64 without comment.
	String string
	// Label is the ssh key's comment or the name of the file the recipient
	// was read from, if any; informational only.
	Label string
}

// ParseRecipient parses one recipient string: "age1..." (X25519),
// "age1pq1..." (hybrid post-quantum), "ssh-ed25519 AAAA... [comment]",
// "ssh-rsa AAAA... [comment]" (at least 2048 bits), or a plugin recipient
// "age1NAME1..." (e.g. age1yubikey1...). A plugin recipient needs
// age-plugin-NAME on PATH; ParseRecipient checks that it is there. ui is
// used by plugins to talk to the person (it may be nil for non-plugin
// recipients).
func ParseRecipient(s string, ui *plugin.ClientUI) (*Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, errors.New("custody: empty recipient")
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return nil, errors.New("custody: recipient contains control characters or invalid UTF-8")
	case strings.HasPrefix(strings.ToUpper(s), "AGE-"):
		// Do not echo it: it is probably a private key (bech32 may be
		// all lowercase).
		return nil, errors.New("custody: this looks like an age identity (private key), not a recipient")
	case strings.HasPrefix(s, "age1tag1"), strings.HasPrefix(s, "age1tagpq1"):
		return nil, errors.New("custody: tagged age recipients are not supported; use an X25519, ssh or plugin recipient")
	case strings.HasPrefix(s, "age1pq1"):
		r, err := age.ParseHybridRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("custody: invalid hybrid age recipient: %w", err)
		}
		return &Recipient{Recipient: r, Kind: "hybrid", String: s}, nil
	case strings.HasPrefix(s, "age1") && strings.Count(s, "1") > 1:
		name, _, err := plugin.ParseRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("custody: invalid age recipient: %w", err)
		}
		if err := lookPlugin(name); err != nil {
			return nil, err
		}
		if ui == nil {
			ui = &plugin.ClientUI{}
		}
		r, err := plugin.NewRecipient(s, ui)
		if err != nil {
			return nil, fmt.Errorf("custody: invalid plugin recipient: %w", err)
		}
		return &Recipient{Recipient: r, Kind: "plugin:" + name, String: s}, nil
	case strings.HasPrefix(s, "age1"):
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("custody: invalid age X25519 recipient: %w", err)
		}
		return &Recipient{Recipient: r, Kind: "x25519", String: r.String()}, nil
	case strings.HasPrefix(s, "ssh-"):
		pk, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("custody: invalid ssh public key: %w", err)
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, errors.New("custody: more than one ssh public key on the recipient line")
		}
		var r age.Recipient
		switch pk.Type() {
		case ssh.KeyAlgoED25519:
			r, err = agessh.NewEd25519Recipient(pk)
		case ssh.KeyAlgoRSA:
			r, err = agessh.NewRSARecipient(pk)
		default:
			return nil, fmt.Errorf("custody: unsupported ssh key type %q; use ssh-ed25519 or ssh-rsa", pk.Type())
		}
		if err != nil {
			return nil, fmt.Errorf("custody: invalid %s recipient: %w", pk.Type(), err)
		}
		canon := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
		return &Recipient{Recipient: r, Kind: pk.Type(), String: canon, Label: comment}, nil
	}
	return nil, errors.New(`custody: unknown recipient type; expected "age1...", "ssh-ed25519 ..." or "ssh-rsa ..."`)
}

// LoadRecipient takes a recipient as given on the command line: a recipient
// string if it starts with "age1" or "ssh-", else the path of a file holding
// exactly one recipient line (blank lines and "#" comments are ignored).
// An age identity given by mistake ("AGE-SECRET-KEY-1...", any case) is
// refused without being echoed as a file name.
func LoadRecipient(arg string, ui *plugin.ClientUI) (*Recipient, error) {
	if strings.HasPrefix(arg, "age1") || strings.HasPrefix(arg, "ssh-") || strings.HasPrefix(strings.ToUpper(arg), "AGE-") {
		return ParseRecipient(arg, ui)
	}
	data, err := readSmallFile(arg, maxRecipientFile)
	if err != nil {
		return nil, fmt.Errorf("custody: reading recipient file: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
	}
	switch {
	case len(lines) == 0:
		return nil, fmt.Errorf("custody: recipient file %s holds no recipient", arg)
	case len(lines) > 1:
		return nil, fmt.Errorf("custody: recipient file %s holds %d recipient lines, want exactly one (one custodian per share)", arg, len(lines))
	}
	r, err := ParseRecipient(lines[0], ui)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, arg)
	}
	if r.Label == "" {
		r.Label = arg
	}
	return r, nil
}

// Passphrase asks for the passphrase of an encrypted ssh private key; prompt
// names the key.
type Passphrase func(prompt string) ([]byte, error)

// ParseIdentities parses an identity file: an ssh private key in PEM or
// OpenSSH form (ed25519 or RSA; an encrypted one asks pass for its
// passphrase, only when it is needed), or lines of age identities —
// "AGE-SECRET-KEY-1..." (X25519), "AGE-SECRET-KEY-PQ-1..." (hybrid) and
// plugin identities "AGE-PLUGIN-NAME-1..." — with blank lines and "#"
// comments ignored. name is used in errors; the file's content never is.
func ParseIdentities(name string, data []byte, ui *plugin.ClientUI, pass Passphrase) ([]age.Identity, error) {
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		id, err := agessh.ParseIdentity(trimmed)
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			if missing.PublicKey == nil {
				return nil, fmt.Errorf("custody: %s: encrypted ssh key without a public key; convert it to the OpenSSH format", name)
			}
			if pass == nil {
				return nil, fmt.Errorf("custody: %s: the ssh key is encrypted and no passphrase can be asked for", name)
			}
			// The key stays encrypted until a share needs it; keep a copy,
			// as the caller may clear data.
			pemCopy := bytes.Clone(trimmed)
			eid, err := agessh.NewEncryptedSSHIdentity(missing.PublicKey, pemCopy, func() ([]byte, error) {
				return pass(fmt.Sprintf("passphrase for ssh key %s: ", name))
			})
			if err != nil {
				return nil, fmt.Errorf("custody: %s: %w", name, err)
			}
			return []age.Identity{eid}, nil
		case err != nil:
			// ssh errors do not quote key material.
			return nil, fmt.Errorf("custody: %s: not a usable ssh private key: %w", name, err)
		}
		return []age.Identity{id}, nil
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("custody: %s: identity file is not valid UTF-8", name)
	}
	var ids []age.Identity
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var id age.Identity
		var err error
		switch {
		case strings.HasPrefix(line, "AGE-SECRET-KEY-PQ-1"):
			id, err = age.ParseHybridIdentity(line)
		case strings.HasPrefix(line, "AGE-SECRET-KEY-1"):
			id, err = age.ParseX25519Identity(line)
		case strings.HasPrefix(line, "AGE-PLUGIN-"):
			var pname string
			pname, _, err = plugin.ParseIdentity(line)
			if err == nil {
				if err := lookPlugin(pname); err != nil {
					return nil, fmt.Errorf("%w (identity in %s line %d)", err, name, n+1)
				}
				if ui == nil {
					ui = &plugin.ClientUI{}
				}
				id, err = plugin.NewIdentity(line, ui)
			}
		case strings.HasPrefix(line, "age1"), strings.HasPrefix(line, "ssh-"):
			return nil, fmt.Errorf("custody: %s line %d: this is a recipient (public key); combine needs the matching identity (private key)", name, n+1)
		default:
			return nil, fmt.Errorf("custody: %s line %d: not an age identity or ssh private key", name, n+1)
		}
		if err != nil {
			// age's parse errors do not include the key; keep it that way.
			return nil, fmt.Errorf("custody: %s line %d: invalid identity: %v", name, n+1, err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("custody: %s holds no identity", name)
	}
	return ids, nil
}

// LoadIdentities reads and parses the identity file at path.
func LoadIdentities(path string, ui *plugin.ClientUI, pass Passphrase) ([]age.Identity, error) {
	data, err := readSmallFile(path, maxRecipientFile)
	if err != nil {
		return nil, fmt.Errorf("custody: reading identity file: %w", err)
	}
	defer clear(data)
	return ParseIdentities(path, data, ui, pass)
}

func lookPlugin(name string) error {
	bin := "age-plugin-" + name
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("%w: %s is not on PATH (needed for %s recipients and identities)", ErrPluginNotFound, bin, name)
	}
	return nil
}

func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", path, st.Size(), limit)
	}
	buf, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(buf)) > limit {
		return nil, fmt.Errorf("%s grew beyond %d bytes while being read", path, limit)
	}
	return buf, nil
}

package main

// keyrite hsm modules | tokens | objects: what the guided ceremony
// discovers, for scripts and operators: the PKCS#11 modules on this
// machine, the tokens of one, and the objects on a token with the URI
// naming each.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/internal/base/cli"
	"github.com/keyrite/keyrite/internal/base/secret"
)

const hintListModules = "run 'keyrite hsm modules' to list the PKCS#11 modules found on this machine"

// parseHSMFlags parses a hsm command's flags; it takes no positional
// arguments.
func parseHSMFlags(fset *flag.FlagSet, args []string) error {
	pos, err := cli.Parse(fset, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.WithHint(cli.Usagef("%s: unexpected argument %q", fset.Name(), pos[0]), "run with --help for the flags")
	}
	return nil
}

func runHSMModules(e *env, args []string) error {
	fset := flag.NewFlagSet("hsm modules", flag.ContinueOnError)
	asJSON := fset.Bool("json", false, "print one JSON object")
	if err := parseHSMFlags(fset, args); err != nil {
		return err
	}
	mods := hsm.Modules()
	if *asJSON {
		if mods == nil {
			mods = []hsm.ModuleCandidate{}
		}
		return cli.PrintJSON(e.stdout, struct {
			Modules []hsm.ModuleCandidate `json:"modules"`
		}{mods})
	}
	if len(mods) == 0 {
		fmt.Fprintln(e.stdout, "no PKCS#11 modules found (p11-kit's module configuration and the vendors' usual paths were searched)")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPRODUCT\tPATH\tFOUND BY")
	for _, m := range mods {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", show(m.Name), dash(m.Product), show(m.Path), cli.OneLine(strings.Join(m.Sources, "; ")))
	}
	return tw.Flush()
}

// resolveModule is --module: a path, or the name or product of a module
// 'hsm modules' lists.
func resolveModule(arg string) (string, error) {
	if arg == "" {
		return "", cli.WithHint(cli.Usagef("--module is required"), hintListModules)
	}
	if strings.ContainsRune(arg, '/') {
		return arg, nil
	}
	var match []string
	for _, m := range hsm.Modules() {
		if strings.EqualFold(m.Name, arg) || strings.EqualFold(m.Product, arg) {
			match = append(match, m.Path)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", cli.WithHint(cli.Usagef("--module %q: not a path, nor the name of a module found on this machine", arg), hintListModules+"; give the library's path or a NAME or PRODUCT from it")
	}
	return "", cli.WithHint(cli.Usagef("--module %q names %d modules: %s", arg, len(match), strings.Join(match, ", ")), "give the library's path")
}

func loadModule(arg string) (*hsm.Module, error) {
	path, err := resolveModule(arg)
	if err != nil {
		return nil, err
	}
	m, err := hsm.Load(path)
	if err != nil {
		return nil, cli.WithHint(err, hintListModules)
	}
	return m, nil
}

// tokenJSON is a token in 'hsm tokens --json'.
type tokenJSON struct {
	hsm.TokenEntry
	URI string `json:"uri,omitempty"`
}

func runHSMTokens(e *env, args []string) error {
	fset := flag.NewFlagSet("hsm tokens", flag.ContinueOnError)
	modArg := fset.String("module", "", "PKCS#11 module `PATH` (or a NAME from 'keyrite hsm modules')")
	asJSON := fset.Bool("json", false, "print one JSON object")
	cli.Required(fset, "module")
	if err := parseHSMFlags(fset, args); err != nil {
		return err
	}
	m, err := loadModule(*modArg)
	if err != nil {
		return err
	}
	defer m.Close()
	toks, err := m.Tokens()
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]tokenJSON, 0, len(toks))
		for _, t := range toks {
			j := tokenJSON{TokenEntry: t}
			if t.Initialized {
				j.URI = t.URI(m.Path).String()
			}
			out = append(out, j)
		}
		return cli.PrintJSON(e.stdout, struct {
			Module  string          `json:"module"`
			SHA256  string          `json:"module_sha256"`
			Library hsm.LibraryInfo `json:"library"`
			Tokens  []tokenJSON     `json:"tokens"`
		}{m.Path, m.SHA256, m.Library, out})
	}
	fmt.Fprintf(e.stdout, "module: %s (%s)\n", show(m.Path), cli.OneLine(strings.TrimSpace(m.Library.Manufacturer+" "+m.Library.Description+", library "+m.Library.Version)))
	if len(toks) == 0 {
		fmt.Fprintln(e.stdout, "no slots")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tLABEL\tMANUFACTURER\tMODEL\tSERIAL\tSTATE\tSLOT DESCRIPTION")
	for _, t := range toks {
		if !t.Present {
			fmt.Fprintf(tw, "%d\t-\t-\t-\t-\tno token\t%s\n", t.SlotID, dash(t.SlotDescription))
			continue
		}
		label := show(t.Token.Label)
		if !t.Initialized {
			label = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.SlotID, label, dash(t.Token.Manufacturer), dash(t.Token.Model), dash(t.Token.Serial), tokenState(t), dash(t.SlotDescription))
	}
	return tw.Flush()
}

func tokenState(t hsm.TokenEntry) string {
	if !t.Initialized {
		return "not initialized"
	}
	s := []string{"initialized"}
	if t.PINLocked {
		s = append(s, "PIN locked")
	}
	if t.PINFinalTry {
		s = append(s, "PIN final try")
	}
	if t.PINCountLow {
		s = append(s, "PIN count low")
	}
	if t.PINToBeChanged {
		s = append(s, "PIN to be changed")
	}
	return strings.Join(s, ", ")
}

func runHSMObjects(e *env, args []string) error {
	fset := flag.NewFlagSet("hsm objects", flag.ContinueOnError)
	modArg := fset.String("module", "", "PKCS#11 module `PATH` (or a NAME from 'keyrite hsm modules')")
	label := fset.String("token", "", "the token's `LABEL`")
	serial := fset.String("serial", "", "the token's `SERIAL`, when several tokens have the label")
	login := fset.Bool("login", false, "log in to list private objects too (the PIN from --pin-env, --pin-file or the terminal)")
	class := fset.String("class", "", "list only objects of `CLASS`: private, public, secret, cert or data (comma-separated)")
	keyType := fset.String("key-type", "", "list only keys of `TYPE`: rsa, ec, ec-edwards, aes, generic-secret, des3 (comma-separated)")
	labelSub := fset.String("label", "", "list only objects whose label contains `TEXT` (any case)")
	filter := fset.String("filter", "", "list only objects matching every word of `TEXT` (label, id, type, size, curve, extractable, non-extractable, sensitive, private, session)")
	asJSON := fset.Bool("json", false, "print one JSON object")
	pin := secret.Register(fset, "pin", "PIN")
	finalTry := registerFinalPINTry(fset)
	cli.Required(fset, "module", "token")
	if err := parseHSMFlags(fset, args); err != nil {
		return err
	}
	var f hsm.ObjectFilter
	for _, c := range splitList(*class) {
		v, ok := hsm.ClassByName(c)
		if !ok {
			return cli.WithHint(cli.Usagef("hsm objects: --class %q is not a class", c), "give private, public, secret, cert or data")
		}
		f.Classes = append(f.Classes, v)
	}
	for _, k := range splitList(*keyType) {
		v, ok := hsm.KeyTypeByName(k)
		if !ok {
			return cli.WithHint(cli.Usagef("hsm objects: --key-type %q is not a key type", k), "give rsa, ec, ec-edwards, aes, generic-secret or des3")
		}
		f.KeyTypes = append(f.KeyTypes, v)
	}
	f.Label, f.Text = *labelSub, *filter
	if pin.Given() && !*login {
		return cli.WithHint(cli.Usagef("hsm objects: a PIN was given but not --login"), "add --login to list private objects too, or leave out the PIN")
	}

	m, err := loadModule(*modArg)
	if err != nil {
		return err
	}
	defer m.Close()
	slot, err := m.FindToken(hsm.TokenFilter{Label: *label, Serial: *serial})
	if err != nil {
		return cli.WithHint(err, "run 'keyrite hsm tokens --module "+m.Path+"' to list the tokens")
	}
	s, err := m.OpenReadOnlySession(slot)
	if err != nil {
		return err
	}
	defer s.Close()
	loggedIn := false
	if *login {
		opts := loginOptions(e, *finalTry)
		if _, err := s.CheckPIN(opts); err != nil {
			return pinErr(err)
		}
		p, err := pin.Read(fmt.Sprintf("PIN for token %q: ", slot.Token.Label))
		if errors.Is(err, secret.ErrNoTerminal) {
			return cli.WithHint(fmt.Errorf("the token's PIN is needed for --login: %w", err), "give it with --pin-env NAME or --pin-file PATH")
		}
		if err != nil {
			return err
		}
		if err := s.LoginWith(p, opts); err != nil {
			return pinErr(err)
		}
		loggedIn = true
	}
	objs, err := s.ListObjects(f)
	if err != nil {
		return err
	}
	if objs == nil {
		objs = []hsm.ObjectInfo{}
	}
	dups := 0
	for _, o := range objs {
		if o.Duplicates > 0 {
			dups++
		}
	}
	if dups > 0 {
		fmt.Fprintf(e.stderr, "keyrite: warning: %d objects share a label, id and class with another: their URIs name more than one object (marked AMBIGUOUS)\n", dups)
	}
	if *asJSON {
		return cli.PrintJSON(e.stdout, struct {
			Module   string           `json:"module"`
			Token    hsm.TokenInfo    `json:"token"`
			LoggedIn bool             `json:"logged_in"`
			Objects  []hsm.ObjectInfo `json:"objects"`
		}{m.Path, slot.Token, loggedIn, objs})
	}
	return printObjects(e.stdout, objs, loggedIn)
}

func printObjects(w io.Writer, objs []hsm.ObjectInfo, loggedIn bool) error {
	if len(objs) == 0 {
		if loggedIn {
			fmt.Fprintln(w, "no objects")
		} else {
			fmt.Fprintln(w, "no public objects (private objects are listed with --login)")
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LABEL\tID\tCLASS\tTYPE\tFLAGS\tURI")
	for _, o := range objs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", show(o.Label), dash(o.ID), o.ClassName, o.TypeString(), objectFlags(o), o.URI)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !loggedIn {
		fmt.Fprintln(w, "(public objects only: add --login to list private objects too)")
	}
	return nil
}

func objectFlags(o hsm.ObjectInfo) string {
	var f []string
	if o.ClassName == "private-key" || o.ClassName == "secret-key" {
		if o.Extractable {
			f = append(f, "extractable")
		} else {
			f = append(f, "non-extractable")
		}
		if o.Sensitive {
			f = append(f, "sensitive")
		}
		if o.NeverExtractable {
			f = append(f, "never-extractable")
		}
	}
	if o.Private {
		f = append(f, "private")
	}
	if !o.Token {
		f = append(f, "session")
	}
	if o.Duplicates > 0 {
		f = append(f, "AMBIGUOUS")
	}
	if len(f) == 0 {
		return "-"
	}
	return strings.Join(f, ",")
}

// pinErr adds the hint for a locked PIN or the final try.
func pinErr(err error) error {
	switch {
	case errors.Is(err, hsm.ErrPINLocked):
		return cli.WithHint(err, hintPINLocked)
	case errors.Is(err, hsm.ErrPINFinalTry):
		return cli.WithHint(err, hintPINFinalTry)
	}
	return err
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// show prints text from a token: quoted when it is empty or holds blanks
// or characters that are not printable, so that columns stay columns and
// a label cannot write to the terminal.
func show(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == ' ' || r == '\t' || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// dash prints descriptive text from a token (manufacturer, model, slot
// description): "-" when empty, quoted when it holds characters that are
// not printable.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	for _, r := range s {
		if r == '\t' || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

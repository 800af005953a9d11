// Package cli holds what the three keyrite binaries share on the command
// line: the error and hint format, exit codes, flag parsing that accepts
// flags after positional arguments, and JSON output.
//
// Errors are printed as
//
//	keyrite: error: <what went wrong>
//	keyrite: hint: <what to do>
//
// lowercase, without a final period. Exit codes: 0 success, 1 the operation
// failed or was refused, 2 usage error, 3 the operation was started and goes
// on, but had not finished when the command stopped waiting (PendingError:
// printed as "<prog>: pending: ...", never as an error).
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitUsage   = 2
	ExitPending = 3
	progDefault = "keyrite"
)

// PendingError reports an operation that was started and goes on at its
// service, but had not finished when the command stopped waiting: not a
// failure. Report prints it as "<prog>: pending: ..." with its hints, and
// exits ExitPending.
type PendingError struct{ Err error }

func (e *PendingError) Error() string { return e.Err.Error() }
func (e *PendingError) Unwrap() error { return e.Err }

// UsageError marks a mistake in how a command was called (exit 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

type hinted struct {
	err   error
	hints []string
}

func (h *hinted) Error() string   { return h.err.Error() }
func (h *hinted) Unwrap() error   { return h.err }
func (h *hinted) Hints() []string { return h.hints }

// WithHint attaches hints (printed as "hint:" lines) to err. It returns nil
// for a nil err.
func WithHint(err error, hint ...string) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hints: hint}
}

// Hints collects every hint attached anywhere in err's chain, outermost first.
func Hints(err error) []string {
	var out []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		if h, ok := e.(interface{ Hints() []string }); ok {
			out = append(out, h.Hints()...)
		}
	}
	return out
}

// Report prints err in the standard format and returns the exit code.
func Report(w io.Writer, prog string, err error) int {
	if err == nil {
		return ExitOK
	}
	if prog == "" {
		prog = progDefault
	}
	var help *HelpError
	if errors.As(err, &help) {
		help.print(w, prog)
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var pending *PendingError
	label := "error"
	if errors.As(err, &pending) {
		label = "pending"
	}
	fmt.Fprintf(w, "%s: %s: %s\n", prog, label, oneLine(err.Error()))
	for _, h := range Hints(err) {
		fmt.Fprintf(w, "%s: hint: %s\n", prog, oneLine(h))
	}
	if pending != nil {
		return ExitPending
	}
	var u *UsageError
	if errors.As(err, &u) {
		return ExitUsage
	}
	return ExitFailed
}

// oneLine keeps an error on one line so that a hostile input cannot forge
// extra "hint:" lines, terminal escapes (C0 and C1 controls: U+009B is an
// 8-bit CSI) or text reordered by bidirectional overrides in the output.
//
// It also blanks the value of any PKCS#11 URI pin-value attribute (however
// spelt or percent-encoded) as a last line of defence: a PIN typed into a URI
// must not come back in an error that quotes the argument.
func oneLine(s string) string {
	s = pinValue.ReplaceAllString(s, "${1}=REDACTED")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
			return '?'
		}
		return r
	}, s)
}

var pinValue = regexp.MustCompile(`(?i)(pin(?:-|%2d)value)\s*(?:=|%3d|:)[^;&?\s"']*`)

// Recover turns a panic into an error report instead of a stack trace. Use as
// `defer cli.Recover(prog, &code)` in a binary's run function.
func Recover(w io.Writer, prog string, code *int) {
	if r := recover(); r != nil {
		if os.Getenv("KEYRITE_DEBUG_PANIC") != "" {
			fmt.Fprintf(w, "%v\n%s", r, debug.Stack())
		}
		fmt.Fprintf(w, "%s: error: internal error: %s\n", prog, oneLine(fmt.Sprint(r)))
		fmt.Fprintf(w, "%s: hint: this is a bug in keyrite; please report it with the command that caused it\n", prog)
		*code = ExitFailed
	}
}

// Parse parses args with fs, allowing flags after positional arguments
// ("byok inspect FILE --kek K"). "--" ends flag parsing. It returns the
// positional arguments. Parse errors become UsageErrors, and so does a flag
// marked with Required that is missing or empty; -h and --help return a
// HelpError generated from fs.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	notify(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	for _, name := range requiredOf(fs) {
		if f := fs.Lookup(name); f != nil && f.Value.String() == "" {
			return nil, WithHint(Usagef("--%s is required", name), "run the command with -h for its usage")
		}
	}
	return pos, nil
}

func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	if msg := flagMisuse(fs, args); msg != "" {
		return nil, WithHint(&UsageError{Msg: msg}, "run the command with -h to list its flags")
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, helpFor(fs)
			}
			return nil, &UsageError{Msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse stops at the first non-flag, or after "--". Tell which.
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagMisuse says what is wrong with the first argument that names a flag
// fs does not define, or a flag that needs a value and has none, quoting
// the argument as it was typed ("unknown flag --frob", "--kek needs a
// value"); "" when there is no such argument. It walks the arguments as
// Parse does: values of flags that take one are skipped, "--" ends the
// flags. (The flag package would say "-frob" for "--frob".)
func flagMisuse(fs *flag.FlagSet, args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return ""
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "h" || name == "help" {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			return "unknown flag " + a
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); (!ok || !b.IsBoolFlag()) && !hasValue {
			if i+1 == len(args) {
				return a + " needs a value"
			}
			i++ // its value
		}
	}
	return ""
}

// positional and required hold what help says of a flag set besides its
// flags: its positional arguments' names, and the flags it cannot do
// without.
var positional, required sync.Map // *flag.FlagSet -> string, []string

// Positional names a command's positional arguments ("DIR", "FILE.byok")
// for its -h text: "usage: keyrite transcript verify DIR [flags]".
func Positional(fs *flag.FlagSet, names string) { positional.Store(fs, names) }

// PositionalOf returns what Positional named for fs ("" if nothing).
func PositionalOf(fs *flag.FlagSet) string {
	v, _ := positional.Load(fs)
	s, _ := v.(string)
	return s
}

// Required marks flags of fs that a command cannot do without: Parse
// refuses their absence ("--vault is required", exit 2) and -h puts them
// in the usage line ("usage: keyrite-uploader kek create --vault URL ...").
// The flags must be defined before Parse is called.
func Required(fs *flag.FlagSet, names ...string) {
	required.Store(fs, append(requiredOf(fs), names...))
}

func requiredOf(fs *flag.FlagSet) []string {
	v, _ := required.Load(fs)
	names, _ := v.([]string)
	return names
}

// synopsis is a flag set's usage line after "usage: ": its name (prog put
// first unless the name starts with it), its positional arguments, its
// required flags with their value names, then "[flags]" when it has others.
func synopsis(fs *flag.FlagSet, prog string) string {
	parts := []string{fs.Name()}
	if prog != "" && !strings.HasPrefix(fs.Name(), prog) {
		parts = []string{prog, fs.Name()}
	}
	if p := PositionalOf(fs); p != "" {
		parts = append(parts, p)
	}
	req := requiredOf(fs)
	for _, name := range req {
		if f := fs.Lookup(name); f != nil {
			v, _ := flag.UnquoteUsage(f)
			parts = append(parts, strings.TrimSpace("--"+name+" "+v))
		}
	}
	others := 0
	fs.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(req, f.Name) {
			others++
		}
	})
	if others > 0 {
		parts = append(parts, "[flags]")
	}
	return strings.Join(parts, " ")
}

// HelpError is returned by Parse for -h/--help. It wraps flag.ErrHelp and
// carries the flag set's usage line and flags, which Report prints (exit 0).
type HelpError struct {
	// Name is the flag set's name; Args its positional arguments.
	Name, Args string
	// Synopsis is the usage line after "usage: ", without the program's
	// name unless the flag set's name has it.
	Synopsis string
	// Flags is the flag list, one "  --name VALUE" line and its usage
	// below it, as flag.PrintDefaults writes them.
	Flags string
}

func (h *HelpError) Error() string { return "help requested" }
func (h *HelpError) Unwrap() error { return flag.ErrHelp }

func (h *HelpError) print(w io.Writer, prog string) {
	syn := h.Synopsis
	if !strings.HasPrefix(syn, prog) {
		syn = prog + " " + syn
	}
	fmt.Fprintf(w, "usage: %s\n", syn)
	if h.Flags != "" {
		fmt.Fprintf(w, "\nflags:\n%s", h.Flags)
	}
}

func helpFor(fs *flag.FlagSet) error {
	return &HelpError{Name: fs.Name(), Args: PositionalOf(fs), Synopsis: synopsis(fs, ""), Flags: FlagList(fs)}
}

// FlagList is fs's flags as help lists them: flag.PrintDefaults' lines,
// with each flag written the way the commands are documented, --name.
func FlagList(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return strings.ReplaceAll("\n"+b.String(), "\n  -", "\n  --")[1:]
}

// Exit reports err as Report does, on stderr, except the help that -h asked
// for, which is the command's output and goes to stdout. It returns the
// exit code.
func Exit(stdout, stderr io.Writer, prog string, err error) int {
	if prog == "" {
		prog = progDefault
	}
	var help *HelpError
	if errors.As(err, &help) {
		help.print(stdout, prog)
		return ExitOK
	}
	return Report(stderr, prog, err)
}

// observers are the functions Observe registered.
var observers struct {
	sync.Mutex
	next int
	fns  map[int]func(*flag.FlagSet)
}

// Observe calls f with every flag set Parse is given, from now until stop
// is called. It is for tests that walk a binary's command table and check
// each command's help against its flags (PositionalOf names its positional
// arguments). f may be called from several goroutines at once.
func Observe(f func(*flag.FlagSet)) (stop func()) {
	observers.Lock()
	defer observers.Unlock()
	if observers.fns == nil {
		observers.fns = map[int]func(*flag.FlagSet){}
	}
	id := observers.next
	observers.next++
	observers.fns[id] = f
	return func() {
		observers.Lock()
		defer observers.Unlock()
		delete(observers.fns, id)
	}
}

func notify(fs *flag.FlagSet) {
	observers.Lock()
	fns := make([]func(*flag.FlagSet), 0, len(observers.fns))
	for _, f := range observers.fns {
		fns = append(fns, f)
	}
	observers.Unlock()
	for _, f := range fns {
		f(fs)
	}
}

// Strings is a repeatable string flag.
type Strings []string

func (s *Strings) String() string     { return strings.Join(*s, ",") }
func (s *Strings) Set(v string) error { *s = append(*s, v); return nil }

// PrintJSON writes v as one indented JSON object followed by a newline.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// OneLine is the neutralisation Report applies to error text, for other
// text from outside (a service's status details) printed to a terminal.
func OneLine(s string) string { return oneLine(s) }

// Reworded is an error whose text is Msg and whose chain is Err: a library
// error reworded for the person reading it (a file or flag named, a
// command's name put first) without losing what errors.Is and errors.As
// find in it, hints included. It is the one "message plus chain" type of
// the binaries.
type Reworded struct {
	Msg string
	Err error
}

func (e *Reworded) Error() string { return e.Msg }
func (e *Reworded) Unwrap() error { return e.Err }

// Reword returns err with the text of format and args; nil for a nil err.
func Reword(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Reworded{Msg: fmt.Sprintf(format, args...), Err: err}
}

package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// A Command is one entry of a binary's command table: its name ("byok
// export", "sd status"), a one-line summary for the command list, and what
// runs it with the binary's environment E.
type Command[E any] struct {
	Name    string
	Summary string
	Run     func(E, []string) error
}

// Find returns the command args name in cmds and the arguments after its
// name. An unknown command, or a known group with a missing or unknown verb,
// is a UsageError with a hint naming what there is (prog is the binary's
// name, for the "PROG help" hint).
func Find[E any](prog string, cmds []Command[E], args []string) (*Command[E], []string, error) {
	for i := range cmds {
		words := strings.Fields(cmds[i].Name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == cmds[i].Name {
			return &cmds[i], args[len(words):], nil
		}
	}
	if len(args) == 0 {
		return nil, nil, WithHint(Usagef("no command given"), "run '"+prog+" help' for the list of commands")
	}
	// A known group with an unknown verb gets the group's verbs as a hint.
	var verbs []string
	for _, c := range cmds {
		if g, v, ok := strings.Cut(c.Name, " "); ok && g == args[0] {
			verbs = append(verbs, v)
		}
	}
	if len(verbs) > 0 {
		sort.Strings(verbs)
		what := "missing"
		if len(args) > 1 {
			what = fmt.Sprintf("unknown: %q", args[1])
		}
		return nil, nil, WithHint(Usagef("%s: subcommand %s", args[0], what), "try one of: "+strings.Join(verbs, ", "))
	}
	return nil, nil, WithHint(Usagef("unknown command %q", args[0]), "run '"+prog+" help' for the list of commands")
}

// ListCommands writes the command table, one "  NAME  SUMMARY" line each.
func ListCommands[E any](w io.Writer, cmds []Command[E]) {
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.Name))
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
}

package plan

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrPlan is wrapped by every error about a plan's content.
var ErrPlan = errors.New("invalid plan")

// maxErrors bounds the problems reported for one plan.
const maxErrors = 20

// Error is one problem in a plan: where (line, and the field's path such
// as "people[1].role") and what.
type Error struct {
	Line int    // 1-based; 0 when the problem has no one place
	Path string // the field, e.g. "targets[0].size"; "" for the whole plan
	Msg  string
}

func (e *Error) Error() string {
	s := ""
	if e.Line > 0 {
		s = "line " + strconv.Itoa(e.Line) + ": "
	}
	if e.Path != "" {
		s += e.Path + ": "
	}
	return s + e.Msg
}

// Errors is every problem found in a plan (at most 20). A plan with any
// problem gives no Plan at all.
type Errors struct {
	File string
	List []*Error
}

func (e *Errors) Error() string {
	var b strings.Builder
	for i := range e.List {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.Line(i))
	}
	return b.String()
}

// Line renders problem i as "FILE:LINE: path: message".
func (e *Errors) Line(i int) string {
	x := e.List[i]
	s := e.File
	if x.Line > 0 {
		s += ":" + strconv.Itoa(x.Line)
	}
	s += ": "
	if x.Path != "" {
		s += x.Path + ": "
	}
	return s + x.Msg
}

func (e *Errors) Unwrap() error { return ErrPlan }

func (e *Errors) add(line int, path, format string, args ...any) *Errors {
	if len(e.List) < maxErrors {
		e.List = append(e.List, &Error{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	return e
}

var (
	yamlLineRE     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownRE      = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	wrongTypeRE    = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
	alreadyDefRE   = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
	yamlPrefixRE   = regexp.MustCompile(`^yaml: `)
	tagDescription = map[string]string{
		"!!str": "text", "!!int": "a number", "!!float": "a decimal number", "!!bool": "true/false",
		"!!null": "nothing", "!!seq": "a list", "!!map": "a mapping", "!!timestamp": "a date", "!!binary": "binary data",
	}
)

// yamlErrors turns the YAML library's errors into Errors, naming the field
// at each line (root: the parsed tree, for that; may be nil).
func yamlErrors(err error, root *yaml.Node, data []byte) *Errors {
	var errs Errors
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	for _, m := range msgs {
		line := 0
		if sub := yamlLineRE.FindStringSubmatch(m); sub != nil {
			line, _ = strconv.Atoi(sub[1])
			m = sub[2]
		}
		m = yamlPrefixRE.ReplaceAllString(m, "")
		path := ""
		if root != nil && line > 0 {
			path = pathAtLine(root, line)
		}
		switch {
		case unknownRE.MatchString(m):
			sub := unknownRE.FindStringSubmatch(m)
			m = fmt.Sprintf("unknown field %q", sub[1]) + suggest(sub[1], sub[2])
			path = trimLast(path, sub[1])
		case wrongTypeRE.MatchString(m):
			sub := wrongTypeRE.FindStringSubmatch(m)
			got := tagDescription[sub[1]]
			if got == "" {
				got = sub[1]
			}
			if sub[2] != "" {
				got += fmt.Sprintf(" (%s)", short(sub[2]))
			}
			m = fmt.Sprintf("wrong type: %s where %s is expected", got, goTypeWords(sub[3]))
		case alreadyDefRE.MatchString(m):
			sub := alreadyDefRE.FindStringSubmatch(m)
			m = fmt.Sprintf("duplicate key %q (first at line %s)", sub[1], sub[2])
			path = trimLast(path, sub[1])
		default:
			m = "YAML syntax: " + m
			if te == nil && data != nil {
				if l := syntaxLine(data); l > line {
					if line > 0 {
						m += fmt.Sprintf(" (in the block that starts at line %d)", line)
					}
					line = l
				}
			}
			if strings.Contains(m, "expected") || strings.Contains(m, "mapping values") {
				m += "; check the indentation, and the \": \" after each field name"
			}
		}
		errs.add(line, path, "%s", m)
	}
	return &errs
}

// syntaxLine finds the line of a YAML syntax error: the YAML library
// names the line where the enclosing block starts, so this finds the
// shortest run of first lines that does not parse (binary search: a
// prefix holding the error fails, a shorter one parses).
func syntaxLine(data []byte) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	fails := func(n int) bool {
		var doc yaml.Node
		return yaml.Unmarshal(bytes.Join(lines[:n], nil), &doc) != nil
	}
	if !fails(len(lines)) {
		return 0
	}
	lo, hi := 1, len(lines)
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// trimLast drops a last path element equal to key (the field is named in
// the message).
func trimLast(path, key string) string {
	if path == key {
		return ""
	}
	return strings.TrimSuffix(path, "."+key)
}

func goTypeWords(t string) string {
	switch {
	case t == "string":
		return "text"
	case t == "int":
		return "a whole number"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case strings.HasPrefix(t, "*plan.") || strings.HasPrefix(t, "plan."):
		return "a mapping"
	}
	return t
}

// fieldsOf lists the YAML field names of the plan's types, by Go type
// name, for "did you mean" suggestions.
var fieldsOf = func() map[string][]string {
	m := map[string][]string{}
	for _, v := range []any{File{}, Person{}, KEK{}, Target{}, SecurityDomain{}, ExchangeKey{}, Custodian{}, Check{}, Policy{}} {
		t := reflect.TypeOf(v)
		var names []string
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			names = append(names, name)
		}
		m["plan."+t.Name()] = names
	}
	return m
}()

func suggest(field, typ string) string {
	best, bestD := "", 3
	for _, f := range fieldsOf[typ] {
		if d := distance(field, f); d < bestD {
			best, bestD = f, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	if names := fieldsOf[typ]; len(names) > 0 {
		return "; known fields here: " + strings.Join(names, ", ")
	}
	return ""
}

// distance is the Levenshtein distance, capped for long inputs.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// pathAtLine names the deepest mapping key or list item that starts on
// line: "people[1].role".
func pathAtLine(n *yaml.Node, line int) string {
	best := ""
	var visit func(n *yaml.Node, path string)
	visit = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := join(path, k.Value)
				if k.Line == line {
					best = p
				}
				visit(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if c.Line == line && c.Kind == yaml.ScalarNode {
					best = p
				}
				visit(c, p)
			}
		}
	}
	visit(n, "")
	return best
}

// nodeAt finds the value node at path elements (strings for mapping keys,
// ints for list indexes); it returns the deepest node found.
func nodeAt(root *yaml.Node, path ...any) *yaml.Node {
	n := root
	for _, el := range path {
		var next *yaml.Node
		switch el := el.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == el {
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && el >= 0 && el < len(n.Content) {
				next = n.Content[el]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// keyLine is the line of the key of the last path element when that is a
// mapping key (so that "tags" points at "tags:", not at its first entry).
//
// A field missing at the top of the plan has no line: 0.
func keyLine(root *yaml.Node, path ...any) int {
	if len(path) == 0 {
		return root.Line
	}
	if nodeAt(root, path[0]) == root {
		return 0
	}
	parent := nodeAt(root, path[:len(path)-1]...)
	if k, ok := path[len(path)-1].(string); ok && parent.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if parent.Content[i].Value == k {
				return parent.Content[i].Line
			}
		}
	}
	return nodeAt(root, path...).Line
}

// pathString renders path elements: people[1].role.
func pathString(path ...any) string {
	var b strings.Builder
	for _, el := range path {
		switch el := el.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(el)
		case int:
			fmt.Fprintf(&b, "[%d]", el)
		}
	}
	return b.String()
}

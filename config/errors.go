package config

import (
	"fmt"
	"strings"
)

// Error is a configuration problem: where it was found (a file, possibly
// with a line, or an environment variable, or a flag), the key, and what
// was wrong. Every Error is a usage error: nothing runs with a bad config.
type Error struct {
	Where string // "/etc/dsys/config.yaml:3", "DSYS_COMPUTE_WORKERS", "flag --workers"
	Key   string // may be empty when the whole file is at fault
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.Where != "" {
		b.WriteString(e.Where)
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", e.Key)
	}
	b.WriteString(oneLine(e.Msg))
	return b.String()
}

// oneLine folds a multi-line message (parser errors often have several).
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

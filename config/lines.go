package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// lineFinder maps dotted keys to their line in a YAML config file, so errors
// can say "dsys.yaml:7". For other formats it knows no lines.
type lineFinder map[string]int

// newLineFinder indexes the keys of a YAML document's top mapping.
func newLineFinder(root *yaml.Node) lineFinder {
	lf := lineFinder{}
	lf.walk(root, "")
	return lf
}

func (lf lineFinder) walk(n *yaml.Node, prefix string) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := prefix + strings.ToLower(n.Content[i].Value)
		lf[key] = n.Content[i].Line
		lf.walk(n.Content[i+1], key+".")
	}
}

// line returns key's line, or a large number when unknown (sorts last).
func (lf lineFinder) line(key string) int {
	if l, ok := lf[key]; ok {
		return l
	}
	return 1 << 30
}

// at renders "file:line" when the line is known, else "file".
func (lf lineFinder) at(file, key string) string {
	if l, ok := lf[key]; ok {
		return fmt.Sprintf("%s:%d", file, l)
	}
	return file
}

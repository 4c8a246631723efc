package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// fileDoc is the config file, read once: viper gets its contents, and the
// file's own parse serves what viper loses (key case, YAML line numbers).
type fileDoc struct {
	path  string
	raw   map[string]any // as the format's parser reads it, keys in their case
	lines lineFinder     // YAML only
}

// readFile loads file into v and returns its fileDoc.
func readFile(v *viper.Viper, file string) (*fileDoc, error) {
	ext := strings.ToLower(filepath.Ext(file))
	switch ext {
	case ".yaml", ".yml":
		v.SetConfigType("yaml")
	case ".toml", ".json":
		v.SetConfigType(ext[1:])
	default:
		return nil, &Error{Where: file, Msg: fmt.Sprintf("unknown config format %q: use .yaml, .yml, .toml or .json", ext)}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &Error{Where: file, Msg: errors.Unwrap(err).Error()}
	}
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, &Error{Where: file, Msg: "cannot parse: " + strings.TrimPrefix(err.Error(), "While parsing config: ")}
	}
	doc := &fileDoc{path: file}
	switch ext {
	case ".toml":
		_ = toml.Unmarshal(data, &doc.raw)
	case ".json":
		_ = json.Unmarshal(data, &doc.raw)
	default:
		var node yaml.Node
		if yaml.Unmarshal(data, &node) == nil && len(node.Content) > 0 {
			doc.lines = newLineFinder(node.Content[0])
			_ = node.Decode(&doc.raw)
		}
	}
	return doc, nil
}

// value returns key's value as the file's own parser read it. Section
// names match without regard to case, as in viper.
func (d *fileDoc) value(key string) (any, bool) {
	if d == nil {
		return nil, false
	}
	var cur any = d.raw
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		found := false
		for k, v := range m {
			if strings.EqualFold(k, part) {
				cur, found = v, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return cur, true
}

// mapValue reads a map-valued key from the file itself, because viper
// lower-cases every key it reads, map entries included, and a user name
// such as "Alice" in zmq.plain.users must keep its case.
func (d *fileDoc) mapValue(key string) (map[string]any, bool) {
	v, _ := d.value(key)
	m, ok := v.(map[string]any)
	return m, ok
}

// at renders "file:line" for key when the line is known, else the file.
func (d *fileDoc) at(key string) string {
	return d.lines.at(d.path, key)
}

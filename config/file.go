package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"go.yaml.in/yaml/v3"
)

// fileDoc is one config file as its format's parser reads it: keys keep
// their case (a user name in zmq.plain.users must), and YAML keys their line.
type fileDoc struct {
	path  string
	raw   map[string]any
	lines lineFinder // YAML only
}

// readFile parses a config file. Its errors name the file, and the line
// where the parser knows it; they carry no parser internals.
func readFile(path string) (*fileDoc, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".yaml", ".yml", ".toml", ".json":
	default:
		return nil, &Error{Where: path, Msg: fmt.Sprintf("unknown config format %q: use .yaml, .yml, .toml or .json", ext)}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{Where: path, Msg: "cannot read: " + err.Error()}
	}
	doc := &fileDoc{path: path}
	switch ext {
	case ".toml":
		err = doc.parseTOML(data)
	case ".json":
		err = doc.parseJSON(data)
	default:
		err = doc.parseYAML(data)
	}
	return doc, err
}

const wantMapping = "expected a mapping of keys, such as log: {level: info}"

func (d *fileDoc) parseYAML(data []byte) error {
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return &Error{Where: d.path, Msg: "cannot parse YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(node.Content) == 0 {
		return nil // empty, or only comments
	}
	root := node.Content[0]
	if root.Kind != yaml.MappingNode {
		return &Error{Where: fmt.Sprintf("%s:%d", d.path, root.Line), Msg: wantMapping}
	}
	if err := root.Decode(&d.raw); err != nil {
		// yaml.TypeError: "line N: mapping key "x" already defined at line M".
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			where, msg := d.path, te.Errors[0]
			if rest, ok := strings.CutPrefix(msg, "line "); ok {
				if n, m, ok := strings.Cut(rest, ": "); ok {
					where, msg = d.path+":"+n, m
				}
			}
			return &Error{Where: where, Msg: msg}
		}
		return &Error{Where: d.path, Msg: "cannot parse YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	d.lines = newLineFinder(root)
	return nil
}

func (d *fileDoc) parseTOML(data []byte) error {
	if err := toml.Unmarshal(data, &d.raw); err != nil {
		where := d.path
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			where = fmt.Sprintf("%s:%d", d.path, row)
		}
		return &Error{Where: where, Msg: "cannot parse TOML: " + strings.TrimPrefix(err.Error(), "toml: ")}
	}
	return nil
}

func (d *fileDoc) parseJSON(data []byte) error {
	err := json.Unmarshal(data, &d.raw)
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return &Error{Where: d.path + ":" + strconv.Itoa(line), Msg: "cannot parse JSON: " + se.Error()}
	case errors.As(err, &te) && te.Field == "":
		return &Error{Where: d.path, Msg: `expected an object of keys, such as {"log": {"level": "info"}}`}
	}
	return &Error{Where: d.path, Msg: "cannot parse JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
}

// value returns key's value as the file's parser read it, and whether the
// file sets it. Names match without regard to case, as key names do.
func (d *fileDoc) value(key string) (any, bool) {
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

// at renders "file:line" for key when the line is known, else the file.
func (d *fileDoc) at(key string) string {
	return d.lines.at(d.path, key)
}

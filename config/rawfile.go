package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"go.yaml.in/yaml/v3"
)

// rawMapValue reads a map-valued key straight from the file, because viper
// lower-cases every key it reads, map entries included, and a user name
// such as "Alice" in zmq.plain.users must keep its case. Section names are
// matched without regard to case, as viper does.
func rawMapValue(file, key string) (map[string]any, bool) {
	v, _ := rawValue(file, key)
	m, ok := v.(map[string]any)
	return m, ok
}

// rawValue returns key's value as the file's own parser reads it.
func rawValue(file, key string) (any, bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, false
	}
	var doc map[string]any
	switch strings.ToLower(filepath.Ext(file)) {
	case ".yaml", ".yml":
		err = yaml.Unmarshal(data, &doc)
	case ".toml":
		err = toml.Unmarshal(data, &doc)
	case ".json":
		err = json.Unmarshal(data, &doc)
	}
	if err != nil {
		return nil, false
	}
	var cur any = doc
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

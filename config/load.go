package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Options says where Load looks besides the defaults.
type Options struct {
	// File is the --config flag. Empty means DSYS_CONFIG, else the search
	// path ./dsys.yaml, $XDG_CONFIG_HOME/dsys/config.yaml (default
	// ~/.config/dsys/config.yaml), /etc/dsys/config.yaml.
	File string
	// Flags maps keys to the command-line flags bound to them. A flag
	// overrides its key only when the user set it.
	Flags map[string]*pflag.Flag
}

// Loaded is a fully decoded, validated configuration and where each value came from.
type Loaded struct {
	Config   Config
	File     string   // the config file read, "" when none
	Warnings []string // unknown DSYS_* variables and the like; worth logging
	sources  map[string]Source
}

// Source tells where a key's effective value came from.
type Source struct {
	Kind SourceKind
	Name string // file path, environment variable or flag name
}

// SourceKind orders the places a value can come from, weakest first.
type SourceKind int

// The sources, weakest first.
const (
	FromDefault SourceKind = iota
	FromFile
	FromEnv
	FromFlag
)

// String names the source as `dsys config show` prints it: default, the
// file's path, the environment variable's name, or flag.
func (s Source) String() string {
	switch s.Kind {
	case FromFile, FromEnv:
		return s.Name
	case FromFlag:
		return "flag"
	}
	return "default"
}

// Source returns where key's value came from.
func (l *Loaded) Source(key string) Source { return l.sources[key] }

// SearchPaths returns the config files looked for when none is named, in order.
func SearchPaths() []string {
	paths := []string{"dsys.yaml"}
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if xdg == "" {
		if home, err := os.UserHomeDir(); err == nil {
			xdg = filepath.Join(home, ".config")
		}
	}
	if xdg != "" {
		paths = append(paths, filepath.Join(xdg, "dsys", "config.yaml"))
	}
	return append(paths, "/etc/dsys/config.yaml")
}

// findFile picks the config file: the named one (which must exist), or the
// first of SearchPaths that exists, or none.
func findFile(named string) (string, error) {
	where := "--config"
	if named == "" {
		named = os.Getenv("DSYS_CONFIG")
		where = "DSYS_CONFIG"
	}
	if named != "" {
		if _, err := os.Stat(named); err != nil {
			return "", &Error{Where: named, Msg: fmt.Sprintf("cannot read config file named by %s: %v", where, errors.Unwrap(err))}
		}
		return named, nil
	}
	for _, p := range SearchPaths() {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", nil
}

// Load builds the configuration from defaults, the config file, the
// environment and the bound flags, in rising precedence. It returns an
// *Error, naming the source and the key, for the first bad value it meets:
// nothing should run on a half-read configuration.
func Load(opts Options) (*Loaded, error) {
	file, err := findFile(opts.File)
	if err != nil {
		return nil, err
	}
	v := viper.New()
	def := Default()
	for _, k := range keys {
		v.SetDefault(k.Name, k.Value(&def))
		if err := v.BindEnv(k.Name, k.Env); err != nil {
			return nil, err
		}
		if f := opts.Flags[k.Name]; f != nil {
			if err := v.BindPFlag(k.Name, f); err != nil {
				return nil, err
			}
		}
	}
	var doc *fileDoc
	if file != "" {
		if doc, err = readFile(v, file); err != nil {
			return nil, err
		}
		if err := checkFileKeys(v, doc); err != nil {
			return nil, err
		}
	}

	l := &Loaded{File: file, sources: map[string]Source{}}
	for _, k := range keys {
		src := Source{Kind: FromDefault}
		switch f := opts.Flags[k.Name]; {
		case f != nil && f.Changed:
			src = Source{Kind: FromFlag, Name: "--" + f.Name}
		case os.Getenv(k.Env) != "":
			src = Source{Kind: FromEnv, Name: k.Env}
		case file != "" && v.InConfig(k.Name):
			src = Source{Kind: FromFile, Name: file}
		}
		l.sources[k.Name] = src
		raw := v.Get(k.Name)
		if src.Kind == FromFile && k.typ.Kind() == reflect.Map {
			if m, ok := doc.mapValue(k.Name); ok {
				raw = m
			}
		}
		if err := decodeInto(k.field(&l.Config), raw); err != nil {
			return nil, &Error{Where: where(src, k.Name, doc), Key: k.Name, Msg: err.Error()}
		}
	}
	if err := l.validate(doc); err != nil {
		return nil, err
	}
	l.Warnings = unknownEnv()
	return l, nil
}

// where renders a source for an error message, with the file line when known.
func where(src Source, key string, doc *fileDoc) string {
	switch src.Kind {
	case FromFile:
		return doc.at(key)
	case FromFlag:
		return "flag " + src.Name
	case FromEnv:
		return src.Name
	}
	return "default"
}

// checkFileKeys refuses keys that are not settings (typo protection).
func checkFileKeys(v *viper.Viper, doc *fileDoc) error {
	var unknown []string
	for _, name := range v.AllKeys() {
		if raw, found := doc.value(name); isSection(name) && found && raw == nil {
			continue // an empty section, as when all its keys are commented out
		}
		if !knownKey(name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Slice(unknown, func(i, j int) bool {
		return doc.lines.line(unknown[i]) < doc.lines.line(unknown[j])
	})
	name := unknown[0]
	msg := "unknown key"
	if s := suggest(name); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if section := strings.SplitN(name, ".", 2)[0]; isSection(section) && section == name {
		msg = "expected a mapping of keys, such as " + sectionExample(section)
	}
	return &Error{Where: doc.at(name), Key: name, Msg: msg}
}

// knownKey accepts leaf keys and entries below map-valued keys.
func knownKey(name string) bool {
	for _, k := range keys {
		if k.Name == name {
			return true
		}
		if k.typ.Kind() == reflect.Map && strings.HasPrefix(name, k.Name+".") {
			return true
		}
	}
	return false
}

func isSection(name string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k.Name, name+".") {
			return true
		}
	}
	return false
}

func sectionExample(section string) string {
	for _, k := range keys {
		if strings.HasPrefix(k.Name, section+".") {
			return k.Name
		}
	}
	return section
}

// suggest returns the known key nearest to name, if it is near enough to be a typo.
func suggest(name string) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	return nearest(name, names)
}

func envNames() []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Env
	}
	return names
}

// nearest returns the candidate within edit distance 3 of name, if any.
func nearest(name string, candidates []string) string {
	best, bestD := "", 4
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
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

// unknownEnv lists DSYS_* variables that set nothing, to warn about typos.
func unknownEnv() []string {
	known := map[string]bool{"DSYS_CONFIG": true}
	for _, k := range keys {
		known[k.Env] = true
	}
	var warn []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "DSYS_") || known[name] || strings.HasPrefix(name, "DSYS_TEST_") {
			continue
		}
		msg := fmt.Sprintf("environment variable %s sets no dsys key", name)
		if s := nearest(name, envNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		warn = append(warn, msg)
	}
	sort.Strings(warn)
	return warn
}

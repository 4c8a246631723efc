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

	"github.com/dsys-dev/dsys/internal/suggest"
)

// Options says where Load looks besides the defaults.
type Options struct {
	// File is the --config flag: that one file replaces the search (as
	// DSYS_CONFIG does when File is empty). It must exist.
	File string
	// Search lists the files layered when no file is named, weakest first;
	// those that exist are read. Nil means SearchPaths().
	Search []string
	// Flags maps keys to the command-line flags bound to them. A flag
	// overrides its key only when the user set it.
	Flags map[string]*pflag.Flag
	// LenientFiles makes Load skip what it cannot use in the config files
	// (a file that does not parse, an unknown key, a bad value: the key
	// keeps its default) while flags and environment are still checked; for
	// commands that must run whatever the files hold (config init --force
	// over a broken file, version, completion).
	LenientFiles bool
}

// Loaded is a fully decoded, validated configuration and where each value came from.
type Loaded struct {
	Config   Config
	Files    []string // the config files read, weakest first; none is fine
	Warnings []string // unknown DSYS_* variables and the like; worth logging
	sources  map[string]Source
}

// Source tells where a key's effective value came from.
type Source struct {
	Kind SourceKind
	Name string // file path, environment variable or flag name
	at   string // for a file: "path:line" when the line is known
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

// where renders a source for an error message: the file with its line,
// the variable, or the flag.
func (s Source) where() string {
	switch s.Kind {
	case FromFile:
		return s.at
	case FromFlag:
		return "flag " + s.Name
	case FromEnv:
		return s.Name
	}
	return "default"
}

// Source returns where key's value came from.
func (l *Loaded) Source(key string) Source { return l.sources[key] }

// SearchPaths returns the config files layered when none is named, weakest
// first: /etc/dsys/config.yaml, $XDG_CONFIG_HOME/dsys/config.yaml (default
// ~/.config/dsys/config.yaml), ./dsys.yaml. Each key takes its value from
// the last of them that sets it.
func SearchPaths() []string {
	paths := []string{"/etc/dsys/config.yaml"}
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if xdg == "" {
		if home, err := os.UserHomeDir(); err == nil {
			xdg = filepath.Join(home, ".config")
		}
	}
	if xdg != "" {
		paths = append(paths, filepath.Join(xdg, "dsys", "config.yaml"))
	}
	return append(paths, "dsys.yaml")
}

// configFiles picks the files to read, weakest first: the named one (which
// must exist), or those of the search path that exist, each once.
func configFiles(opts Options) ([]string, error) {
	named, where := opts.File, "--config"
	if named == "" {
		named, where = os.Getenv("DSYS_CONFIG"), "DSYS_CONFIG"
	}
	if named != "" {
		if _, err := os.Stat(named); err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, &Error{Where: named, Msg: fmt.Sprintf("cannot read config file named by %s: %v", where, err)}
		}
		return []string{named}, nil
	}
	search := opts.Search
	if search == nil {
		search = SearchPaths()
	}
	var files []string
	seen := map[string]bool{}
	for _, p := range search {
		st, err := os.Stat(p)
		if err != nil || st.IsDir() {
			continue
		}
		id := p
		if abs, err := filepath.Abs(p); err == nil {
			id = abs
		}
		if !seen[id] {
			seen[id] = true
			files = append(files, p)
		}
	}
	return files, nil
}

// Load builds the configuration from defaults, the config files, the
// environment and the bound flags, in rising precedence. It returns an
// *Error, naming the source and the key, for the first bad value it meets:
// nothing should run on a half-read configuration. With
// Options.LenientFiles, a file's faults are skipped instead.
func Load(opts Options) (*Loaded, error) {
	return load(opts, func(k SourceKind) bool { return opts.LenientFiles && k == FromFile })
}

// Lenient is the configuration as far as it can be read, for reporting an
// error the way the user asked (output: json) when Load failed or never
// ran: a file that cannot be read is skipped, and a value that does not
// decode or is out of range keeps its default. It never fails.
func Lenient(opts Options) Config {
	l, err := load(opts, func(SourceKind) bool { return true })
	if err != nil { // viper refused to bind: nothing was read
		return Default()
	}
	return l.Config
}

// load reads the configuration; tolerate says which sources' faults are
// skipped (the key keeps its default) rather than returned.
func load(opts Options, tolerate func(SourceKind) bool) (*Loaded, error) {
	l := &Loaded{Config: Default(), sources: map[string]Source{}}
	// One viper holds the defaults, the environment and the flags; the
	// files are read by their own parsers, which keep key case and lines.
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
	files, err := configFiles(opts)
	if err != nil && !tolerate(FromFile) {
		return nil, err
	}
	var docs []*fileDoc // weakest first
	for _, file := range files {
		doc, err := readFile(file)
		if err == nil {
			err = checkFileKeys(doc)
		}
		if err != nil {
			if !tolerate(FromFile) {
				return nil, err
			}
			continue
		}
		docs = append(docs, doc)
		l.Files = append(l.Files, file)
	}

	for _, k := range keys {
		src, raw := Source{Kind: FromDefault}, any(nil)
		switch f := opts.Flags[k.Name]; {
		case f != nil && f.Changed:
			src, raw = Source{Kind: FromFlag, Name: "--" + f.Name}, v.Get(k.Name)
		case os.Getenv(k.Env) != "":
			src, raw = Source{Kind: FromEnv, Name: k.Env}, v.Get(k.Name)
		default:
			raw = v.Get(k.Name)
			for i := len(docs) - 1; i >= 0; i-- {
				if val, ok := docs[i].value(k.Name); ok {
					src, raw = Source{Kind: FromFile, Name: docs[i].path, at: docs[i].at(k.Name)}, val
					break
				}
			}
		}
		if err := decodeInto(k.field(&l.Config), raw); err != nil {
			if !tolerate(src.Kind) {
				return nil, &Error{Where: src.where(), Key: k.Name, Msg: describeErr(k, err)}
			}
			k.field(&l.Config).Set(reflect.ValueOf(k.Value(&def)))
			src = Source{Kind: FromDefault}
		}
		l.sources[k.Name] = src
	}
	for range keys { // a tolerated value out of range falls back to its default
		err := l.validate()
		if err == nil {
			break
		}
		var ce *Error
		if !errors.As(err, &ce) || !tolerate(l.sources[ce.Key].Kind) {
			return nil, err
		}
		k, _ := lookupKey(ce.Key)
		k.field(&l.Config).Set(reflect.ValueOf(k.Value(&def)))
		l.sources[k.Name] = Source{Kind: FromDefault}
	}
	l.Warnings = unknownEnv()
	return l, nil
}

// checkFileKeys refuses keys that are not settings (typo protection).
func checkFileKeys(doc *fileDoc) error {
	var unknown []string
	var walk func(m map[string]any, prefix string)
	walk = func(m map[string]any, prefix string) {
		for k, val := range m {
			name := prefix + strings.ToLower(k)
			if _, ok := lookupKey(name); ok {
				continue // a key, whatever its value: decoding judges that
			}
			sub, isMap := val.(map[string]any)
			switch {
			case isMap && (len(sub) > 0 || isSection(name)):
				walk(sub, name+".") // a section, or a misspelt one: its keys get suggestions
			case isSection(name) && val == nil:
				// an empty section, as when all its keys are commented out
			default:
				unknown = append(unknown, name)
			}
		}
	}
	walk(doc.raw, "")
	if len(unknown) == 0 {
		return nil
	}
	sort.Slice(unknown, func(i, j int) bool {
		li, lj := doc.lines.line(unknown[i]), doc.lines.line(unknown[j])
		if li != lj {
			return li < lj
		}
		return unknown[i] < unknown[j]
	})
	name := unknown[0]
	msg := "unknown key"
	if isSection(name) {
		msg = "expected a mapping of keys, such as " + sectionExample(name)
	} else if s := suggestKey(name); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return &Error{Where: doc.at(name), Key: name, Msg: msg}
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

// suggestKey returns the known key nearest to name, if it is near enough to be a typo.
func suggestKey(name string) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	return suggest.Nearest(name, names, 3)
}

// unknownEnv lists DSYS_* variables that set nothing, to warn about typos.
func unknownEnv() []string {
	known := map[string]bool{"DSYS_CONFIG": true}
	envs := make([]string, 0, len(keys))
	for _, k := range keys {
		known[k.Env] = true
		envs = append(envs, k.Env)
	}
	var warn []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "DSYS_") || known[name] || strings.HasPrefix(name, "DSYS_TEST_") {
			continue
		}
		msg := fmt.Sprintf("environment variable %s sets no dsys key", name)
		if s := suggest.Nearest(name, envs, 3); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		warn = append(warn, msg)
	}
	sort.Strings(warn)
	return warn
}

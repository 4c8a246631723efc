package config

import (
	"reflect"
	"strings"
)

// Key describes one configuration key.
type Key struct {
	Name   string // dotted, e.g. "compute.workers"
	Env    string // DSYS_COMPUTE_WORKERS
	Doc    string
	Secret bool   // printed as **** by config show
	Auto   string // the default depends on the machine: what it is ("the number of CPUs")
	index  []int
	typ    reflect.Type
}

// EnvName returns the environment variable that sets key.
func EnvName(key string) string {
	return "DSYS_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Keys lists every key of Config in declaration order.
func Keys() []Key { return keys }

var keys = collectKeys(reflect.TypeFor[Config](), "", nil)

// isLeaf reports whether a field type is one value rather than a section.
// Maps and lists of structs (queue.tasks) are leaves: set as a whole.
func isLeaf(t reflect.Type) bool {
	return t.Kind() != reflect.Struct
}

func collectKeys(t reflect.Type, prefix string, index []int) []Key {
	var out []Key
	for i := range t.NumField() {
		f := t.Field(i)
		name := prefix + f.Tag.Get("mapstructure")
		idx := append(append([]int(nil), index...), i)
		if !isLeaf(f.Type) {
			out = append(out, collectKeys(f.Type, name+".", idx)...)
			continue
		}
		out = append(out, Key{
			Name:   name,
			Env:    EnvName(name),
			Doc:    f.Tag.Get("doc"),
			Secret: f.Tag.Get("secret") == "true",
			Auto:   f.Tag.Get("auto"),
			index:  idx,
			typ:    f.Type,
		})
	}
	return out
}

func lookupKey(name string) (Key, bool) {
	for _, k := range keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// field returns the addressable field of c that holds k.
func (k Key) field(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(k.index)
}

// Value returns k's value in c.
func (k Key) Value(c *Config) any { return k.field(c).Interface() }

package celery

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
)

// Python's json module writes NaN, Infinity and -Infinity for non-finite
// floats, and Celery reads them back (json.loads allows them); JSON proper
// has no such tokens, so encoding/json refuses them. decodeJSON reads them
// by quoting them first as strings no Python client sends (they start
// with U+0000, which Python escapes as \u0000: input holding that escape
// is left alone), then turning those strings into float64 values, or back
// into the tokens inside raw messages.

var nonFinite = []struct {
	token, quoted string
	value         float64
}{
	{"-Infinity", `"\u0000-Infinity"`, math.Inf(-1)},
	{"Infinity", `"\u0000Infinity"`, math.Inf(1)},
	{"NaN", `"\u0000NaN"`, math.NaN()},
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// quoteNonFinite quotes the non-finite tokens outside strings; ok is false
// when there are none (or the input holds \u0000).
func quoteNonFinite(data []byte) (out []byte, ok bool) {
	if bytes.Contains(data, []byte(`\u0000`)) {
		return nil, false
	}
	inString := false
	last := 0
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		if c != 'N' && c != 'I' && c != '-' {
			continue
		}
		for _, nf := range nonFinite {
			if bytes.HasPrefix(data[i:], []byte(nf.token)) {
				out = append(append(out, data[last:i]...), nf.quoted...)
				i += len(nf.token) - 1
				last = i + 1
				break
			}
		}
	}
	if out == nil {
		return nil, false
	}
	return append(out, data[last:]...), true
}

// unquoteNonFinite undoes quoteNonFinite in the values decoded into v.
func unquoteNonFinite(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			return unquoteNonFinite(v.Elem())
		}
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		e := v.Elem()
		if e.Kind() == reflect.String {
			if f, ok := quotedValue(e.String()); ok {
				v.Set(reflect.ValueOf(f))
			}
			return nil
		}
		cp := reflect.New(e.Type()).Elem()
		cp.Set(e)
		if err := unquoteNonFinite(cp); err != nil {
			return err
		}
		v.Set(cp)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				if err := unquoteNonFinite(v.Field(i)); err != nil {
					return err
				}
			}
		}
	case reflect.Slice:
		if v.Type() == rawMessageType {
			raw := v.Bytes()
			for _, nf := range nonFinite {
				raw = bytes.ReplaceAll(raw, []byte(nf.quoted), []byte(nf.token))
			}
			v.SetBytes(raw)
			return nil
		}
		for i := range v.Len() {
			if err := unquoteNonFinite(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			cp := reflect.New(it.Value().Type()).Elem()
			cp.Set(it.Value())
			if err := unquoteNonFinite(cp); err != nil {
				return err
			}
			v.SetMapIndex(it.Key(), cp)
		}
	case reflect.String:
		if _, ok := quotedValue(v.String()); ok {
			return errors.New("a non-finite number where a string is expected")
		}
	}
	return nil
}

func quotedValue(s string) (float64, bool) {
	if len(s) < 4 || s[0] != 0 {
		return 0, false
	}
	for _, nf := range nonFinite {
		if s[1:] == nf.token {
			return nf.value, true
		}
	}
	return 0, false
}

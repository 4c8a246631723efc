package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dsys-dev/dsys/internal/suggest"
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	tasksType    = reflect.TypeFor[[]Task]()
)

// decodeError says what a key expected and what it got; the caller adds
// where and which key, and decides whether the value may be shown.
type decodeError struct {
	context string // "task 0: field \"timeout\": ", or ""
	want    string // "an integer"; empty when msg says it all
	raw     any
	msg     string
}

func (e *decodeError) Error() string { return e.render(Key{}) }

// render writes the message for key k; a secret key's value is masked as
// config show masks it.
func (e *decodeError) render(k Key) string {
	if e.want == "" {
		return e.context + e.msg
	}
	got := describe(e.raw)
	if k.Secret {
		got = describeSecret(e.raw, k.typ != nil && k.typ.Kind() == reflect.Map)
	}
	return fmt.Sprintf("%sexpected %s, got %s", e.context, e.want, got)
}

func expected(what string, raw any) error {
	return &decodeError{want: what, raw: raw}
}

// within prefixes a decoding error with where inside the value it arose.
func within(context string, err error) error {
	var de *decodeError
	if errors.As(err, &de) {
		c := *de
		c.context = context + c.context
		return &c
	}
	return fmt.Errorf("%s%w", context, err)
}

// describeErr renders a decoding error for key k, hiding the value of a
// secret key.
func describeErr(k Key, err error) string {
	var de *decodeError
	if errors.As(err, &de) {
		return de.render(k)
	}
	return err.Error()
}

// describe renders a raw value for an error message, with the password of
// any URL in it masked.
func describe(raw any) string {
	switch v := redactRaw(raw).(type) {
	case string:
		return strconv.Quote(v)
	case nil:
		return "nothing"
	case []any, map[string]any:
		b, err := json.Marshal(v)
		if err == nil {
			return string(b)
		}
	}
	return fmt.Sprintf("%v", raw)
}

// redactRaw copies raw with RedactURL applied to every string in it.
func redactRaw(raw any) any {
	switch v := raw.(type) {
	case string:
		return RedactURL(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = redactRaw(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = redactRaw(e)
		}
		return out
	}
	return raw
}

// describeSecret renders the bad value of a secret key as config show
// would: the user names of a map of passwords (names) stay, every password
// is ****.
func describeSecret(raw any, names bool) string {
	switch v := raw.(type) {
	case nil:
		return "nothing"
	case []any:
		return fmt.Sprintf("a list of %d values (not shown: a secret)", len(v))
	}
	if !names {
		return Redacted
	}
	switch v := raw.(type) {
	case string: // name=password,name=password from the environment
		parts := strings.Split(v, ",")
		for i, p := range parts {
			if name, _, ok := strings.Cut(p, "="); ok {
				parts[i] = name + "=" + Redacted
			} else if strings.TrimSpace(p) != "" {
				parts[i] = Redacted
			}
		}
		return strconv.Quote(strings.Join(parts, ","))
	case map[string]any:
		out := make(map[string]any, len(v))
		for name := range v {
			out[name] = Redacted
		}
		return describe(out)
	}
	return Redacted
}

// decodeInto converts raw (from a parsed file, an environment string or a
// flag) to the type of dst and stores it. Strings are accepted everywhere,
// since environment variables are strings.
func decodeInto(dst reflect.Value, raw any) error {
	t := dst.Type()
	if raw != nil && reflect.TypeOf(raw) == t {
		dst.Set(reflect.ValueOf(raw)) // a default, already typed
		return nil
	}
	switch {
	case t == durationType:
		d, err := toDuration(raw)
		if err != nil {
			return err
		}
		dst.SetInt(int64(d))
	case t == byteSizeType:
		n, err := toByteSize(raw)
		if err != nil {
			return err
		}
		dst.SetInt(int64(n))
	case t == tasksType:
		tasks, err := toTasks(raw)
		if err != nil {
			return err
		}
		dst.Set(reflect.ValueOf(tasks))
	case t.Kind() == reflect.String:
		s, ok := scalarString(raw)
		if !ok {
			return expected("a string", raw)
		}
		dst.SetString(s)
	case t.Kind() == reflect.Int:
		n, err := toInt(raw)
		if err != nil {
			return err
		}
		dst.SetInt(n)
	case t.Kind() == reflect.Float64:
		f, err := toFloat(raw)
		if err != nil {
			return err
		}
		dst.SetFloat(f)
	case t.Kind() == reflect.Bool:
		b, err := toBool(raw)
		if err != nil {
			return err
		}
		dst.SetBool(b)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		l, err := toStringList(raw)
		if err != nil {
			return err
		}
		dst.Set(reflect.ValueOf(l))
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.String:
		m, err := toStringMap(raw)
		if err != nil {
			return err
		}
		dst.Set(reflect.ValueOf(m))
	default:
		return fmt.Errorf("no decoder for %s", t)
	}
	return nil
}

func scalarString(raw any) (string, bool) {
	switch v := raw.(type) {
	case string:
		return v, true
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, bool:
		return fmt.Sprint(v), true
	}
	return "", false
}

func toInt(raw any) (int64, error) {
	const want = "an integer"
	switch v := raw.(type) {
	case int:
		return int64(v), nil
	case int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return reflect.ValueOf(v).Convert(reflect.TypeFor[int64]()).Int(), nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), nil
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil {
			return n, nil
		}
	}
	return 0, expected(want, raw)
}

func toFloat(raw any) (float64, error) {
	switch v := raw.(type) {
	case float64:
		return v, nil
	case float32:
		return float64(v), nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return reflect.ValueOf(v).Convert(reflect.TypeFor[float64]()).Float(), nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, nil
		}
	}
	return 0, expected("a number", raw)
}

func toBool(raw any) (bool, error) {
	switch v := raw.(type) {
	case bool:
		return v, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err == nil {
			return b, nil
		}
	}
	return false, expected("true or false", raw)
}

func toDuration(raw any) (time.Duration, error) {
	const want = "a duration such as 5s, 1m30s or 250ms"
	switch v := raw.(type) {
	case time.Duration:
		return v, nil
	case int, int64:
		if reflect.ValueOf(v).Int() == 0 {
			return 0, nil
		}
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err == nil {
			return d, nil
		}
	}
	return 0, expected(want, raw)
}

func toByteSize(raw any) (ByteSize, error) {
	const want = "a byte size such as 65536, 64KiB or 16MiB"
	if s, ok := raw.(string); ok {
		b, err := ParseByteSize(s)
		if err != nil {
			return 0, expected(want, raw)
		}
		return b, nil
	}
	n, err := toInt(raw)
	if err != nil || n < 0 {
		return 0, expected(want, raw)
	}
	return ByteSize(n), nil
}

// toStringList takes a list of scalars or, from the environment, a
// comma-separated string.
func toStringList(raw any) ([]string, error) {
	const want = "a list of strings (or a comma-separated string)"
	switch v := raw.(type) {
	case []string:
		return v, nil
	case string:
		var out []string
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := scalarString(e)
			if !ok {
				return nil, expected(want, raw)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, expected(want, raw)
}

// toStringMap takes a mapping of scalars or, from the environment,
// "k1=v1,k2=v2".
func toStringMap(raw any) (map[string]string, error) {
	const want = "a mapping of names to strings (or name=value,name=value)"
	out := map[string]string{}
	switch v := raw.(type) {
	case map[string]string:
		return v, nil
	case string:
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			k, val, ok := strings.Cut(p, "=")
			if !ok || k == "" {
				return nil, expected(want, raw)
			}
			out[k] = val
		}
		return out, nil
	case map[string]any:
		for k, e := range v {
			s, ok := scalarString(e)
			if !ok {
				return nil, expected(want, raw)
			}
			out[k] = s
		}
		return out, nil
	}
	return nil, expected(want, raw)
}

// toTasks takes a list of task mappings or, from the environment, the same
// as a JSON array.
func toTasks(raw any) ([]Task, error) {
	const want = "a list of tasks such as [{name: tasks.add, builtin: add}]"
	if s, ok := raw.(string); ok {
		var list []any
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, expected(want+" in JSON", raw)
		}
		raw = list
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, expected(want, raw)
	}
	tasks := make([]Task, 0, len(list))
	for i, e := range list {
		t, err := decodeTask(e)
		if err != nil {
			return nil, within(fmt.Sprintf("task %d: ", i), err)
		}
		if err := t.validate(); err != nil {
			return nil, &decodeError{msg: fmt.Sprintf("task %d (%s): %v", i, t.Name, err)}
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// taskFields are Task's fields by their mapstructure names, in order.
var taskFields = func() []string {
	t := reflect.TypeFor[Task]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = t.Field(i).Tag.Get("mapstructure")
	}
	return names
}()

// decodeTask fills a Task from one mapping, field by field, with the
// decoders the keys use.
func decodeTask(raw any) (Task, error) {
	var t Task
	m, ok := raw.(map[string]any)
	if !ok {
		return t, expected("a mapping such as {name: tasks.add, builtin: add}", raw)
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	fields := reflect.ValueOf(&t).Elem()
	for _, k := range names {
		i := slices.IndexFunc(taskFields, func(f string) bool { return strings.EqualFold(f, k) })
		if i < 0 {
			msg := fmt.Sprintf("unknown field %q", k)
			if s := suggest.Nearest(k, taskFields, 2); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return t, &decodeError{msg: msg + " (fields: " + strings.Join(taskFields, ", ") + ")"}
		}
		v := m[k]
		if _, isList := v.([]any); taskFields[i] == "command" && !isList {
			return t, within(`field "command": `, expected(`a list such as [convert, "{0}", out.png]`, v))
		}
		if err := decodeInto(fields.Field(i), v); err != nil {
			return t, within(fmt.Sprintf("field %q: ", taskFields[i]), err)
		}
	}
	return t, nil
}

func (t Task) validate() error {
	switch {
	case t.Name == "":
		return fmt.Errorf("needs a name")
	case t.Builtin == "" && len(t.Command) == 0:
		return fmt.Errorf("needs builtin or command")
	case t.Builtin != "" && len(t.Command) > 0:
		return fmt.Errorf("has both builtin and command; pick one")
	case t.Timeout < 0 || t.Retries < 0 || t.RetryBackoff < 0:
		return fmt.Errorf("timeout, retries and retry_backoff must not be negative")
	case t.AllowOptions && len(t.Command) == 0:
		return fmt.Errorf("allow_options is for command tasks only")
	}
	return nil
}

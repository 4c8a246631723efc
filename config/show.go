package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Redacted replaces secrets in `dsys config show`.
const Redacted = "****"

// Entry is one key as `dsys config show` reports it: its effective value,
// ready for JSON and with secrets redacted, and where that value came from.
type Entry struct {
	Key    string `json:"-"`
	Value  any    `json:"value"`
	Source string `json:"source"`
}

// Entries lists every key in declaration order.
func (l *Loaded) Entries() []Entry {
	out := make([]Entry, 0, len(keys))
	for _, k := range keys {
		out = append(out, Entry{
			Key:    k.Name,
			Value:  publicValue(k, k.Value(&l.Config)),
			Source: l.sources[k.Name].String(),
		})
	}
	return out
}

// publicValue converts v to plain JSON types, redacting secrets: values of
// secret keys, and passwords inside URLs anywhere.
func publicValue(k Key, v any) any {
	switch x := v.(type) {
	case time.Duration:
		return FormatDuration(x)
	case ByteSize:
		return x.String()
	case string:
		if k.Secret && x != "" {
			return Redacted
		}
		return RedactURL(x)
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = RedactURL(s)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(x))
		for name, s := range x {
			if k.Secret {
				s = Redacted
			}
			out[name] = s
		}
		return out
	case []Task:
		out := make([]map[string]any, len(x))
		for i, t := range x {
			m := map[string]any{"name": t.Name}
			if t.Builtin != "" {
				m["builtin"] = t.Builtin
			}
			if len(t.Command) > 0 {
				m["command"] = t.Command
			}
			if t.Timeout != 0 {
				m["timeout"] = FormatDuration(t.Timeout)
			}
			if t.Retries != 0 {
				m["retries"] = t.Retries
			}
			if t.RetryBackoff != 0 {
				m["retry_backoff"] = FormatDuration(t.RetryBackoff)
			}
			out[i] = m
		}
		return out
	}
	return v
}

// RedactURL hides the password of a URL with user info; other strings
// pass. A URL that does not parse is masked by hand: everything between the
// first ':' of its user info and its last '@'.
func RedactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !strings.Contains(rest, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		at := strings.LastIndex(rest, "@")
		user, _, hasPassword := strings.Cut(rest[:at], ":")
		if !hasPassword {
			return s
		}
		return scheme + "://" + user + ":" + Redacted + rest[at:]
	}
	if u.User == nil {
		return s
	}
	if _, has := u.User.Password(); !has {
		return s
	}
	u.User = url.UserPassword(u.User.Username(), Redacted)
	return strings.Replace(u.String(), url.QueryEscape(Redacted), Redacted, 1)
}

// display renders a value on one line for text output and error messages.
func display(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []string:
		return strings.Join(x, ",")
	case map[string]string:
		names := make([]string, 0, len(x))
		for n := range x {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = n + "=" + x[n]
		}
		return strings.Join(parts, ",")
	case fmt.Stringer:
		return x.String()
	case []map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// Display renders an entry's value on one line, as `config show` prints it.
func (e Entry) Display() string { return display(e.Value) }

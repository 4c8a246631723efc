package celery

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// reprMax bounds argsrepr/kwargsrepr like Celery's saferepr (1024 chars).
const reprMax = 1024

// argsRepr renders args as Python's repr of a tuple, for Celery's logs.
func argsRepr(args []any) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		pyRepr(&b, a)
		if b.Len() > reprMax {
			break
		}
	}
	if len(args) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return truncRepr(b.String())
}

// kwargsRepr renders kwargs as Python's repr of a dict.
func kwargsRepr(kw map[string]any) string {
	var b strings.Builder
	pyRepr(&b, kw)
	return truncRepr(b.String())
}

func truncRepr(s string) string {
	if len(s) > reprMax {
		return s[:reprMax] + "..."
	}
	return s
}

func pyRepr(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case string:
		b.WriteByte('\'')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(x))
		b.WriteByte('\'')
	case json.Number:
		b.WriteString(x.String())
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			pyRepr(b, e)
			if b.Len() > reprMax {
				break
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			pyRepr(b, k)
			b.WriteString(": ")
			pyRepr(b, x[k])
			if b.Len() > reprMax {
				break
			}
		}
		b.WriteByte('}')
	default:
		j, err := json.Marshal(x)
		if err != nil {
			b.WriteString("<?>")
			return
		}
		b.Write(j)
	}
}

// ArgsRepr is Python's repr of args as a tuple, bounded as Celery's
// argsrepr (events carry it).
func ArgsRepr(args []any) string { return argsRepr(args) }

// KwargsRepr is Python's repr of kwargs as a dict, bounded.
func KwargsRepr(kw map[string]any) string { return kwargsRepr(kw) }

// Repr is Python's repr of one JSON value, bounded (a task-succeeded
// event's result, an exception's arguments).
func Repr(v any) string {
	var b strings.Builder
	pyRepr(&b, v)
	return truncRepr(b.String())
}

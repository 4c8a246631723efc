package celery

import (
	"bytes"
	"encoding/json"
)

// The fast paths below decode, without reflection, the message shapes that
// make up nearly all traffic: a protocol v2 body whose args are a flat array
// of scalars, with empty kwargs and an empty embed, and a result whose value
// is a scalar. They accept only input the general decoder would decode to
// the same values; anything else (escapes, non-ASCII strings, nesting,
// non-empty kwargs or embed, malformed JSON) reports false and the general
// path decides, errors included.

// jsonScanner walks a byte slice.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// lit consumes lit after optional whitespace.
func (s *jsonScanner) lit(lit string) bool {
	s.ws()
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

func (s *jsonScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// end reports whether only whitespace is left.
func (s *jsonScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// str reads a string of printable ASCII without escapes.
func (s *jsonScanner) str() (string, bool) {
	if s.peek() != '"' {
		return "", false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		if c == '"' {
			s.i = j + 1
			return string(s.b[start:j]), true
		}
		if c < 0x20 || c == '\\' || c >= 0x80 {
			return "", false
		}
	}
	return "", false
}

// number reads a JSON number literal.
func (s *jsonScanner) number() (json.Number, bool) {
	s.ws()
	b, j := s.b, s.i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	default:
		return "", false
	}
	if j < len(b) && b[j] == '.' {
		j++
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return "", false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return "", false
		}
	}
	n := json.Number(b[s.i:j])
	s.i = j
	return n, true
}

// scalar reads a string, number, true, false or null.
func (s *jsonScanner) scalar() (any, bool) {
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return true, s.lit("true")
	case c == 'f':
		return false, s.lit("false")
	case c == 'n':
		return nil, s.lit("null")
	}
	return nil, false
}

// scalarArray reads null or an array of scalars.
func (s *jsonScanner) scalarArray() ([]any, bool) {
	if s.lit("null") {
		return nil, true
	}
	if !s.lit("[") {
		return nil, false
	}
	out := make([]any, 0, 4)
	if s.lit("]") {
		return out, true
	}
	for {
		v, ok := s.scalar()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if s.lit("]") {
			return out, true
		}
		if !s.lit(",") {
			return nil, false
		}
	}
}

// decodeV2BodyFast decodes [args, kwargs, embed] when args are scalars,
// kwargs are {} or null and embed is Celery's empty embed or null.
func decodeV2BodyFast(body []byte, t *Task) bool {
	s := jsonScanner{b: body}
	if !s.lit("[") {
		return false
	}
	args, ok := s.scalarArray()
	if !ok || !s.lit(",") {
		return false
	}
	var kwargs map[string]any
	switch {
	case s.lit("null"):
	case s.lit("{"):
		if !s.lit("}") {
			return false
		}
		kwargs = map[string]any{}
	default:
		return false
	}
	if !s.lit(",") {
		return false
	}
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], emptyEmbed) {
		s.i += len(emptyEmbed)
	} else if !s.lit("null") {
		return false
	}
	if !s.lit("]") || !s.end() {
		return false
	}
	t.Args, t.Kwargs = args, kwargs
	return true
}

// decodeResultFast decodes a result object whose fields are task_id,
// status, result, traceback and children, with a scalar result, a null
// traceback and empty children, in any order.
func decodeResultFast(body []byte) (*Result, bool) {
	s := jsonScanner{b: body}
	if !s.lit("{") {
		return nil, false
	}
	r := &Result{}
	var seen uint8
	for {
		key, ok := s.str()
		if !ok || !s.lit(":") {
			return nil, false
		}
		var bit uint8
		switch key {
		case "task_id":
			bit = 1
			if r.TaskID, ok = s.str(); !ok {
				return nil, false
			}
		case "status":
			bit = 2
			st, ok := s.str()
			if !ok {
				return nil, false
			}
			r.State = State(st)
		case "result":
			bit = 4
			s.ws()
			start := s.i
			if r.Value, ok = s.scalar(); !ok {
				return nil, false
			}
			r.Raw = json.RawMessage(s.b[start:s.i])
		case "traceback":
			bit = 8
			if !s.lit("null") {
				return nil, false
			}
		case "children":
			bit = 16
			if !s.lit("[") || !s.lit("]") {
				return nil, false
			}
		case "date_done", "group_id", "parent_id":
			// Celery's Redis backend adds these (a string or null).
			bit = map[string]uint8{"date_done": 32, "group_id": 64, "parent_id": 128}[key]
			if !s.lit("null") {
				if _, ok := s.str(); !ok {
					return nil, false
				}
			}
		default:
			return nil, false
		}
		if seen&bit != 0 {
			return nil, false // a duplicate key: let the general path decide
		}
		seen |= bit
		if s.lit("}") {
			break
		}
		if !s.lit(",") {
			return nil, false
		}
	}
	if !s.end() || seen&7 != 7 || r.TaskID == "" {
		return nil, false
	}
	switch r.State {
	case StateSuccess, StateStarted:
	default:
		return nil, false // exceptions take the general path
	}
	return r, true
}

package redis

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeEnvelopeFast reads an envelope in one pass without reflection: it
// is every delivery's first step, and encoding/json (the whole document
// checked, then the headers decoded again) was a quarter of a worker's CPU.
// ok is false for anything it does not handle exactly; decodeEnvelope then
// takes the slow path, which is the reference (FuzzEnvelopeFastMatchesSlow).
func decodeEnvelopeFast(raw []byte) (d *decoded, ok bool) {
	s := &scanner{b: raw}
	d = &decoded{}
	var body string
	var bodyEncoding string
	haveEncoding := false
	ok = s.object(func(key string) bool {
		switch key {
		case "body":
			v, ok := s.str()
			body = v
			return ok
		case "content-encoding":
			return s.strInto(&d.msg.ContentEncoding)
		case "content-type":
			return s.strInto(&d.msg.ContentType)
		case "headers":
			if s.null() {
				return true
			}
			h := map[string]any{}
			if !s.object(func(k string) bool {
				v, ok := s.value(0)
				h[k] = v
				return ok
			}) {
				return false
			}
			if r, isBool := h["redelivered"].(bool); isBool {
				d.redelivered = d.redelivered || r
				delete(h, "redelivered")
			}
			d.msg.Headers = h
			return true
		case "properties":
			return s.object(func(k string) bool {
				switch k {
				case "correlation_id":
					return s.strInto(&d.msg.CorrelationID)
				case "reply_to":
					return s.strInto(&d.msg.ReplyTo)
				case "delivery_mode":
					n, ok := s.intOrNull()
					d.msg.Persistent = n == 2
					return ok
				case "priority":
					n, ok := s.intOrNull()
					d.msg.Priority = uint8(min(max(n, 0), 255))
					return ok
				case "body_encoding":
					v, ok := s.strOrNull()
					bodyEncoding, haveEncoding = v, true
					return ok
				case "delivery_tag":
					return s.strInto(&d.tag)
				case "expiration":
					if s.peek() == '"' {
						v, ok := s.str()
						d.msg.Expiration = v
						return ok
					}
					return false // numbers and nulls: the slow path
				case propStarted:
					n, ok := s.intOrNull()
					d.started = int(max(n, 0))
					return ok
				case "delivery_info":
					return s.object(func(k string) bool {
						switch k {
						case "exchange":
							return s.strInto(&d.exchange)
						case "routing_key":
							return s.strInto(&d.routingKey)
						case "redelivered":
							b, ok := s.boolean()
							d.redelivered = d.redelivered || b
							return ok
						}
						if foldsTo(k, "exchange", "routing_key", "redelivered") {
							return false
						}
						_, ok := s.value(0)
						return ok
					})
				}
				if foldsTo(k, "correlation_id", "reply_to", "delivery_mode", "priority", "body_encoding", "delivery_tag",
					"expiration", propStarted, "delivery_info") {
					return false
				}
				_, ok := s.value(0)
				return ok
			})
		}
		if foldsTo(key, "body", "content-encoding", "content-type", "headers", "properties") {
			return false
		}
		_, ok := s.value(0)
		return ok
	})
	if !ok || !s.end() {
		return nil, false
	}
	switch {
	case !haveEncoding || bodyEncoding == "":
		d.msg.Body = []byte(body)
	case bodyEncoding == "base64":
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return nil, false
		}
		d.msg.Body = b
	default:
		return nil, false
	}
	return d, true
}

// foldsTo reports whether key matches one of names but for case, which
// encoding/json would take for that field (the fast path then gives up).
func foldsTo(key string, names ...string) bool {
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}

// scanner reads the JSON kombu writes; every method reports false on what
// it does not accept, and the caller falls back to encoding/json.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) end() bool { s.ws(); return s.i == len(s.b) }

func (s *scanner) lit(l string) bool {
	s.ws()
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}

func (s *scanner) null() bool { return s.lit("null") }

func (s *scanner) boolean() (bool, bool) {
	if s.lit("true") {
		return true, true
	}
	if s.lit("false") {
		return false, true
	}
	return false, false
}

// object reads {"key": value, ...}, calling field for each key with the
// scanner at its value.
func (s *scanner) object(field func(key string) bool) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		key, ok := s.str()
		if !ok || s.peek() != ':' {
			return false
		}
		s.i++
		if !field(key) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// strInto reads a string or null into dst.
func (s *scanner) strInto(dst *string) bool {
	v, ok := s.strOrNull()
	*dst = v
	return ok
}

func (s *scanner) strOrNull() (string, bool) {
	if s.null() {
		return "", true
	}
	return s.str()
}

// str reads a string, with JSON's escapes; invalid UTF-8 is refused.
func (s *scanner) str() (string, bool) {
	if s.peek() != '"' {
		return "", false
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !utf8.Valid(v) {
				return "", false
			}
			return string(v), true
		case c == '\\':
			return s.escaped(start)
		case c < 0x20:
			return "", false
		}
		s.i++
	}
	return "", false
}

// escaped finishes a string that has escapes, from start.
func (s *scanner) escaped(start int) (string, bool) {
	out := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return "", false
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					s.i += 2
					if r2, ok = s.hex4(); !ok {
						return "", false
					}
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", false // a lone surrogate: let encoding/json decide
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (s *scanner) hex4() (rune, bool) {
	if len(s.b)-s.i < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(v), true
}

// number reads a JSON number as the headers type them: int32 when it fits,
// else int64, float64 when it has a fraction or an exponent.
func (s *scanner) number() (any, bool) {
	s.ws()
	start := s.i
	frac := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' {
			s.i++
			continue
		}
		if c == '.' || c == 'e' || c == 'E' {
			frac = true
			s.i++
			continue
		}
		break
	}
	t := string(s.b[start:s.i])
	if t == "" || !validNumber(t) {
		return nil, false
	}
	if !frac {
		if i, err := strconv.ParseInt(t, 10, 64); err == nil {
			if i >= math.MinInt32 && i <= math.MaxInt32 {
				return int32(i), true
			}
			return i, true
		}
		return nil, false // beyond int64: the slow path
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return nil, false
	}
	return f, true
}

// validNumber checks JSON's number grammar: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?
func validNumber(t string) bool {
	i := 0
	if i < len(t) && t[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(t) && t[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(t) && t[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(t)
}

func (s *scanner) intOrNull() (int64, bool) {
	if s.null() {
		return 0, true
	}
	v, ok := s.number()
	switch n := v.(type) {
	case int32:
		return int64(n), ok
	case int64:
		return n, ok
	}
	return 0, false
}

// maxDepth bounds the nesting of header values.
const maxDepth = 64

// value reads any JSON value, typed as decodeHeaders types it.
func (s *scanner) value(depth int) (any, bool) {
	if depth > maxDepth {
		return nil, false
	}
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case c == '{':
		m := map[string]any{}
		ok := s.object(func(k string) bool {
			v, ok := s.value(depth + 1)
			m[k] = v
			return ok
		})
		return m, ok
	case c == '[':
		s.i++
		list := []any{}
		if s.peek() == ']' {
			s.i++
			return list, true
		}
		for {
			v, ok := s.value(depth + 1)
			if !ok {
				return nil, false
			}
			list = append(list, v)
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return list, true
			default:
				return nil, false
			}
		}
	case c == 't', c == 'f':
		return s.boolean()
	case c == 'n':
		return nil, s.null()
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return nil, false
}

package celery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
)

// ContentType and ContentEncoding are those of every Celery JSON message.
const (
	ContentType     = "application/json"
	ContentEncoding = "utf-8"
)

// the 16 headers of protocol v2; anything else is a user header.
var v2Headers = map[string]bool{
	"lang": true, "task": true, "id": true, "shadow": true, "eta": true, "expires": true,
	"group": true, "group_index": true, "retries": true, "timelimit": true, "root_id": true,
	"parent_id": true, "argsrepr": true, "kwargsrepr": true, "origin": true, "ignore_result": true,
}

// isoLayout is Python's datetime.isoformat() for an aware UTC time.
const isoLayout = "2006-01-02T15:04:05.000000-07:00"

var emptyEmbed = []byte(`{"callbacks": null, "errbacks": null, "chain": null, "chord": null}`)

// EncodeTask builds the protocol v2 message Celery's apply_async sends for t.
// t.ID must be set. Args and kwargs must be JSON-encodable.
func EncodeTask(t *Task) (*broker.Message, error) {
	if t.ID == "" {
		return nil, fmt.Errorf("queue: encode task %q: empty id", t.Name)
	}
	if t.Name == "" {
		return nil, fmt.Errorf("queue: encode task %s: empty name", t.ID)
	}
	body, err := encodeBody(t)
	if err != nil {
		return nil, fmt.Errorf("queue: encode task %s (%s): %w", t.ID, t.Name, err)
	}
	rootID := t.RootID
	if rootID == "" {
		rootID = t.ID
	}
	lang := t.Lang
	if lang == "" {
		lang = "go"
	}
	h := make(map[string]any, 16+len(t.Headers))
	for k, v := range t.Headers {
		if !v2Headers[k] {
			h[k] = v
		}
	}
	h["lang"] = lang
	h["task"] = t.Name
	h["id"] = t.ID
	h["shadow"] = nilIfEmpty(t.Shadow)
	h["eta"] = isoOrNil(t.ETA)
	h["expires"] = isoOrNil(t.Expires)
	h["group"] = nilIfEmpty(t.Group)
	if t.GroupIndex != nil {
		h["group_index"] = int32(*t.GroupIndex)
	} else {
		h["group_index"] = nil
	}
	h["retries"] = int32(t.Retries)
	h["timelimit"] = []any{secondsOrNil(t.TimeLimit), secondsOrNil(t.SoftTimeLimit)}
	h["root_id"] = rootID
	h["parent_id"] = nilIfEmpty(t.ParentID)
	h["argsrepr"] = argsRepr(t.Args)
	h["kwargsrepr"] = kwargsRepr(t.Kwargs)
	h["origin"] = t.Origin
	h["ignore_result"] = t.IgnoreResult
	m := &broker.Message{
		ContentType:     ContentType,
		ContentEncoding: ContentEncoding,
		CorrelationID:   t.ID,
		ReplyTo:         t.ReplyTo,
		Persistent:      true,
		Priority:        t.Priority,
		Headers:         h,
		Body:            body,
	}
	if !t.Expires.IsZero() {
		ms := time.Until(t.Expires).Milliseconds()
		if ms < 0 {
			ms = 0
		}
		m.Expiration = strconv.FormatInt(ms, 10)
	}
	return m, nil
}

type embedJSON struct {
	Callbacks []Signature     `json:"callbacks"`
	Errbacks  []Signature     `json:"errbacks"`
	Chain     []Signature     `json:"chain"`
	Chord     json.RawMessage `json:"chord"`
}

func encodeBody(t *Task) ([]byte, error) {
	b := make([]byte, 0, 96)
	b = append(b, '[')
	var err error
	if len(t.Args) == 0 {
		b = append(b, "[]"...)
	} else if b, err = AppendJSON(b, t.Args); err != nil {
		return nil, fmt.Errorf("args: %w", err)
	}
	b = append(b, ", "...)
	if len(t.Kwargs) == 0 {
		b = append(b, "{}"...)
	} else if b, err = AppendJSON(b, t.Kwargs); err != nil {
		return nil, fmt.Errorf("kwargs: %w", err)
	}
	b = append(b, ", "...)
	if len(t.Callbacks) == 0 && len(t.Errbacks) == 0 && len(t.Chain) == 0 && len(t.Chord) == 0 {
		b = append(b, emptyEmbed...)
	} else {
		b = append(b, `{"callbacks": `...)
		if b, err = appendSignatures(b, t.Callbacks); err != nil {
			return nil, fmt.Errorf("callbacks: %w", err)
		}
		b = append(b, `, "errbacks": `...)
		if b, err = appendSignatures(b, t.Errbacks); err != nil {
			return nil, fmt.Errorf("errbacks: %w", err)
		}
		b = append(b, `, "chain": `...)
		if b, err = appendSignatures(b, t.Chain); err != nil {
			return nil, fmt.Errorf("chain: %w", err)
		}
		b = append(b, `, "chord": `...)
		b, _ = AppendJSON(b, t.Chord)
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendSignatures writes signatures as Celery's dicts (null when none).
func appendSignatures(b []byte, sigs []Signature) ([]byte, error) {
	if sigs == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i := range sigs {
		s := &sigs[i]
		if i > 0 {
			b = append(b, ", "...)
		}
		m := map[string]any{"task": s.Task, "args": s.Args, "kwargs": s.Kwargs, "options": s.Options,
			"subtask_type": nil, "immutable": s.Immutable}
		if s.Args == nil {
			m["args"] = []any{}
		}
		if s.Kwargs == nil {
			m["kwargs"] = map[string]any{}
		}
		if s.Options == nil {
			m["options"] = map[string]any{}
		}
		if s.SubtaskType != nil {
			m["subtask_type"] = *s.SubtaskType
		}
		var err error
		if b, err = AppendJSON(b, m); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func isoOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(isoLayout)
}

func secondsOrNil(d time.Duration) any {
	if d <= 0 {
		return nil
	}
	if d%time.Second == 0 {
		return int32(d / time.Second)
	}
	return d.Seconds()
}

// DecodeTask reads a Celery task message: protocol v2 (the "task" header is
// present) or v1 (no such header, a JSON object body with "task"). Anything
// else, and any field of the wrong type, is an error wrapping ErrBadMessage
// that names the task id when the message has one.
func DecodeTask(m *broker.Message) (*Task, error) {
	id := m.CorrelationID
	if hid, ok := m.Headers["id"].(string); ok && hid != "" {
		id = hid
	}
	if err := checkContentType(m, id); err != nil {
		return nil, err
	}
	if _, ok := m.Headers["task"]; ok {
		return decodeV2(m, id)
	}
	return decodeV1(m, id)
}

// serializers names the content types of kombu's other serializers.
var serializers = map[string]string{
	"application/x-python-serialize": "pickle",
	"application/x-msgpack":          "msgpack",
	"application/x-yaml":             "yaml",
	"application/data":               "raw bytes",
	"text/plain":                     "raw text",
}

func checkContentType(m *broker.Message, id string) error {
	ct := m.ContentType
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	if ct != ContentType {
		if ct == "" {
			return disallowed(id, "missing content type (only application/json is accepted)")
		}
		if name, ok := serializers[ct]; ok {
			return disallowed(id, "content type %q (%s) is not accepted (only application/json)", m.ContentType, name)
		}
		return disallowed(id, "content type %q is not accepted (only application/json)", m.ContentType)
	}
	switch strings.ToLower(m.ContentEncoding) {
	case "", "utf-8", "utf8":
	default:
		return disallowed(id, "content encoding %q is not accepted (only utf-8)", m.ContentEncoding)
	}
	return nil
}

func decodeV2(m *broker.Message, id string) (*Task, error) {
	h := m.Headers
	t := &Task{Protocol: 2, ReplyTo: m.ReplyTo, Priority: m.Priority}
	var err error
	if t.Name, err = headerString(h, "task", id, true); err != nil {
		return nil, err
	}
	if t.Name == "" {
		return nil, badMessage(id, "empty task name")
	}
	if t.ID, err = headerString(h, "id", id, true); err != nil {
		return nil, err
	}
	if t.ID == "" {
		return nil, badMessage(id, "empty task id")
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"lang", &t.Lang}, {"shadow", &t.Shadow}, {"group", &t.Group}, {"root_id", &t.RootID},
		{"parent_id", &t.ParentID}, {"origin", &t.Origin}} {
		if *f.dst, err = headerString(h, f.key, id, false); err != nil {
			return nil, err
		}
	}
	if t.ETA, err = headerTime(h["eta"], "eta", id); err != nil {
		return nil, err
	}
	if t.Expires, err = headerTime(h["expires"], "expires", id); err != nil {
		return nil, err
	}
	if v, ok := h["retries"]; ok && v != nil {
		n, ok := AsInt(v)
		if !ok || n < 0 {
			return nil, badMessage(id, "header retries: want a non-negative integer, got %T %v", v, v)
		}
		t.Retries = int(n)
	}
	if v, ok := h["group_index"]; ok && v != nil {
		n, ok := AsInt(v)
		if !ok {
			return nil, badMessage(id, "header group_index: want an integer, got %T", v)
		}
		gi := int(n)
		t.GroupIndex = &gi
	}
	if t.TimeLimit, t.SoftTimeLimit, err = decodeTimeLimit(h["timelimit"], id); err != nil {
		return nil, err
	}
	if v, ok := h["ignore_result"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return nil, badMessage(id, "header ignore_result: want a bool, got %T", v)
		}
		t.IgnoreResult = b
	}
	for k, v := range h {
		if !v2Headers[k] {
			if t.Headers == nil {
				t.Headers = make(map[string]any, 2)
			}
			t.Headers[k] = v
		}
	}
	if err := decodeV2Body(m.Body, t); err != nil {
		return nil, err
	}
	return t, nil
}

func decodeV2Body(body []byte, t *Task) error {
	if decodeV2BodyFast(body, t) {
		return nil
	}
	return decodeV2BodySlow(body, t)
}

func decodeV2BodySlow(body []byte, t *Task) error {
	var parts []json.RawMessage
	if err := DecodeJSON(body, &parts); err != nil {
		return badMessage(t.ID, "body is not a JSON array [args, kwargs, embed]: %v", jsonErr(err))
	}
	if len(parts) != 3 {
		return badMessage(t.ID, "body has %d elements, want 3 ([args, kwargs, embed])", len(parts))
	}
	if err := decodeArgs(parts[0], parts[1], t); err != nil {
		return err
	}
	if bytes.Equal(parts[2], emptyEmbed) || isNull(parts[2]) {
		return nil
	}
	var e embedJSON
	if err := DecodeJSON(parts[2], &e); err != nil {
		return badMessage(t.ID, "embed: %v", jsonErr(err))
	}
	t.Callbacks, t.Errbacks, t.Chain = e.Callbacks, e.Errbacks, e.Chain
	if !isNull(e.Chord) {
		t.Chord = e.Chord
	}
	for _, list := range [][]Signature{t.Callbacks, t.Errbacks, t.Chain} {
		for i := range list {
			if list[i].Task == "" {
				return badMessage(t.ID, "embed: signature without a task name")
			}
		}
	}
	return nil
}

func decodeArgs(args, kwargs json.RawMessage, t *Task) error {
	if !isNull(args) {
		if err := DecodeJSON(args, &t.Args); err != nil {
			return badMessage(t.ID, "args: want a JSON array: %v", jsonErr(err))
		}
	}
	if !isNull(kwargs) {
		if err := DecodeJSON(kwargs, &t.Kwargs); err != nil {
			return badMessage(t.ID, "kwargs: want a JSON object: %v", jsonErr(err))
		}
	}
	return nil
}

// v1Body is protocol v1's task message.
type v1Body struct {
	Task      string          `json:"task"`
	ID        string          `json:"id"`
	Args      json.RawMessage `json:"args"`
	Kwargs    json.RawMessage `json:"kwargs"`
	Retries   *json.Number    `json:"retries"`
	ETA       any             `json:"eta"`
	Expires   any             `json:"expires"`
	UTC       *bool           `json:"utc"`
	Callbacks []Signature     `json:"callbacks"`
	Errbacks  []Signature     `json:"errbacks"`
	TimeLimit any             `json:"timelimit"`
	Taskset   *string         `json:"taskset"`
	Chord     json.RawMessage `json:"chord"`
}

func decodeV1(m *broker.Message, id string) (*Task, error) {
	body := bytes.TrimSpace(m.Body)
	if len(body) == 0 || body[0] != '{' {
		if len(m.Headers) == 0 {
			return nil, badMessage(id, "no task header and the body is not a protocol v1 object")
		}
		return nil, badMessage(id, "missing task header")
	}
	var b v1Body
	if err := DecodeJSON(body, &b); err != nil {
		return nil, badMessage(id, "protocol v1 body: %v", jsonErr(err))
	}
	if b.ID != "" {
		id = b.ID
	}
	if b.Task == "" {
		return nil, badMessage(id, "protocol v1 body without a task name")
	}
	if b.ID == "" {
		return nil, badMessage(id, "protocol v1 body without an id")
	}
	t := &Task{Protocol: 1, Name: b.Task, ID: b.ID, ReplyTo: m.ReplyTo, Priority: m.Priority,
		Callbacks: b.Callbacks, Errbacks: b.Errbacks, RootID: b.ID, Lang: "py"}
	if b.Taskset != nil {
		t.Group = *b.Taskset
	}
	if !isNull(b.Chord) {
		t.Chord = b.Chord
	}
	if b.Retries != nil {
		n, err := b.Retries.Int64()
		if err != nil || n < 0 {
			return nil, badMessage(id, "retries: want a non-negative integer, got %s", b.Retries)
		}
		t.Retries = int(n)
	}
	local := b.UTC != nil && !*b.UTC
	var err error
	if t.ETA, err = bodyTime(b.ETA, "eta", id, local); err != nil {
		return nil, err
	}
	if t.Expires, err = bodyTime(b.Expires, "expires", id, local); err != nil {
		return nil, err
	}
	if t.TimeLimit, t.SoftTimeLimit, err = decodeTimeLimit(b.TimeLimit, id); err != nil {
		return nil, err
	}
	if err := decodeArgs(b.Args, b.Kwargs, t); err != nil {
		return nil, err
	}
	return t, nil
}

func headerString(h map[string]any, key, id string, required bool) (string, error) {
	v, ok := h[key]
	if !ok || v == nil {
		if required {
			return "", badMessage(id, "missing header %s", key)
		}
		return "", nil
	}
	switch s := v.(type) {
	case string:
		return s, nil
	case []byte:
		return string(s), nil
	}
	return "", badMessage(id, "header %s: want a string, got %T", key, v)
}

// headerTime reads an ISO-8601 string, a kombu {"__type__", "__value__"}
// object, or an AMQP timestamp.
func headerTime(v any, key, id string) (time.Time, error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, nil
	case string:
		t, err := parseISO(x, false)
		if err != nil {
			return time.Time{}, badMessage(id, "%s: %v", key, err)
		}
		return t, nil
	case time.Time:
		return x, nil
	case map[string]any:
		if s, ok := x["__value__"].(string); ok {
			return headerTime(s, key, id)
		}
	}
	return time.Time{}, badMessage(id, "%s: want an ISO-8601 time, got %T", key, v)
}

func bodyTime(v any, key, id string, local bool) (time.Time, error) {
	if s, ok := v.(string); ok {
		t, err := parseISO(s, local)
		if err != nil {
			return time.Time{}, badMessage(id, "%s: %v", key, err)
		}
		return t, nil
	}
	return headerTime(v, key, id)
}

var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// parseISO parses Python's isoformat(); naive times are UTC (or local time
// for protocol v1 messages with utc=false).
func parseISO(s string, local bool) (time.Time, error) {
	loc := time.UTC
	if local {
		loc = time.Local
	}
	for _, layout := range isoLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad ISO-8601 time %q", s)
}

// decodeTimeLimit reads [hard, soft], each seconds or null.
func decodeTimeLimit(v any, id string) (hard, soft time.Duration, err error) {
	if v == nil {
		return 0, 0, nil
	}
	list, ok := v.([]any)
	if !ok || len(list) != 2 {
		return 0, 0, badMessage(id, "timelimit: want [hard, soft], got %v", v)
	}
	var d [2]time.Duration
	for i, x := range list {
		if x == nil {
			continue
		}
		f, ok := AsFloat(x)
		if !ok || f < 0 || math.IsNaN(f) || f > 1e9 {
			return 0, 0, badMessage(id, "timelimit: want seconds or null, got %v", x)
		}
		d[i] = time.Duration(f * float64(time.Second))
	}
	return d[0], d[1], nil
}

// AsInt reads any integer-valued number type leniently: header values
// arrive as int32 from AMQP, json.Number from JSON.
func AsInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case float32:
		if float32(int64(x)) == x {
			return int64(x), true
		}
	case float64:
		if float64(int64(x)) == x {
			return int64(x), true
		}
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}

// AsFloat reads any number type.
func AsFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	if n, ok := AsInt(v); ok {
		return float64(n), true
	}
	return 0, false
}

// DecodeJSON decodes one JSON value into v with numbers as json.Number, as
// Celery's integers must stay integers; trailing data is an error. It reads
// Python's NaN, Infinity and -Infinity as float64 values (see
// quoteNonFinite), as Celery does.
func DecodeJSON(data []byte, v any) error {
	err := decodeJSON(data, v)
	var se *json.SyntaxError
	if err == nil || !errors.As(err, &se) {
		return err
	}
	quoted, ok := quoteNonFinite(data)
	if !ok {
		return err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return err
	}
	rv.Elem().SetZero()
	if decodeJSON(quoted, v) != nil || unquoteNonFinite(rv) != nil {
		rv.Elem().SetZero()
		return err
	}
	return nil
}

func decodeJSON(data []byte, v any) error {
	if p, ok := v.(*any); ok && bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte{'"'}) {
		// A string (a command's output, up to 16 MiB) needs no numbers:
		// json.Unmarshal decodes it in place, where a Decoder would first
		// copy all of data into its buffer.
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*p = s
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if len(bytes.Trim(data[d.InputOffset():], " \t\r\n")) > 0 {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

func isNull(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// jsonErr shortens encoding/json's messages for one-line logs.
func jsonErr(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

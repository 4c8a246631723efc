package redis

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// A message travels through Redis as kombu's virtual transport carries it:
// one JSON document per list element,
//
//	{"body": "<base64>", "content-encoding": "utf-8", "content-type": "application/json",
//	 "headers": {...},
//	 "properties": {"correlation_id": ..., "reply_to": ..., "delivery_mode": 2,
//	                "delivery_info": {"exchange": "", "routing_key": "celery"},
//	                "priority": 0, "body_encoding": "base64", "delivery_tag": "<uuid>"}}
//
// (kombu 5.2, kombu/transport/virtual/base.py: prepare_message and
// _inplace_augment_message). Celery publishes tasks to the anonymous
// exchange "" with the queue's name as routing key. dsys adds one property of
// its own, the started count, which kombu carries along untouched.

// propStarted counts the deliveries of a message that were started and not
// settled (Delivery.Started), kept in the envelope's properties.
const propStarted = "x-dsys-started"

// envelope is the JSON form of one message as read.
type envelope struct {
	Body            string          `json:"body"`
	ContentEncoding string          `json:"content-encoding"`
	ContentType     string          `json:"content-type"`
	Headers         json.RawMessage `json:"headers"`
	Properties      struct {
		CorrelationID string `json:"correlation_id"`
		ReplyTo       string `json:"reply_to"`
		DeliveryMode  any    `json:"delivery_mode"`
		DeliveryInfo  struct {
			Exchange    string `json:"exchange"`
			RoutingKey  string `json:"routing_key"`
			Redelivered bool   `json:"redelivered"`
		} `json:"delivery_info"`
		Priority     any    `json:"priority"`
		BodyEncoding string `json:"body_encoding"`
		DeliveryTag  string `json:"delivery_tag"`
		Expiration   any    `json:"expiration"`
		Started      any    `json:"x-dsys-started"`
	} `json:"properties"`
}

// decoded is a message read from Redis, with what the transport needs of
// its envelope.
type decoded struct {
	msg         broker.Message
	tag         string // properties.delivery_tag
	exchange    string // delivery_info.exchange
	routingKey  string // delivery_info.routing_key
	started     int
	redelivered bool
}

// errEnvelope marks a list element that is not a kombu message.
var errEnvelope = errors.New("not a kombu message")

// decodeEnvelope reads one list element: in one pass when it can
// (decodeEnvelopeFast), else with encoding/json.
func decodeEnvelope(raw []byte) (*decoded, error) {
	if d, ok := decodeEnvelopeFast(raw); ok {
		return d, nil
	}
	return decodeEnvelopeSlow(raw)
}

// decodeEnvelopeSlow is the reference decoder.
func decodeEnvelopeSlow(raw []byte) (*decoded, error) {
	var e envelope
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", errEnvelope, err)
	}
	p := &e.Properties
	d := &decoded{tag: p.DeliveryTag, exchange: p.DeliveryInfo.Exchange, routingKey: p.DeliveryInfo.RoutingKey,
		redelivered: p.DeliveryInfo.Redelivered}
	m := &d.msg
	m.ContentType, m.ContentEncoding = e.ContentType, e.ContentEncoding
	m.CorrelationID, m.ReplyTo = p.CorrelationID, p.ReplyTo
	if mode, ok := celery.AsInt(p.DeliveryMode); ok {
		m.Persistent = mode == 2
	}
	if pri, ok := celery.AsInt(p.Priority); ok {
		m.Priority = uint8(min(max(pri, 0), 255))
	}
	switch x := p.Expiration.(type) {
	case string:
		m.Expiration = x
	case float64:
		m.Expiration = strconv.FormatInt(int64(x), 10)
	}
	if n, ok := celery.AsInt(p.Started); ok && n > 0 {
		d.started = int(n)
	}
	switch p.BodyEncoding {
	case "base64":
		body, err := base64.StdEncoding.DecodeString(e.Body)
		if err != nil {
			if body, err = base64.RawStdEncoding.DecodeString(e.Body); err != nil {
				return nil, fmt.Errorf("%w: body: %v", errEnvelope, err)
			}
		}
		m.Body = body
	case "":
		m.Body = []byte(e.Body)
	default:
		return nil, fmt.Errorf("%w: body_encoding %q", errEnvelope, p.BodyEncoding)
	}
	if len(e.Headers) > 0 && !bytes.Equal(e.Headers, []byte("null")) {
		h, err := decodeHeaders(e.Headers)
		if err != nil {
			return nil, fmt.Errorf("%w: headers: %v", errEnvelope, err)
		}
		// kombu marks a restored message in its headers too; dsys keeps
		// that in Delivery.Redelivered.
		if r, ok := h["redelivered"].(bool); ok {
			d.redelivered = d.redelivered || r
			delete(h, "redelivered")
		}
		m.Headers = h
	}
	return d, nil
}

// decodeHeaders reads the headers object with numbers typed as they come
// through AMQP field tables (int32 when they fit, else int64; float64 for
// fractions), so the engine sees the same types on every transport.
func decodeHeaders(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var h map[string]any
	if err := dec.Decode(&h); err != nil {
		return nil, err
	}
	for k, v := range h {
		h[k] = typedNumbers(v)
	}
	return h, nil
}

func typedNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !bytes.ContainsAny([]byte(s), ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				if i >= math.MinInt32 && i <= math.MaxInt32 {
					return int32(i)
				}
				return i
			}
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x
	case []any:
		for i := range x {
			x[i] = typedNumbers(x[i])
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = typedNumbers(e)
		}
		return x
	}
	return v
}

// encodeEnvelope writes m as kombu writes a message published to an
// exchange ("" for the anonymous one, which routes to the queue named by
// the routing key) with a routing key and a new delivery tag.
func encodeEnvelope(m *broker.Message, exchange, routingKey, tag string, started int) ([]byte, error) {
	b := make([]byte, 0, 320+len(m.Body)*4/3+64*len(m.Headers))
	b = append(b, `{"body": "`...)
	b = base64.StdEncoding.AppendEncode(b, m.Body)
	b = append(b, `", "content-encoding": `...)
	b = appendJSONString(b, m.ContentEncoding)
	b = append(b, `, "content-type": `...)
	b = appendJSONString(b, m.ContentType)
	b = append(b, `, "headers": `...)
	if m.Headers == nil {
		b = append(b, "{}"...)
	} else {
		var err error
		if b, err = celery.AppendJSON(b, m.Headers); err != nil {
			return nil, fmt.Errorf("queue: encode headers: %w", err)
		}
	}
	b = append(b, `, "properties": {"correlation_id": `...)
	b = appendJSONString(b, m.CorrelationID)
	b = append(b, `, "reply_to": `...)
	b = appendJSONString(b, m.ReplyTo)
	if m.Persistent {
		b = append(b, `, "delivery_mode": 2`...)
	} else {
		b = append(b, `, "delivery_mode": 1`...)
	}
	if m.Expiration != "" {
		b = append(b, `, "expiration": `...)
		b = appendJSONString(b, m.Expiration)
	}
	b = append(b, `, "delivery_info": {"exchange": `...)
	b = appendJSONString(b, exchange)
	b = append(b, `, "routing_key": `...)
	b = appendJSONString(b, routingKey)
	b = append(b, `}, "priority": `...)
	b = strconv.AppendInt(b, int64(m.Priority), 10)
	b = append(b, `, "body_encoding": "base64", "delivery_tag": `...)
	b = appendJSONString(b, tag)
	if started > 0 {
		b = append(b, `, "`+propStarted+`": `...)
		b = strconv.AppendInt(b, int64(started), 10)
	}
	return append(b, "}}"...), nil
}

func appendJSONString(b []byte, s string) []byte {
	b, _ = celery.AppendJSON(b, s) // strings always encode
	return b
}

// restored rewrites an envelope for its way back to the queue, as kombu's
// _do_restore_message does (redelivered in the headers and delivery_info),
// with the started count set; every other field is kept as it was.
func restored(raw []byte, started int) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", errEnvelope, err)
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(top["properties"], &props); err != nil || props == nil {
		return nil, fmt.Errorf("%w: properties", errEnvelope)
	}
	var info map[string]json.RawMessage
	if json.Unmarshal(props["delivery_info"], &info) == nil && info != nil {
		info["redelivered"] = json.RawMessage("true")
		props["delivery_info"] = mustJSON(info)
	}
	if started > 0 {
		props[propStarted] = json.RawMessage(strconv.Itoa(started))
	}
	top["properties"] = mustJSON(props)
	var headers map[string]json.RawMessage
	if json.Unmarshal(top["headers"], &headers) == nil && headers != nil {
		headers["redelivered"] = json.RawMessage("true")
		top["headers"] = mustJSON(headers)
	}
	return json.Marshal(top)
}

// mustJSON marshals a map of raw values, which cannot fail.
func mustJSON(m map[string]json.RawMessage) json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

package sqlite

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
)

// A message's properties and headers are stored in one column in a small
// tagged binary form, so that header values keep their Go types exactly
// (int32 stays int32, as it does through AMQP field tables).

const propsVersion = 1

// value tags
const (
	tagNil byte = iota
	tagString
	tagTrue
	tagFalse
	tagInt32
	tagInt64
	tagFloat64
	tagBytes
	tagTime
	tagList
	tagMap
	tagInt
	tagFloat32
	tagInt8
	tagInt16
	tagUint8
	tagUint16
	tagUint32
	tagUint64
	tagNumber // json.Number
)

// maxDepth bounds nesting on decode (and encode), as AMQP tables are bounded.
const maxDepth = 64

func encodeProps(m *broker.Message) ([]byte, error) {
	b := make([]byte, 0, 96+32*len(m.Headers))
	b = append(b, propsVersion)
	for _, s := range []string{m.ContentType, m.ContentEncoding, m.CorrelationID, m.ReplyTo, m.Expiration} {
		b = appendStr(b, s)
	}
	if m.Persistent {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	if m.Headers == nil {
		return append(b, tagNil), nil
	}
	return appendValue(b, m.Headers, 0)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, errors.New("nested deeper than 64")
	}
	switch x := v.(type) {
	case nil:
		return append(b, tagNil), nil
	case string:
		return appendStr(append(b, tagString), x), nil
	case bool:
		if x {
			return append(b, tagTrue), nil
		}
		return append(b, tagFalse), nil
	case int32:
		return binary.AppendVarint(append(b, tagInt32), int64(x)), nil
	case int64:
		return binary.AppendVarint(append(b, tagInt64), x), nil
	case int:
		return binary.AppendVarint(append(b, tagInt), int64(x)), nil
	case int8:
		return binary.AppendVarint(append(b, tagInt8), int64(x)), nil
	case int16:
		return binary.AppendVarint(append(b, tagInt16), int64(x)), nil
	case uint8:
		return binary.AppendUvarint(append(b, tagUint8), uint64(x)), nil
	case uint16:
		return binary.AppendUvarint(append(b, tagUint16), uint64(x)), nil
	case uint32:
		return binary.AppendUvarint(append(b, tagUint32), uint64(x)), nil
	case uint64:
		return binary.AppendUvarint(append(b, tagUint64), x), nil
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, tagFloat64), math.Float64bits(x)), nil
	case float32:
		return binary.LittleEndian.AppendUint32(append(b, tagFloat32), math.Float32bits(x)), nil
	case json.Number:
		return appendStr(append(b, tagNumber), string(x)), nil
	case []byte:
		return appendStr(append(b, tagBytes), string(x)), nil
	case time.Time:
		return binary.AppendVarint(append(b, tagTime), x.UnixNano()), nil
	case []any:
		b = binary.AppendUvarint(append(b, tagList), uint64(len(x)))
		var err error
		for _, e := range x {
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case map[string]any:
		b = binary.AppendUvarint(append(b, tagMap), uint64(len(x)))
		var err error
		for k, e := range x {
			b = appendStr(b, k)
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("values of type %T cannot be stored", v)
}

var errCorrupt = errors.New("corrupt message properties")

type reader struct {
	b []byte
	i int
}

func (r *reader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 {
		return 0, errCorrupt
	}
	r.i += n
	return v, nil
}

func (r *reader) varint() (int64, error) {
	v, n := binary.Varint(r.b[r.i:])
	if n <= 0 {
		return 0, errCorrupt
	}
	r.i += n
	return v, nil
}

func (r *reader) str() (string, error) {
	n, err := r.uvarint()
	if err != nil || n > uint64(len(r.b)-r.i) {
		return "", errCorrupt
	}
	s := string(r.b[r.i : r.i+int(n)])
	r.i += int(n)
	return s, nil
}

func (r *reader) byte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, errCorrupt
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

func decodeProps(b []byte, m *broker.Message) error {
	r := &reader{b: b}
	v, err := r.byte()
	if err != nil || v != propsVersion {
		return errCorrupt
	}
	for _, dst := range []*string{&m.ContentType, &m.ContentEncoding, &m.CorrelationID, &m.ReplyTo, &m.Expiration} {
		if *dst, err = r.str(); err != nil {
			return err
		}
	}
	p, err := r.byte()
	if err != nil {
		return err
	}
	m.Persistent = p == 1
	h, err := r.value(0)
	if err != nil {
		return err
	}
	if h != nil {
		hm, ok := h.(map[string]any)
		if !ok {
			return errCorrupt
		}
		m.Headers = hm
	}
	if r.i != len(b) {
		return errCorrupt
	}
	return nil
}

func (r *reader) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errCorrupt
	}
	tag, err := r.byte()
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagNil:
		return nil, nil
	case tagString:
		return r.str()
	case tagTrue:
		return true, nil
	case tagFalse:
		return false, nil
	case tagInt32, tagInt64, tagInt, tagInt8, tagInt16:
		v, err := r.varint()
		if err != nil {
			return nil, err
		}
		switch tag {
		case tagInt32:
			return int32(v), nil
		case tagInt64:
			return v, nil
		case tagInt:
			return int(v), nil
		case tagInt8:
			return int8(v), nil
		}
		return int16(v), nil
	case tagUint8, tagUint16, tagUint32, tagUint64:
		v, err := r.uvarint()
		if err != nil {
			return nil, err
		}
		switch tag {
		case tagUint8:
			return uint8(v), nil
		case tagUint16:
			return uint16(v), nil
		case tagUint32:
			return uint32(v), nil
		}
		return v, nil
	case tagFloat64:
		if len(r.b)-r.i < 8 {
			return nil, errCorrupt
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.i:]))
		r.i += 8
		return f, nil
	case tagFloat32:
		if len(r.b)-r.i < 4 {
			return nil, errCorrupt
		}
		f := math.Float32frombits(binary.LittleEndian.Uint32(r.b[r.i:]))
		r.i += 4
		return f, nil
	case tagNumber:
		s, err := r.str()
		return json.Number(s), err
	case tagBytes:
		s, err := r.str()
		return []byte(s), err
	case tagTime:
		v, err := r.varint()
		return time.Unix(0, v).UTC(), err
	case tagList:
		n, err := r.uvarint()
		if err != nil || n > uint64(len(r.b)) {
			return nil, errCorrupt
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = r.value(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case tagMap:
		n, err := r.uvarint()
		if err != nil || n > uint64(len(r.b)) {
			return nil, errCorrupt
		}
		out := make(map[string]any, n)
		for range n {
			k, err := r.str()
			if err != nil {
				return nil, err
			}
			if out[k], err = r.value(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, errCorrupt
}

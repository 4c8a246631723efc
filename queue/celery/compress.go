package celery

import (
	"bytes"
	"compress/bzip2"
	"compress/zlib"
	"fmt"
	"io"

	"github.com/dsys-dev/dsys/queue/broker"
)

// HeaderCompression is the header in which Celery (kombu) names the
// compression of a message's body (apply_async(compression=...)).
const HeaderCompression = "compression"

// compressions maps kombu's compression content types, and their aliases,
// to readers.
var compressions = map[string]func(io.Reader) (io.Reader, error){
	"application/x-gzip": zlibReader, "gzip": zlibReader, "zlib": zlibReader, // zlib.compress, despite the name
	"application/x-bz2": bzip2Reader, "bzip2": bzip2Reader, "bzip": bzip2Reader,
}

func zlibReader(r io.Reader) (io.Reader, error)  { return zlib.NewReader(r) }
func bzip2Reader(r io.Reader) (io.Reader, error) { return bzip2.NewReader(r), nil }

// Decompress returns m with its body decompressed, and without its
// compression header, when that header names zlib or bzip2; m itself when
// there is none. A body that would decompress to more than limit bytes,
// an unknown compression and corrupt data are errors wrapping
// ErrBadMessage.
func Decompress(m *broker.Message, limit int) (*broker.Message, error) {
	v, ok := m.Headers[HeaderCompression]
	if !ok || v == nil {
		return m, nil
	}
	id := m.CorrelationID
	if hid, ok := m.Headers["id"].(string); ok && hid != "" {
		id = hid
	}
	name, _ := v.(string)
	open, ok := compressions[name]
	if !ok {
		return nil, badMessage(id, "compression %q is not supported (only zlib and bzip2)", fmt.Sprint(v))
	}
	r, err := open(bytes.NewReader(m.Body))
	if err != nil {
		return nil, badMessage(id, "body does not decompress (%s): %v", name, err)
	}
	body, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, badMessage(id, "body does not decompress (%s): %v", name, err)
	}
	if len(body) > limit {
		return nil, &BadMessageError{TaskID: id, Exception: "LimitExceeded",
			Reason: fmt.Sprintf("body decompresses (%s) to more than max_message_size %d bytes", name, limit)}
	}
	cp := *m
	cp.Body = body
	cp.Headers = make(map[string]any, len(m.Headers))
	for k, v := range m.Headers {
		if k != HeaderCompression {
			cp.Headers[k] = v
		}
	}
	return &cp, nil
}

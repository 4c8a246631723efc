package cmd

import (
	"bytes"
	"io"
	"testing"
)

// FuzzStreamReader splits arbitrary input in every framing: no panic, and
// for null framing the messages joined back give the input.
func FuzzStreamReader(f *testing.F) {
	f.Add([]byte("a\nb\n\nc"))
	f.Add([]byte("x\x00y\x00"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("frame1\nframe2\n\nnext\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fr := range []framing{framingLine, framingNull, framingRaw, framingFrames, framingJSON} {
			r := newMsgReader(bytes.NewReader(data), fr, 0)
			var parts [][]byte
			for i := 0; ; i++ {
				m, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					if fr == framingJSON {
						break // not JSON: an error is the answer
					}
					t.Fatalf("%s: %v", fr, err)
				}
				if i > len(data)+1 {
					t.Fatalf("%s: more messages than bytes", fr)
				}
				if fr == framingNull {
					parts = append(parts, bytes.Clone(m.frames[0]))
				}
			}
			if fr == framingNull {
				want := bytes.TrimSuffix(data, []byte{0})
				if got := bytes.Join(parts, []byte{0}); !bytes.Equal(got, want) && len(data) > 0 {
					t.Fatalf("null framing: %q joined back as %q", data, got)
				}
			}
		}
	})
}

package cmd

import (
	"bytes"
	"errors"
	"github.com/dsys-dev/dsys/msg"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string, f framing, max int64) ([][]string, error) {
	t.Helper()
	r := newMsgReader(strings.NewReader(in), f, max)
	var out [][]string
	for {
		m, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, frameStrings(m.frames))
	}
}

func TestReaderFramings(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		f        framing
		want     string
	}{
		{"lines", "a\nb\r\n\nc", framingLine, `[[a] [b] [] [c]]`},
		{"empty input", "", framingLine, `[]`},
		{"null", "a\x00b c\x00", framingNull, `[[a] [b c]]`},
		{"raw", "a\nb\x00", framingRaw, "[[a\nb\x00]]"},
		{"raw empty", "", framingRaw, `[[]]`},
		{"frames", "f1\nf2\n\n\ng1\n", framingFrames, `[[f1 f2] [g1]]`},
		{"long line", strings.Repeat("x", 3<<20) + "\ny", framingLine, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.in, tc.f, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "long line" {
				if len(got) != 2 || len(got[0][0]) != 3<<20 || got[1][0] != "y" {
					t.Fatalf("long line split wrong: %d messages", len(got))
				}
				return
			}
			if s := sprint(got); s != tc.want {
				t.Fatalf("got %s, want %s", s, tc.want)
			}
		})
	}
}

func sprint(v [][]string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, m := range v {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString("[" + strings.Join(m, " ") + "]")
	}
	b.WriteString("]")
	return b.String()
}

func TestReaderMaxSize(t *testing.T) {
	_, err := readAll(t, "ok\n"+strings.Repeat("x", 100)+"\n", framingLine, 10)
	if !errors.Is(err, msg.ErrTooLarge) || !strings.Contains(err.Error(), "message 2") {
		t.Fatalf("got %v", err)
	}
	_, err = readAll(t, strings.Repeat("x", 100), framingRaw, 10)
	if !errors.Is(err, msg.ErrTooLarge) {
		t.Fatalf("raw: got %v", err)
	}
}

func TestWriterFramings(t *testing.T) {
	m := msg.Msg{[]byte("a"), []byte("b")}
	for _, tc := range []struct {
		f    framing
		json bool
		id   []byte
		want string
	}{
		{framingLine, false, nil, "a b\n"},
		{framingNull, false, nil, "a b\x00"},
		{framingRaw, false, nil, "ab"},
		{framingFrames, false, nil, "a\nb\n\n"},
		{framingLine, false, []byte{0, 1, 2}, "0x000102\ta b\n"},
		{framingLine, false, []byte("peer"), "peer\ta b\n"},
		{framingLine, true, nil, `{"frames":["a","b"]}` + "\n"},
		{framingLine, true, []byte{0, 0xff}, `{"identity":{"base64":"AP8="},"frames":["a","b"]}` + "\n"},
	} {
		var buf bytes.Buffer
		w := newMsgWriter(&buf, tc.f, tc.json)
		if err := w.Write(m, tc.id); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if buf.String() != tc.want {
			t.Errorf("%s json=%v id=%q: got %q, want %q", tc.f, tc.json, tc.id, buf.String(), tc.want)
		}
	}
	var buf bytes.Buffer
	w := newMsgWriter(&buf, framingLine, true)
	w.Write(msg.Msg{{0xff, 0xfe}, []byte("ok")}, nil)
	w.Flush()
	if got := buf.String(); got != `{"frames":[{"base64":"//4="},"ok"]}`+"\n" {
		t.Fatalf("binary frame as %q", got)
	}
}

func TestIdentityRoundTrip(t *testing.T) {
	for _, id := range [][]byte{[]byte("worker-1"), {0, 0x6b, 0x8b, 0x45, 0x67}, []byte("0xdead"), []byte("tab\there")} {
		got, err := parseIdentity([]byte(formatIdentity(id)))
		if err != nil || !bytes.Equal(got, id) {
			t.Fatalf("%q → %q → %q %v", id, formatIdentity(id), got, err)
		}
	}
	if _, err := parseIdentity([]byte("0xzz")); err == nil {
		t.Fatal("bad hex accepted")
	}
}

func frameStrings(m msg.Msg) []string {
	out := make([]string, len(m))
	for i, f := range m {
		out[i] = string(f)
	}
	return out
}

func TestJSONFramingInput(t *testing.T) {
	r := newMsgReader(strings.NewReader(`{"frames": ["", "Hello"]}`+"\n\n"+`{"frames": [{"base64": "AP8="}, "x"], "identity": "peer"}`+"\n"), framingJSON, 0)
	m, err := r.Next()
	if err != nil || len(m.frames) != 2 || len(m.frames[0]) != 0 || string(m.frames[1]) != "Hello" || m.identity != nil {
		t.Fatalf("first: %q %q %v", m.frames, m.identity, err)
	}
	m, err = r.Next()
	if err != nil || !bytes.Equal(m.frames[0], []byte{0, 0xff}) || string(m.identity) != "peer" {
		t.Fatalf("second: %q %q %v", m.frames, m.identity, err)
	}
	for _, bad := range []string{`{"frames": []}`, `{"frames": [1]}`, `{"frame": ["x"]}`, `not json`, `{"frames": [{"base64": "!!"}]}`} {
		_, err := newMsgReader(strings.NewReader(bad+"\n"), framingJSON, 0).Next()
		if err == nil || !strings.Contains(err.Error(), "stdin line 1") {
			t.Errorf("%s: %v, want an error naming the line", bad, err)
		}
	}
	// Output and input share the schema: what -o json prints reads back.
	var buf bytes.Buffer
	w := newMsgWriter(&buf, framingLine, true)
	orig := msg.Msg{{}, {0xff}, []byte("text")}
	w.Write(orig, []byte{0, 1})
	w.Flush()
	back, err := newMsgReader(&buf, framingJSON, 0).Next()
	if err != nil || len(back.frames) != 3 || !bytes.Equal(back.frames[1], []byte{0xff}) || !bytes.Equal(back.identity, []byte{0, 1}) {
		t.Fatalf("round trip: %q %q %v", back.frames, back.identity, err)
	}
}

package msg

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string, f Framing, max int64) ([][]string, error) {
	t.Helper()
	r := NewReader(strings.NewReader(in), f, max)
	var out [][]string
	for {
		m, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, toStrings(m))
	}
}

func TestReaderFramings(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		f        Framing
		want     string
	}{
		{"lines", "a\nb\r\n\nc", FramingLine, `[[a] [b] [] [c]]`},
		{"empty input", "", FramingLine, `[]`},
		{"null", "a\x00b c\x00", FramingNull, `[[a] [b c]]`},
		{"raw", "a\nb\x00", FramingRaw, "[[a\nb\x00]]"},
		{"raw empty", "", FramingRaw, `[[]]`},
		{"frames", "f1\nf2\n\n\ng1\n", FramingFrames, `[[f1 f2] [g1]]`},
		{"long line", strings.Repeat("x", 3<<20) + "\ny", FramingLine, ""},
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
	_, err := readAll(t, "ok\n"+strings.Repeat("x", 100)+"\n", FramingLine, 10)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "message 2") {
		t.Fatalf("got %v", err)
	}
	_, err = readAll(t, strings.Repeat("x", 100), FramingRaw, 10)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("raw: got %v", err)
	}
}

func TestWriterFramings(t *testing.T) {
	m := Msg{[]byte("a"), []byte("b")}
	for _, tc := range []struct {
		f    Framing
		json bool
		id   []byte
		want string
	}{
		{FramingLine, false, nil, "a b\n"},
		{FramingNull, false, nil, "a b\x00"},
		{FramingRaw, false, nil, "ab"},
		{FramingFrames, false, nil, "a\nb\n\n"},
		{FramingLine, false, []byte{0, 1, 2}, "0x000102\ta b\n"},
		{FramingLine, false, []byte("peer"), "peer\ta b\n"},
		{FramingLine, true, nil, `{"frames":["a","b"]}` + "\n"},
		{FramingLine, true, []byte{0, 0xff}, `{"identity":{"base64":"AP8="},"frames":["a","b"]}` + "\n"},
	} {
		var buf bytes.Buffer
		w := NewWriter(&buf, tc.f, tc.json)
		if err := w.Write(m, tc.id); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if buf.String() != tc.want {
			t.Errorf("%s json=%v id=%q: got %q, want %q", tc.f, tc.json, tc.id, buf.String(), tc.want)
		}
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, FramingLine, true)
	w.Write(Msg{{0xff, 0xfe}, []byte("ok")}, nil)
	w.Flush()
	if got := buf.String(); got != `{"frames":[{"base64":"//4="},"ok"]}`+"\n" {
		t.Fatalf("binary frame as %q", got)
	}
}

func TestIdentityRoundTrip(t *testing.T) {
	for _, id := range [][]byte{[]byte("worker-1"), {0, 0x6b, 0x8b, 0x45, 0x67}, []byte("0xdead"), []byte("tab\there")} {
		got, err := ParseIdentity([]byte(FormatIdentity(id)))
		if err != nil || !bytes.Equal(got, id) {
			t.Fatalf("%q → %q → %q %v", id, FormatIdentity(id), got, err)
		}
	}
	if _, err := ParseIdentity([]byte("0xzz")); err == nil {
		t.Fatal("bad hex accepted")
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, ok := range []string{"tcp://*:5555", "tcp://localhost:5555", "tcp://[::1]:5555", "tcp://127.0.0.1:*", "ipc:///tmp/x.sock", "inproc://name"} {
		if _, err := ParseEndpoint(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "localhost:5555", "tcp://localhost", "tcp://:5555", "udp://x:1", "tcp://x:notaport", "inproc://"} {
		if _, err := ParseEndpoint(bad); !errors.Is(err, ErrEndpoint) {
			t.Errorf("%q: got %v, want ErrEndpoint", bad, err)
		}
	}
}

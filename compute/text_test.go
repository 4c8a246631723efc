package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

func seqText(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	return b.String()
}

func TestTextSeqMean(t *testing.T) {
	in := seqText(100000)
	for _, bs := range []int{0, 1000, 77} {
		r := mustReduce(t, &Text{R: strings.NewReader(in), Name: "-", BlockBytes: bs}, Options{Op: Mean})
		if got := FormatFloat(r.Value()); got != "50000.5" {
			t.Errorf("block %d: mean %s, want 50000.5", bs, got)
		}
	}
	r := mustReduce(t, &Text{R: strings.NewReader(in), Name: "-"}, Options{Op: Stats})
	s := r.Summaries()[0]
	if s.Count != 100000 || s.Min.String() != "1" || s.Max.String() != "100000" {
		t.Errorf("stats %+v", s)
	}
}

func TestTextDeterministic(t *testing.T) {
	var b strings.Builder
	for _, v := range randData(4, 30000, 0.001) {
		b.WriteString(FormatFloat(v))
		b.WriteString(" \t")
		if len(b.String())%7 == 0 {
			b.WriteString("\r\n")
		}
	}
	in := b.String()
	var first []float64
	for _, w := range []int{1, 2, 5} {
		for _, one := range []bool{false, true} {
			var r = strings.NewReader(in)
			src := &Text{R: r, Name: "-", BlockBytes: 4096}
			if one {
				src.R = iotest.HalfReader(r)
			}
			got := mustReduce(t, src, Options{Op: Var, SkipNaN: true, Workers: w}).Values()
			if first == nil {
				first = got
			} else if !sameBits(first, got) {
				t.Fatalf("workers %d half-reads %v: %v, want %v", w, one, got, first)
			}
		}
	}
}

func TestTextMalformedReportsLineAndColumn(t *testing.T) {
	cases := []struct {
		in   string
		want string
	}{
		{"1 2\n3 x4 5\n", `data.txt:2:3: malformed number "x4"`},
		{"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12 13 1,5\n", `data.txt:12:7: malformed number "1,5"`},
		{strings.Repeat("123456789 ", 50) + "\n  1e+ 7", `data.txt:2:3: malformed number "1e+"`},
		{strings.Repeat("1 ", 100) + "oops", `data.txt:1:201: malformed number "oops"`},
	}
	for _, c := range cases {
		for _, bs := range []int{0, 16, 33} {
			_, err := Reduce(context.Background(), &Text{R: strings.NewReader(c.in), Name: "data.txt", BlockBytes: bs}, Options{Op: Sum})
			if !errors.Is(err, ErrInput) || err.Error() != "compute: "+c.want {
				t.Errorf("block %d: got %v, want %s", bs, err, c.want)
			}
		}
	}
}

func TestTextEmpty(t *testing.T) {
	for _, in := range []string{"", "  \n\n "} {
		if _, err := Reduce(context.Background(), &Text{R: strings.NewReader(in), Name: "-"}, Options{Op: Mean}); !errors.Is(err, ErrInput) {
			t.Errorf("mean of %q: %v, want ErrInput", in, err)
		}
		r := mustReduce(t, &Text{R: strings.NewReader(in), Name: "-"}, Options{Op: Count})
		if r.Value() != 0 {
			t.Errorf("count of %q: %v", in, r.Value())
		}
	}
}

func TestTextNaNAndInf(t *testing.T) {
	in := "1 nan 3 NaN"
	if v := mustReduce(t, &Text{R: strings.NewReader(in), Name: "-"}, Options{Op: Mean}).Value(); !math.IsNaN(v) {
		t.Errorf("mean with nan: %v", v)
	}
	if v := mustReduce(t, &Text{R: strings.NewReader(in), Name: "-"}, Options{Op: Mean, SkipNaN: true}).Value(); v != 2 {
		t.Errorf("nanmean: %v", v)
	}
	if v := mustReduce(t, &Text{R: strings.NewReader("1 inf"), Name: "-"}, Options{Op: Max}).Value(); !math.IsInf(v, 1) {
		t.Errorf("max with inf: %v", v)
	}
}

// FuzzText checks the parallel text parser against a plain sequential one:
// the same count, or the same first malformed token at the same line and
// column.
func FuzzText(f *testing.F) {
	f.Add([]byte("1 2 3\n4.5e1\t-6\n"), 16)
	f.Add([]byte("1\n2\n x"), 5)
	f.Add([]byte("nan inf -inf 0x1p3 1e999\r\n"), 64)
	f.Fuzz(func(t *testing.T, in []byte, bs int) {
		bs = 16 + (bs&0xffff)%200
		for _, tok := range bytes.FieldsFunc(in, func(r rune) bool { return r < 256 && spaceTab[r] }) {
			if len(tok) >= 32*bs {
				t.Skip("token longer than the parser's limit for this block size")
			}
		}
		r, err := Reduce(context.Background(), &Text{R: bytes.NewReader(in), Name: "in", BlockBytes: bs}, Options{Op: Count, Workers: 3})
		wantErr := ""
		count := 0
		line, col := 1, 1
		for i := 0; i < len(in); {
			if spaceTab[in[i]] {
				if in[i] == '\n' {
					line, col = line+1, 1
				} else {
					col++
				}
				i++
				continue
			}
			j := i
			for j < len(in) && !spaceTab[in[j]] {
				j++
			}
			if _, err := strconv.ParseFloat(string(in[i:j]), 64); err != nil && !errors.Is(err, strconv.ErrRange) {
				wantErr = fmt.Sprintf("compute: in:%d:%d: malformed number %q", line, col, clip(in[i:j]))
				break
			}
			count++
			col += j - i
			i = j
		}
		if wantErr != "" {
			if err == nil || err.Error() != wantErr {
				t.Fatalf("got %v, want %s", err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		if int(r.Value()) != count {
			t.Fatalf("count %v, want %d", r.Value(), count)
		}
	})
}

package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	// (A long-token seed makes minimisation crawl: TestTextLongTokenRefusedFast covers it.)
	f.Add([]byte("\xef\xbb\xbf1 2"), 16)
	f.Fuzz(func(t *testing.T, in []byte, bs int) {
		bs = 16 + (bs&0xffff)%200
		r, err := Reduce(context.Background(), &Text{R: bytes.NewReader(in), Name: "in", BlockBytes: bs}, Options{Op: Count, Workers: 3})
		wantErr := ""
		count := 0
		line, col := 1, 1
		in = bytes.TrimPrefix(in, utf8BOM) // skipped, not counted in columns
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
			if j-i > maxToken {
				wantErr = fmt.Sprintf("compute: in:%d:%d: %s", line, col, errLongToken)
				break
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

// endlessToken is a reader of one token that never ends, counting what it
// hands out.
type endlessToken struct{ n int }

func (e *endlessToken) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '7'
	}
	e.n += len(p)
	return len(p), nil
}

// A token longer than any number is refused at once, without reading (or
// holding) the rest of it: a 60 MB token used to cost 821 MB.
func TestTextLongTokenRefusedFast(t *testing.T) {
	for _, bs := range []int{0, 16, 1000} {
		r := &endlessToken{}
		src := &Text{R: io.MultiReader(strings.NewReader("1 2\n3 "), r), Name: "-", BlockBytes: bs}
		_, err := Reduce(context.Background(), src, Options{Op: Sum})
		if want := "compute: -:2:3: " + errLongToken; err == nil || err.Error() != want {
			t.Fatalf("block %d: %v, want %s", bs, err, want)
		}
		if r.n > 4*max(bs, DefaultBlockBytes) {
			t.Errorf("block %d: read %d bytes of the token before refusing it", bs, r.n)
		}
	}
	in := "1 " + strings.Repeat("5", maxToken+1) + " 2"
	_, err := Reduce(context.Background(), &Text{R: strings.NewReader(in), Name: "-"}, Options{Op: Sum})
	if want := "compute: -:1:3: " + errLongToken; err == nil || err.Error() != want {
		t.Fatalf("a long token inside a block: %v", err)
	}
	// The longest exact decimal of a float64 (2^-1074) is well inside the limit.
	tiny := strconv.FormatFloat(5e-324, 'f', -1, 64)
	exact := "0." + strings.Repeat("0", 323) + "4940656458412465441765687928682213723650598026143247644255856825006755072702087518652998363616359923797965646954457177309266567103559397963987747960107818781263007131903114045278458171678489821036887186360569987307230500063874091535649843873124733972731696151400317153853980741262385655911710266585566867681870395603106249319452715914924553293054565444011274801297099995419319894090804165633245247571478690147267801593552386115501348035264934720193790268107107491703332226844753335720832431936092382893458368060106011506169809753078342277318329247904982524730776375927247874656084778203734469699533647017972677717585125660551199131504891101451037862738167250955837389733598993664809941164205702637090279242767544565229087538682506419718265533447265625"
	r := mustReduce(t, &Text{R: strings.NewReader(exact + " " + tiny), Name: "-"}, Options{Op: Count})
	if r.Elem(0).String() != "2" {
		t.Fatalf("count %v", r.Elem(0))
	}
}

// A UTF-8 byte order mark starts some files: it is not part of the first
// number.
func TestTextBOM(t *testing.T) {
	for _, bs := range []int{0, 16} {
		r := mustReduce(t, &Text{R: strings.NewReader("\ufeff1 2\n3"), Name: "-", BlockBytes: bs}, Options{Op: Sum})
		if got := r.Elem(0).String(); got != "6" {
			t.Errorf("block %d: sum %s, want 6", bs, got)
		}
	}
}

// Column selects one whitespace-separated field of each line; blank lines
// are skipped, a short line is an error naming it, and a name is refused.
func TestTextColumn(t *testing.T) {
	in := "1 10 100\n\n  2\t20 200\n3 30 300 3000\n"
	for col, want := range map[string]string{"0": "6", "1": "60", "2": "600"} {
		for _, bs := range []int{0, 16} {
			r := mustReduce(t, &Text{R: strings.NewReader(in), Name: "d.txt", Column: col, BlockBytes: bs}, Options{Op: Sum, Workers: 2})
			if got := r.Elem(0).String(); got != want {
				t.Errorf("column %s block %d: %s, want %s", col, bs, got, want)
			}
		}
	}
	for col, want := range map[string]string{
		"3":     "compute: d.txt:1:1: 3 fields, no field 3 (0-based)",
		"close": `compute: d.txt: text input has no column names: the column is a 0-based field index, not "close"`,
		"-1":    `compute: d.txt: text input has no column names: the column is a 0-based field index, not "-1"`,
	} {
		_, err := Reduce(context.Background(), &Text{R: strings.NewReader(in), Name: "d.txt", Column: col}, Options{Op: Sum})
		if !errors.Is(err, ErrInput) || err.Error() != want {
			t.Errorf("column %s: %v, want %s", col, err, want)
		}
	}
	_, err := Reduce(context.Background(), &Text{R: strings.NewReader("1 2\n3 x\n"), Name: "d.txt", Column: "1"}, Options{Op: Sum})
	if err == nil || err.Error() != `compute: d.txt:2:3: malformed number "x"` {
		t.Errorf("malformed field: %v", err)
	}
}

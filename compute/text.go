package compute

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
)

// Text is a stream of numbers separated by whitespace or newlines (the
// output of seq, one column of awk, ...), read once, cut into blocks that
// workers parse and reduce in parallel. It is a 1-D array of unknown length.
// Numbers written as integers (of up to 64 bits) are also summed exactly:
// when every value is one, Sum, Min and Max are exact integers. A UTF-8 byte
// order mark at the start is skipped.
type Text struct {
	R    io.Reader
	Name string // for error messages: "-" or the file name
	// Column, if set, is a 0-based index: only that field of each line
	// (fields separated by whitespace) is read; blank lines are skipped,
	// and a line without that field is an error.
	Column string
	// BlockBytes is the parsing block size; 0 means DefaultBlockBytes.
	BlockBytes int

	in *Input // the file R reads, when Input.Text made it (see Plan)
}

func (t *Text) reduce(ctx context.Context, o *Options) (*Result, error) {
	col, err := t.check(o)
	if err != nil {
		return nil, err
	}
	sc := textStream(t.Name, col, o.Op.needs())
	sc.r, sc.blockSize, sc.stripBOM = newStreamReader(t.R), blockBytes(t.BlockBytes), true
	parts, err := runStream(ctx, sc, o)
	if err != nil {
		return nil, err
	}
	return textResult(o, parts), nil
}

// check validates o for text input and resolves Column (-1: none).
func (t *Text) check(o *Options) (int, error) {
	if _, err := o.reduced(1); err != nil {
		return 0, err
	}
	if t.Column == "" {
		return -1, nil
	}
	col, err := strconv.Atoi(t.Column)
	if err != nil || col < 0 {
		return 0, inputErr("%s: text input has no column names: the column is a 0-based field index, not %q", t.Name, t.Column)
	}
	return col, nil
}

// textStream is how text is cut and parsed: blocks cut at whitespace, or
// with a column (col ≥ 0) at newlines.
func textStream(name string, col int, nd needs) streamConfig {
	if col >= 0 {
		return streamConfig{name: name, width: 1, cut: lastLineCut, maxRun: maxLine, runMsg: errLongLine,
			parse: func(b []byte, w *workerState) ([]Partial, *parseError) { return parseTextField(b, w, nd, col) }}
	}
	return streamConfig{name: name, width: 1, cut: lastSpaceCut, maxRun: maxToken, runMsg: errLongToken,
		parse: func(b []byte, w *workerState) ([]Partial, *parseError) { return parseText(b, w, nd) }}
}

// textResult is the result of text input from its reduced partial.
func textResult(o *Options, parts []Partial) *Result {
	n := int(parts[0].Count + parts[0].NaN)
	r := newResult(o, []int{}, true)
	r.Input = Grid{Shape: []int{n}, Chunks: []int{}}
	r.set(0, &parts[0])
	return r
}

// valueAcc summarises the values of one column of a text block: floats
// through the block kernel, npBlock at a time, and the exact state of the
// integers. Small non-negative integers (below 10^15, as seq prints them)
// are summed in a uint64 between flushes: npBlock of them cannot overflow.
type valueAcc struct {
	p    Partial
	m    int // values in buf
	ints intAcc

	small            uint64 // sum of the small integers since the last flush
	smallLo, smallHi uint64
	smallN           int
}

func (a *valueAcc) add(w *workerState, nd needs, v float64) {
	w.buf[a.m] = v
	a.m++
	if a.m == npBlock {
		a.flush(w, nd)
	}
}

// addSmall adds u < 10^15, an integer token.
func (a *valueAcc) addSmall(w *workerState, nd needs, u uint64) {
	if a.smallN == 0 {
		a.smallLo, a.smallHi = u, u
	} else {
		a.smallLo = min(a.smallLo, u)
		a.smallHi = max(a.smallHi, u)
	}
	a.small += u
	a.smallN++
	a.add(w, nd, float64(u))
}

func (a *valueAcc) flush(w *workerState, nd needs) {
	if a.m > 0 {
		q := reduceBlock(w.buf[:a.m], nd, w.scratch)
		a.p.Merge(&q)
		a.m = 0
	}
	if a.smallN > 0 {
		a.ints.merge(UintOf(a.small), UintOf(a.smallLo), UintOf(a.smallHi), int64(a.smallN))
		a.small, a.smallN = 0, 0
	}
}

func (a *valueAcc) done(w *workerState, nd needs) []Partial {
	a.flush(w, nd)
	a.ints.apply(&a.p)
	return []Partial{a.p}
}

// parseText reduces the whitespace-separated numbers of a block.
func parseText(b []byte, w *workerState, nd needs) ([]Partial, *parseError) {
	var acc valueAcc
	i, n := 0, len(b)
	for i < n {
		if spaceTab[b[i]] {
			i++
			continue
		}
		// Fast path: an unsigned integer of at most 15 digits (exact in
		// float64), as seq prints them.
		s := i
		var u uint64
		j := i
		for j < n && j-s < 16 && b[j]-'0' < 10 {
			u = u*10 + uint64(b[j]-'0')
			j++
		}
		if j > s && j-s <= 15 && (j == n || spaceTab[b[j]]) {
			acc.addSmall(w, nd, u)
			i = j
			continue
		}
		for j < n && !spaceTab[b[j]] {
			j++
		}
		if err := acc.token(w, nd, b[s:j], s); err != nil {
			return nil, err
		}
		i = j
	}
	return acc.done(w, nd), nil
}

// token parses one number token at pos of its block.
func (a *valueAcc) token(w *workerState, nd needs, tok []byte, pos int) *parseError {
	if len(tok) > maxToken {
		return &parseError{pos: pos, msg: errLongToken}
	}
	if iv, ok := parseIntToken(tok); ok {
		a.ints.add(iv)
		a.add(w, nd, iv.Float64())
		return nil
	}
	v, ok := parseNumber(tok)
	if !ok {
		return &parseError{pos: pos, msg: fmt.Sprintf("malformed number %q", clip(tok))}
	}
	if v == v {
		a.ints.frac = true
	}
	a.add(w, nd, v)
	return nil
}

// parseTextField reduces field col of each line of a block.
func parseTextField(b []byte, w *workerState, nd needs, col int) ([]Partial, *parseError) {
	var acc valueAcc
	for pos := 0; pos < len(b); {
		end := bytes.IndexByte(b[pos:], '\n')
		if end < 0 {
			end = len(b)
		} else {
			end += pos
		}
		line, lineStart := b[pos:end], pos
		pos = end + 1
		f, found := 0, false
		for i := 0; i < len(line) && !found; {
			if spaceTab[line[i]] {
				i++
				continue
			}
			s := i
			for i < len(line) && !spaceTab[line[i]] {
				i++
			}
			if f == col {
				if err := acc.token(w, nd, line[s:i], lineStart+s); err != nil {
					return nil, err
				}
				found = true
			}
			f++
		}
		if !found && f > 0 {
			return nil, &parseError{pos: lineStart, msg: fmt.Sprintf("%d fields, no field %d (0-based)", f, col)}
		}
	}
	return acc.done(w, nd), nil
}

// errLongToken is the error of a token longer than maxToken, errLongLine
// of a line longer than maxLine.
var (
	errLongToken = fmt.Sprintf("a token longer than %d bytes: not a number", maxToken)
	errLongLine  = fmt.Sprintf("a line longer than %d bytes", maxLine)
)

// spaceTab marks the bytes that separate numbers: space, \t, \n, \v, \f, \r.
var spaceTab = [256]bool{' ': true, '\t': true, '\n': true, '\v': true, '\f': true, '\r': true}

func blockBytes(n int) int {
	if n <= 0 {
		return DefaultBlockBytes
	}
	return max(n, 16)
}

// clip shortens a token for an error message.
func clip(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "…"
	}
	return string(b)
}

// intAcc is the exact state of the integer values of a column, until a
// value that is not an integer (NaN and missing values do not count).
type intAcc struct {
	sum, lo, hi Int128
	n           int64
	frac        bool
}

func (a *intAcc) add(v Int128) { a.merge(v, v, v, 1) }

// merge adds n integers of sum, minimum lo and maximum hi.
func (a *intAcc) merge(sum, lo, hi Int128, n int64) {
	if a.n == 0 {
		a.lo, a.hi = lo, hi
	} else {
		if lo.Cmp(a.lo) < 0 {
			a.lo = lo
		}
		if hi.Cmp(a.hi) > 0 {
			a.hi = hi
		}
	}
	a.sum = a.sum.Add(sum)
	a.n += n
}

// apply sets p's integer state (p summarises the same values).
func (a *intAcc) apply(p *Partial) {
	p.Frac = a.frac
	if a.frac {
		return
	}
	p.ISum = a.sum
	if a.n > 0 {
		p.IMin, p.IMax = a.lo, a.hi
	}
}

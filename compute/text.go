package compute

import (
	"context"
	"fmt"
	"io"
)

// Text is a stream of numbers separated by whitespace or newlines (the
// output of seq, one column of awk, ...), read once, cut into blocks that
// workers parse and reduce in parallel. It is a 1-D array of unknown length.
type Text struct {
	R    io.Reader
	Name string // for error messages: "-" or the file name
	// BlockBytes is the parsing block size; 0 means DefaultBlockBytes.
	BlockBytes int
}

func (t *Text) reduce(ctx context.Context, o *Options) (*Result, error) {
	if _, err := o.axis(1); err != nil {
		return nil, err
	}
	nd := o.Op.needs()
	sc := streamConfig{
		name: t.Name, r: t.R, blockSize: blockBytes(t.BlockBytes), cut: lastSpaceCut, width: 1,
		parse: func(b []byte, w *workerState) ([]Partial, *parseError) {
			var p Partial
			m := 0
			i, n := 0, len(b)
			for i < n {
				if spaceTab[b[i]] {
					i++
					continue
				}
				// Fast path: an unsigned integer of at most 15 digits
				// (exact in float64), as seq prints them.
				s := i
				var u uint64
				j := i
				for j < n && j-s < 16 && b[j]-'0' < 10 {
					u = u*10 + uint64(b[j]-'0')
					j++
				}
				var v float64
				if j > s && j-s <= 15 && (j == n || spaceTab[b[j]]) {
					v = float64(u)
					i = j
				} else {
					for j < n && !spaceTab[b[j]] {
						j++
					}
					var ok bool
					if v, ok = parseNumber(b[s:j]); !ok {
						return nil, &parseError{pos: s, msg: fmt.Sprintf("malformed number %q", clip(b[s:j]))}
					}
					i = j
				}
				w.buf[m] = v
				m++
				if m == npBlock {
					q := reduceBlock(w.buf, nd, w.scratch)
					p.Merge(&q)
					m = 0
				}
			}
			if m > 0 {
				q := reduceBlock(w.buf[:m], nd, w.scratch)
				p.Merge(&q)
			}
			return []Partial{p}, nil
		},
	}
	parts, err := runStream(ctx, sc, o)
	if err != nil {
		return nil, err
	}
	n := int(parts[0].Count + parts[0].NaN)
	return &Result{Shape: []int{}, Input: Grid{Shape: []int{n}, Chunks: []int{}}, Partials: parts}, nil
}

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

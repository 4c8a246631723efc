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
			for {
				for i < n && isSpace(b[i]) {
					i++
				}
				if i >= n {
					break
				}
				s := i
				for i < n && !isSpace(b[i]) {
					i++
				}
				v, ok := parseNumber(b[s:i])
				if !ok {
					return nil, &parseError{pos: s, msg: fmt.Sprintf("malformed number %q", clip(b[s:i]))}
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

package compute

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// CSV is delimited text with one record per line: comma- or tab-separated
// values, an optional header line (detected: a first line with a field that
// is not a number), quoted fields (without newlines inside). Each numeric
// column is reduced on its own; an empty field is a missing value (NaN).
// Blocks of lines are parsed in parallel.
type CSV struct {
	R    io.Reader
	Name string
	// Delimiter separates fields; 0 means ','.
	Delimiter byte
	// Column selects one column by header name or 0-based index; empty
	// reduces every numeric column (those whose first value is a number).
	Column string
	// BlockBytes is the parsing block size; 0 means DefaultBlockBytes.
	BlockBytes int
}

func (c *CSV) reduce(ctx context.Context, o *Options) (*Result, error) {
	if len(o.Axis) > 0 {
		if a, err := o.axis(2); err != nil || a != 0 {
			return nil, inputErr("%s: CSV input is reduced per column (axis 0); axis %d is not supported", c.Name, o.Axis[0])
		}
	}
	delim := c.Delimiter
	if delim == 0 {
		delim = ','
	}
	br := bufio.NewReaderSize(c.R, 1<<16)
	first, err := readLine(br)
	if err != nil {
		return nil, fmt.Errorf("compute: reading %s: %w", c.Name, err)
	}
	line0 := 0
	for len(first) > 0 && len(bytes.TrimSpace(first)) == 0 { // leading blank lines
		line0++
		if first, err = readLine(br); err != nil {
			return nil, fmt.Errorf("compute: reading %s: %w", c.Name, err)
		}
	}
	if len(first) == 0 {
		return c.empty()
	}
	head := trimEOL(first)
	fields := splitFields(head, delim)
	second, err := br.Peek(br.Buffered())
	if err != nil {
		return nil, fmt.Errorf("compute: reading %s: %w", c.Name, err)
	}
	if i := bytes.IndexByte(second, '\n'); i >= 0 {
		second = second[:i+1]
	}
	header := isHeader(head, trimEOL(second), fields, delim)
	names := make([]string, len(fields))
	dataLine := first
	if header {
		for i, f := range fields {
			names[i] = string(fieldText(head, f))
		}
		line0++
		if dataLine, err = readLine(br); err != nil {
			return nil, fmt.Errorf("compute: reading %s: %w", c.Name, err)
		}
	} else {
		for i := range names {
			names[i] = strconv.Itoa(i)
		}
	}
	// Pick the columns.
	var cols []int
	if c.Column != "" {
		j := -1
		for i, n := range names {
			if header && n == c.Column {
				j = i
				break
			}
		}
		if j < 0 {
			if n, err := strconv.Atoi(c.Column); err == nil && n >= 0 && n < len(names) {
				j = n
			}
		}
		if j < 0 {
			return nil, inputErr("%s: no column %q (columns: %s)", c.Name, c.Column, joinNames(names))
		}
		cols = []int{j}
	} else {
		row := trimEOL(dataLine)
		df := splitFields(row, delim)
		for i := range names {
			if i >= len(df) {
				break
			}
			v := fieldText(row, df[i])
			if _, ok := parseNumber(v); ok || len(v) == 0 {
				cols = append(cols, i)
			}
		}
		if len(dataLine) > 0 && len(cols) == 0 {
			return nil, inputErr("%s:%d: no numeric column (columns: %s)", c.Name, line0+1, joinNames(names))
		}
		if len(dataLine) == 0 { // header only: every column, empty
			for i := range names {
				cols = append(cols, i)
			}
		}
	}
	nfields := len(fields)
	nd := o.Op.needs()
	sc := streamConfig{
		name: c.Name, r: br, blockSize: blockBytes(c.BlockBytes), cut: lastLineCut,
		width: len(cols), line0: line0, first: dataLine,
		parse: func(b []byte, w *workerState) ([]Partial, *parseError) {
			return parseCSVBlock(b, w, delim, nfields, cols, nd)
		},
	}
	parts, err := runStream(ctx, sc, o)
	if err != nil {
		return nil, err
	}
	rows := 0
	for _, p := range parts {
		rows = max(rows, int(p.Count+p.NaN))
	}
	r := &Result{Input: Grid{Shape: []int{rows, len(cols)}, Chunks: []int{}}, Partials: parts}
	for _, j := range cols {
		r.Names = append(r.Names, names[j])
	}
	if c.Column != "" {
		r.Shape, r.Names = []int{}, nil
	} else {
		r.Shape = []int{len(cols)}
	}
	return r, nil
}

// isHeader decides whether the first line names the columns: it does when
// one of its fields is not a number while the next line has a number in
// that column (or, with no next line, when any field is not a number).
func isHeader(first, second []byte, fields []field, delim byte) bool {
	var next []field
	if len(bytes.TrimSpace(second)) > 0 {
		next = splitFields(second, delim)
	}
	for i, f := range fields {
		v := fieldText(first, f)
		if len(v) == 0 {
			continue
		}
		if _, ok := parseNumber(v); ok {
			continue
		}
		if next == nil {
			return true
		}
		if i < len(next) {
			if _, ok := parseNumber(fieldText(second, next[i])); ok {
				return true
			}
		}
	}
	return false
}

// empty is the result of an input with no lines: no values.
func (c *CSV) empty() (*Result, error) {
	return &Result{Shape: []int{}, Input: Grid{Shape: []int{0}, Chunks: []int{}}, Partials: []Partial{{}}}, nil
}

func joinNames(names []string) string {
	var b bytes.Buffer
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 8 {
			fmt.Fprintf(&b, "… %d in all", len(names))
			break
		}
		b.WriteString(strconv.Quote(n))
	}
	return b.String()
}

// readLine reads one line including its '\n' ("" at EOF).
func readLine(br *bufio.Reader) ([]byte, error) {
	l, err := br.ReadBytes('\n')
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return l, err
}

func trimEOL(l []byte) []byte {
	l = bytes.TrimSuffix(l, []byte{'\n'})
	return bytes.TrimSuffix(l, []byte{'\r'})
}

// field is the byte range of one field on its line.
type field struct{ start, end int }

// splitFields splits a line at delim outside double quotes.
func splitFields(l []byte, delim byte) []field {
	var out []field
	start, quoted := 0, false
	for i, ch := range l {
		switch {
		case ch == '"':
			quoted = !quoted
		case ch == delim && !quoted:
			out = append(out, field{start, i})
			start = i + 1
		}
	}
	return append(out, field{start, len(l)})
}

// fieldText is a field without surrounding spaces and quotes.
func fieldText(l []byte, f field) []byte {
	v := bytes.TrimSpace(l[f.start:f.end])
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = bytes.TrimSpace(v[1 : len(v)-1])
	}
	return v
}

// parseCSVBlock reduces the selected columns of the lines in b.
func parseCSVBlock(b []byte, w *workerState, delim byte, nfields int, cols []int, nd needs) ([]Partial, *parseError) {
	width := len(cols)
	if len(w.cols) < width*npBlock {
		w.cols = make([]float64, width*npBlock)
	}
	parts := make([]Partial, width)
	want := make([]int, nfields) // column -> slot+1
	for s, j := range cols {
		want[j] = s + 1
	}
	m := 0
	flush := func() {
		for s := range width {
			q := reduceBlock(w.cols[s*npBlock:s*npBlock+m], nd, w.scratch)
			parts[s].Merge(&q)
		}
		m = 0
	}
	pos := 0
	for pos < len(b) {
		end := bytes.IndexByte(b[pos:], '\n')
		if end < 0 {
			end = len(b)
		} else {
			end += pos
		}
		line := trimEOL(b[pos:end])
		lineStart := pos
		pos = end + 1
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		// Walk the fields, parsing only the selected ones.
		f, start, quoted := 0, 0, false
		for i := 0; i <= len(line); i++ {
			if i < len(line) {
				ch := line[i]
				if ch == '"' {
					quoted = !quoted
				}
				if ch != delim || quoted {
					continue
				}
			}
			if f < nfields && want[f] != 0 {
				v := fieldText(line, field{start, i})
				x := nan
				if len(v) > 0 {
					var ok bool
					if x, ok = parseNumber(v); !ok {
						return nil, &parseError{pos: lineStart + start, msg: fmt.Sprintf("malformed number %q", clip(v))}
					}
				}
				w.cols[(want[f]-1)*npBlock+m] = x
			}
			f++
			start = i + 1
		}
		if f != nfields {
			return nil, &parseError{pos: lineStart, msg: fmt.Sprintf("%d fields, want %d like the first line", f, nfields)}
		}
		m++
		if m == npBlock {
			flush()
		}
	}
	if m > 0 {
		flush()
	}
	return parts, nil
}

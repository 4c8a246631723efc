package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// CSV is delimited text with one record per line: comma- or tab-separated
// values, an optional header line, quoted fields (which may not span
// lines). Each numeric column is reduced on its own; blocks of lines are
// parsed in parallel. Nothing is dropped without a word:
//
//   - The header is detected: a first line with a field that is neither a
//     number nor a missing value, where the next line has a number.
//   - A missing value (an empty field, NA, N/A, NULL, NaN, … as pandas
//     reads them) counts as NaN.
//   - A column is numeric when its first value that is not missing is a
//     number; other columns (labels) are listed in Result.Skipped.
//   - In a numeric column, a value that is not a number is an error naming
//     file:line:column; so is an unterminated quote.
//   - A quoted number with thousands separators ("1,000", "-12,345.5") is
//     read as that number.
//   - Blank lines are skipped; a UTF-8 byte order mark is dropped.
type CSV struct {
	R    io.Reader
	Name string
	// Delimiter separates fields; 0 means ','.
	Delimiter byte
	// Column selects one column by header name or 0-based index; empty
	// reduces every numeric column.
	Column string
	// BlockBytes is the parsing block size; 0 means DefaultBlockBytes.
	BlockBytes int

	in *Input // the file R reads, when Input.CSV made it (see Plan)
}

// csvLine is a line of the prefix: its bytes (without the end of line),
// its 0-based number and where it starts in the prefix.
type csvLine struct {
	b   []byte
	no  int
	off int
}

func (c *CSV) reduce(ctx context.Context, o *Options) (*Result, error) {
	sr := newStreamReader(c.R)
	l, err := c.layout(ctx, sr, o)
	if err != nil {
		return nil, err
	}
	if l.empty {
		return emptyCSVResult(o), nil
	}
	sc := csvStream(c.Name, l.delim, l.nfields, l.cols, o.Op.needs())
	sc.r, sc.blockSize, sc.line0, sc.first = sr, l.block, l.dataStart, l.prefix[l.offset:]
	parts, err := runStream(ctx, sc, o)
	if err != nil {
		return nil, err
	}
	return l.result(o, parts), nil
}

// csvLayout is what the first lines of a CSV input decide: the header,
// the columns reduced and those skipped, where the data starts, and the
// block size.
type csvLayout struct {
	empty     bool // no line at all: no values
	delim     byte
	names     []string // every column's
	cols      []int    // the columns reduced
	column    bool     // one column asked for: a scalar result
	skipped   []SkippedColumn
	nfields   int
	dataStart int    // line where the data starts (0-based)
	prefix    []byte // the bytes read first, without a byte order mark
	bom       int    // bytes of byte order mark dropped before prefix
	read      int64  // bytes read from the stream (the prefix and its mark)
	offset    int    // where the data starts in prefix
	block     int    // block size
}

// layout reads the first block of the stream (extended to two lines that
// are not blank) and decides the layout from it.
func (c *CSV) layout(ctx context.Context, sr *streamReader, o *Options) (*csvLayout, error) {
	if len(o.Axis) > 0 {
		if red, err := o.reduced(2); err != nil || !red[0] || red[1] {
			return nil, inputErr("%s: CSV input is reduced per column (axis 0), not along axes (%s)", c.Name, FormatShape(o.Axis))
		}
	}
	l := &csvLayout{delim: c.Delimiter, column: c.Column != ""}
	if l.delim == 0 {
		l.delim = ','
	}
	delim := l.delim
	bs := blockBytes(c.BlockBytes)
	prefix, eof, err := readPrefix(ctx, sr, bs)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("compute: reading %s: %w", c.Name, err)
	}
	l.read = int64(len(prefix))
	prefix = bytes.TrimPrefix(prefix, utf8BOM)
	l.bom, l.prefix = int(l.read)-len(prefix), prefix
	lines := prefixLines(prefix, eof)
	if len(lines) == 0 && !eof {
		return nil, inputErr("%s:1: %s", c.Name, errLongLine)
	}
	var data []csvLine // the non-blank lines
	for _, l := range lines {
		if len(bytes.TrimSpace(l.b)) > 0 {
			data = append(data, l)
		}
	}
	if len(data) == 0 {
		l.empty = true
		return l, nil
	}
	for _, l := range data {
		if _, q := splitFields(l.b, delim); q >= 0 {
			return nil, inputErr("%s:%d:%d: %s", c.Name, l.no+1, q+1, errUnterminated)
		}
	}
	first := data[0]
	fields, _ := splitFields(first.b, delim)
	var second []byte
	if len(data) > 1 {
		second = data[1].b
	}
	header := isHeader(first.b, second, fields, delim)
	names := make([]string, len(fields))
	rows := data
	l.dataStart = first.no // line where the data starts
	if header {
		for i, f := range fields {
			names[i] = string(fieldText(first.b, f))
		}
		rows = data[1:]
		l.dataStart = first.no + 1
	} else {
		for i := range names {
			names[i] = strconv.Itoa(i)
		}
	}
	kinds, skipped := classify(rows, names, delim)
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
		cols, skipped = []int{j}, nil
	} else {
		for i, k := range kinds {
			if k != kindLabel {
				cols = append(cols, i)
			}
		}
		if len(cols) == 0 {
			return nil, inputErr("%s:%d: no numeric column (columns: %s)", c.Name, rows[0].no+1, joinNames(names))
		}
	}
	// The stream starts at the data's first line, with the rest of the
	// prefix already read.
	l.offset = len(prefix)
	for _, ln := range lines {
		if ln.no == l.dataStart {
			l.offset = ln.off
			break
		}
	}
	for i := range skipped {
		skipped[i].Name = names[skipped[i].Index]
	}
	l.names, l.cols, l.skipped, l.nfields = names, cols, skipped, len(fields)
	l.block = max(bs, 4*len(first.b))
	return l, nil
}

// csvStream is how CSV data is cut (at newlines) and parsed: the columns
// cols of lines of nfields fields.
func csvStream(name string, delim byte, nfields int, cols []int, nd needs) streamConfig {
	want := make([]int, nfields) // column -> slot+1
	for s, j := range cols {
		want[j] = s + 1
	}
	width := len(cols)
	return streamConfig{name: name, width: width, cut: lastLineCut, maxRun: maxLine, runMsg: errLongLine,
		parse: func(b []byte, w *workerState) ([]Partial, *parseError) {
			return parseCSVBlock(b, w, delim, want, width, nd)
		}}
}

// result is the result of the reduced partials, one per column.
func (l *csvLayout) result(o *Options, parts []Partial) *Result {
	nrows := 0
	for _, p := range parts {
		nrows = max(nrows, int(p.Count+p.NaN))
	}
	shape := []int{len(l.cols)}
	if l.column {
		shape = []int{}
	}
	r := newResult(o, shape, true)
	r.Input = Grid{Shape: []int{nrows, len(l.cols)}, Chunks: []int{}}
	for i := range parts {
		r.set(i, &parts[i])
	}
	if !l.column {
		for _, j := range l.cols {
			r.Names = append(r.Names, l.names[j])
		}
	}
	r.Skipped = l.skipped
	return r
}

// emptyCSVResult is the result of CSV input without a line: no values.
func emptyCSVResult(o *Options) *Result {
	r := newResult(o, []int{}, true)
	r.Input = Grid{Shape: []int{0}, Chunks: []int{}}
	r.set(0, &Partial{})
	return r
}

const errUnterminated = "unterminated quoted field (a quoted field may not span lines)"

// readPrefix reads the first block of a stream, extended until it holds
// two whole lines that are not blank (for the header and a first data
// line), the end of the stream, or maxLine bytes.
func readPrefix(ctx context.Context, sr *streamReader, bs int) ([]byte, bool, error) {
	var b []byte
	for {
		n := len(b)
		b = append(b, make([]byte, bs)...)
		m, err := sr.readFull(ctx, b[n:])
		b = b[:n+m]
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return b, true, nil
		case err != nil:
			return nil, false, err
		}
		full := 0
		for _, l := range prefixLines(b, false) {
			if len(bytes.TrimSpace(l.b)) > 0 {
				full++
			}
		}
		if full >= 2 || len(b) > maxLine {
			return b, false, nil
		}
	}
}

// prefixLines splits a prefix into its whole lines (and, at the end of the
// stream, the last one without its newline).
func prefixLines(p []byte, eof bool) []csvLine {
	var lines []csvLine
	for off, no := 0, 0; off < len(p); no++ {
		i := bytes.IndexByte(p[off:], '\n')
		if i < 0 {
			if eof {
				lines = append(lines, csvLine{trimEOL(p[off:]), no, off})
			}
			break
		}
		lines = append(lines, csvLine{trimEOL(p[off : off+i]), no, off})
		off += i + 1
	}
	return lines
}

// Column kinds, from the first value that is not missing.
const (
	kindUnknown = iota // only missing values so far: numeric
	kindNumber
	kindLabel
)

// classify decides each column's kind from the first rows.
func classify(rows []csvLine, names []string, delim byte) ([]int, []SkippedColumn) {
	kinds := make([]int, len(names))
	left := len(names)
	var skipped []SkippedColumn
	for _, l := range rows {
		if left == 0 {
			break
		}
		fields, _ := splitFields(l.b, delim)
		for i, f := range fields {
			if i >= len(kinds) || kinds[i] != kindUnknown {
				continue
			}
			switch k, _, _ := csvValue(l.b[f.start:f.end]); k {
			case valMissing:
				continue
			case valNumber:
				kinds[i] = kindNumber
			default:
				kinds[i] = kindLabel
				skipped = append(skipped, SkippedColumn{Index: i, Value: clip(fieldText(l.b, f)), Line: l.no + 1, Col: f.start + 1})
			}
			left--
		}
	}
	return kinds, skipped
}

// isHeader decides whether the first line names the columns: it does when
// one of its fields is neither a number nor a missing value while the next
// line has a number in that column (or, with no next line, when any field
// is neither).
func isHeader(first, second []byte, fields []field, delim byte) bool {
	var next []field
	if len(bytes.TrimSpace(second)) > 0 {
		next, _ = splitFields(second, delim)
	}
	for i, f := range fields {
		if k, _, _ := csvValue(first[f.start:f.end]); k != valText {
			continue
		}
		if next == nil {
			return true
		}
		if i < len(next) {
			if k, _, _ := csvValue(second[next[i].start:next[i].end]); k == valNumber {
				return true
			}
		}
	}
	return false
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

func trimEOL(l []byte) []byte {
	l = bytes.TrimSuffix(l, []byte{'\n'})
	return bytes.TrimSuffix(l, []byte{'\r'})
}

// field is the byte range of one field on its line.
type field struct{ start, end int }

// splitFields splits a line at delim outside double quotes; open is the
// position of a quote left open at the end of the line, or -1.
func splitFields(l []byte, delim byte) (fields []field, open int) {
	start, quoted, q := 0, false, -1
	for i, ch := range l {
		switch {
		case ch == '"':
			quoted = !quoted
			if quoted {
				q = i
			}
		case ch == delim && !quoted:
			fields = append(fields, field{start, i})
			start = i + 1
		}
	}
	if !quoted {
		q = -1
	}
	return append(fields, field{start, len(l)}), q
}

// fieldText is a field without surrounding spaces and quotes.
func fieldText(l []byte, f field) []byte {
	v, _ := unquote(l[f.start:f.end])
	return v
}

func unquote(raw []byte) ([]byte, bool) {
	v := bytes.TrimSpace(raw)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return bytes.TrimSpace(v[1 : len(v)-1]), true
	}
	return v, false
}

// What a CSV field holds.
const (
	valNumber = iota
	valMissing
	valText
)

// csvValue reads a raw field: a number (with its exact integer value when
// it is written as one), a missing value, or text.
func csvValue(raw []byte) (kind int, f float64, iv *Int128) {
	v, quoted := unquote(raw)
	if len(v) > maxToken {
		return valText, 0, nil
	}
	if i, ok := parseIntToken(v); ok {
		return valNumber, i.Float64(), &i
	}
	if x, ok := parseNumber(v); ok {
		return valNumber, x, nil
	}
	if isMissing(v) {
		return valMissing, nan, nil
	}
	if quoted {
		if x, i, ok := parseGrouped(v); ok {
			return valNumber, x, i
		}
	}
	return valText, 0, nil
}

// isMissing reports whether a field is a missing value as pandas reads them
// by default (its na_values), empty included.
func isMissing(v []byte) bool {
	switch string(v) {
	case "", "NA", "N/A", "n/a", "NULL", "null", "None", "#N/A", "#N/A N/A", "#NA", "<NA>",
		"-1.#IND", "1.#IND", "-1.#QNAN", "1.#QNAN", "-NaN", "-nan", "NaN", "nan":
		return true
	}
	return false
}

// parseGrouped reads a number with thousands separators: an optional sign,
// 1 to 3 digits, groups of a comma and exactly 3 digits, an optional
// fraction ("1,000", "-12,345.5").
func parseGrouped(v []byte) (float64, *Int128, bool) {
	i := 0
	if len(v) > 0 && (v[0] == '-' || v[0] == '+') {
		i++
	}
	lead := 0
	for i+lead < len(v) && v[i+lead]-'0' < 10 {
		lead++
	}
	if lead < 1 || lead > 3 {
		return 0, nil, false
	}
	plain := append([]byte(nil), v[:i+lead]...)
	j, groups := i+lead, 0
	for j < len(v) && v[j] == ',' {
		if j+4 > len(v) {
			return 0, nil, false
		}
		for _, d := range v[j+1 : j+4] {
			if d-'0' >= 10 {
				return 0, nil, false
			}
		}
		plain = append(plain, v[j+1:j+4]...)
		j += 4
		groups++
	}
	if groups == 0 || (j < len(v) && v[j] != '.') {
		return 0, nil, false
	}
	plain = append(plain, v[j:]...)
	if iv, ok := parseIntToken(plain); ok {
		return iv.Float64(), &iv, true
	}
	x, ok := parseNumber(plain)
	return x, nil, ok
}

// parseCSVBlock reduces the selected columns (want: column -> slot+1) of the
// lines in b. Values are buffered per column for the block kernel, in
// batches of rows sized so that the buffer stays near a million values
// however wide the file.
func parseCSVBlock(b []byte, w *workerState, delim byte, want []int, width int, nd needs) ([]Partial, *parseError) {
	const budget = 1 << 20
	rows := max(1, min(npBlock, budget/max(width, 1)))
	if len(w.csvBuf) < width*rows {
		w.csvBuf = make([]float64, width*rows)
	}
	buf := w.csvBuf
	parts := make([]Partial, width)
	ints := make([]intAcc, width)
	m := 0
	flush := func() {
		for s := range width {
			q := reduceBlock(buf[s*rows:s*rows+m], nd, w.scratch)
			parts[s].Merge(&q)
		}
		m = 0
	}
	nfields := len(want)
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
		f, start, quoted, q := 0, 0, false, 0
		for i := 0; i <= len(line); i++ {
			if i < len(line) {
				ch := line[i]
				if ch == '"' {
					quoted = !quoted
					if quoted {
						q = i
					}
				}
				if ch != delim || quoted {
					continue
				}
			} else if quoted {
				return nil, &parseError{pos: lineStart + q, msg: errUnterminated}
			}
			if f < nfields && want[f] != 0 {
				s := want[f] - 1
				kind, x, iv := csvValue(line[start:i])
				switch kind {
				case valText:
					return nil, &parseError{pos: lineStart + start, msg: fmt.Sprintf("malformed number %q", clip(fieldText(line, field{start, i})))}
				case valNumber:
					if iv != nil {
						ints[s].add(*iv)
					} else if x == x {
						ints[s].frac = true
					}
				}
				buf[s*rows+m] = x
			}
			f++
			start = i + 1
		}
		if f != nfields {
			return nil, &parseError{pos: lineStart, msg: fmt.Sprintf("%d fields, want %d like the first line", f, nfields)}
		}
		m++
		if m == rows {
			flush()
		}
	}
	if m > 0 {
		flush()
	}
	for s := range parts {
		ints[s].apply(&parts[s])
	}
	return parts, nil
}

package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
)

// The tasks of a text or CSV file are runs of the blocks a local run cuts
// the file into (runStream, readBlocks). In the file's coordinates those
// blocks are fixed by the data alone: with the data starting at Start and
// the first Read bytes read before cutting, read j (1, 2, …) ends at
// R_j = Read + j·Block, and block j-1 ends where the last separator before
// R_j ends — or holds nothing when there is none since the block before
// (the local run then reads on; a run longer than the limit is an error
// at its start) — and the last block ends at the end of the file. A worker
// finds the same boundaries from the same bytes, parses each block as the
// local run does, and the client merges the blocks' partials in file order,
// from the first, as runStream does.

func (t *Text) plan(_ context.Context, o *Options, po PlanOptions) (*Plan, error) {
	col, err := t.check(o)
	if err != nil {
		return nil, err
	}
	in, err := plannedFile(t.in, t.Name)
	if err != nil {
		return nil, err
	}
	start, err := bomLen(in.file)
	if err != nil {
		return nil, fmt.Errorf("compute: reading %s: %w", t.Name, err)
	}
	ss := &StreamSpec{Start: start, Block: int64(blockBytes(t.BlockBytes)), Column: col}
	return planStream(SourceSpec{Kind: "text", Path: in.path, Size: in.size}, ss, o, po, 1,
		func(parts []Partial) *Result { return textResult(o, parts) })
}

func (c *CSV) plan(ctx context.Context, o *Options, po PlanOptions) (*Plan, error) {
	in, err := plannedFile(c.in, c.Name)
	if err != nil {
		return nil, err
	}
	l, err := c.layout(ctx, newStreamReader(io.NewSectionReader(in.file, 0, in.size)), o)
	if err != nil {
		return nil, err
	}
	src := SourceSpec{Kind: "csv", Path: in.path, Size: in.size}
	if l.empty {
		return newPlan(jobSpec(o, src), o, 0, fixedResult{emptyCSVResult(o)}), nil
	}
	ss := &StreamSpec{Start: int64(l.bom + l.offset), Read: l.read, Block: int64(l.block), Column: -1,
		Delimiter: string(l.delim), Fields: l.nfields, Columns: columnRuns(l.cols)}
	return planStream(src, ss, o, po, len(l.cols), func(parts []Partial) *Result { return l.result(o, parts) })
}

// plannedFile is the regular file, opened by path, that a text or CSV
// source reads: other processes can open it too.
func plannedFile(in *Input, name string) (*Input, error) {
	if in == nil || in.path == "" || in.base != 0 {
		return nil, inputErr("%s: other processes cannot read a stream: give the path of a file", name)
	}
	return in, nil
}

// bomLen is the length of a UTF-8 byte order mark at the start of f.
func bomLen(f *os.File) (int64, error) {
	b := make([]byte, len(utf8BOM))
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if bytes.Equal(b[:n], utf8BOM) {
		return int64(n), nil
	}
	return 0, nil
}

// columnRuns writes increasing column indices as runs [from, to).
func columnRuns(cols []int) [][2]int {
	var runs [][2]int
	for _, c := range cols {
		if n := len(runs); n > 0 && runs[n-1][1] == c {
			runs[n-1][1]++
			continue
		}
		runs = append(runs, [2]int{c, c + 1})
	}
	return runs
}

// planStream counts the blocks and groups them into tasks.
func planStream(src SourceSpec, ss *StreamSpec, o *Options, po PlanOptions, width int, finish func([]Partial) *Result) (*Plan, error) {
	ss.Blocks = int((src.Size-ss.Read)/ss.Block) + 1
	tb := po.TaskBytes
	if tb <= 0 {
		tb = DefaultTaskBytes
	}
	ss.PerTask = max(1, tb/int(ss.Block))
	src.Stream = ss
	n := (ss.Blocks + ss.PerTask - 1) / ss.PerTask
	asm := &streamAssembler{ss: ss, width: width, finish: finish, pending: map[int][][]Partial{}, acc: make([]Partial, width)}
	return newPlan(jobSpec(o, src), o, n, asm), nil
}

// span is the blocks [b0, b1) of task.
func (ss *StreamSpec) span(task int) (b0, b1 int) {
	b0 = task * ss.PerTask
	return b0, min(b0+ss.PerTask, ss.Blocks)
}

// readEnd is where read j ends (R_j).
func (ss *StreamSpec) readEnd(j int) int64 { return ss.Read + int64(j)*ss.Block }

// streamAssembler merges the blocks' partials in file order as they become
// available, holding the tasks that arrive ahead of their turn.
type streamAssembler struct {
	ss     *StreamSpec
	width  int
	finish func([]Partial) *Result

	mu      sync.Mutex
	pending map[int][][]Partial
	next    int // the next task to merge
	acc     []Partial
}

func (a *streamAssembler) add(task int, pieces [][]Partial) error {
	b0, b1 := a.ss.span(task)
	if err := checkPieces(pieces, b1-b0, func(int) int { return a.width }, func(int) bool { return true }); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pending[task] = pieces
	for {
		ps, ok := a.pending[a.next]
		if !ok {
			return nil
		}
		delete(a.pending, a.next)
		for _, block := range ps {
			for j := range block {
				a.acc[j].Merge(&block[j])
			}
		}
		a.next++
	}
}

func (a *streamAssembler) result() (*Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.finish(a.acc), nil
}

func (a *streamAssembler) describe(task int) string {
	b0, b1 := a.ss.span(task)
	if b1-b0 == 1 {
		return fmt.Sprintf("chunk %d (block %d of %d)", task, b0, a.ss.Blocks)
	}
	return fmt.Sprintf("chunk %d (blocks %d-%d of %d)", task, b0, b1-1, a.ss.Blocks)
}

// config is how blocks of s are cut and parsed.
func (ss *StreamSpec) config(s *SourceSpec, nd needs) (streamConfig, error) {
	switch s.Kind {
	case "text":
		return textStream(s.Path, ss.Column, nd), nil
	case "csv":
		if len(ss.Delimiter) != 1 {
			return streamConfig{}, fmt.Errorf("compute: CSV delimiter %q is not one byte", ss.Delimiter)
		}
		var cols []int
		for _, r := range ss.Columns {
			if r[0] < 0 || r[1] > ss.Fields || r[0] >= r[1] || (len(cols) > 0 && r[0] < cols[len(cols)-1]) {
				return streamConfig{}, fmt.Errorf("compute: CSV columns %v do not fit %d fields", ss.Columns, ss.Fields)
			}
			for c := r[0]; c < r[1]; c++ {
				cols = append(cols, c)
			}
		}
		return csvStream(s.Path, ss.Delimiter[0], ss.Fields, cols, nd), nil
	}
	return streamConfig{}, fmt.Errorf("compute: %q is not a stream kind", s.Kind)
}

// runStreamTask parses the blocks of task: it finds their boundaries in
// the file, reads them in one piece and parses each. The first malformed
// value or over-long run is an error naming file:line:column, as a local
// run names it.
func runStreamTask(ctx context.Context, s *SourceSpec, task int, nd needs, w *workerState) ([][]Partial, error) {
	ss := s.Stream
	if ss == nil || ss.Block <= 0 || ss.PerTask <= 0 || ss.Start < 0 || ss.Read < 0 {
		return nil, fmt.Errorf("compute: a %s task without a valid block layout", s.Kind)
	}
	if task < 0 || task*ss.PerTask >= ss.Blocks {
		return nil, fmt.Errorf("compute: task %d is not in the plan (%d blocks of %d per task)", task, ss.Blocks, ss.PerTask)
	}
	sc, err := ss.config(s, nd)
	if err != nil {
		return nil, err
	}
	f, err := openRead(ctx, s.Path)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, inputErrWrap(err, "%s", pathError(s.Path, err))
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, fmt.Errorf("compute: %s: %w", s.Path, err)
	case !st.Mode().IsRegular():
		return nil, fileDiffers(s.Path, "not a regular file here")
	case st.Size() != s.Size:
		return nil, fileDiffers(s.Path, fmt.Sprintf("%d bytes here, %d on the client", st.Size(), s.Size))
	}
	sf := &streamFile{f: f, name: s.Path, start: ss.Start}
	b0, b1 := ss.span(task)
	cur := ss.Start // where the next block starts
	if b0 > 0 {
		if cur, err = sf.lastCut(sc.cut, ss.readEnd(b0)); err != nil {
			return nil, err
		}
	}
	// buf holds the bytes from cur on, read a block's worth at a time, as a
	// local run reads them: memory stays at about one block.
	buf := w.raw[:0]
	defer func() { w.raw = buf[:0] }()
	pieces := make([][]Partial, b1-b0)
	for i := b0; i < b1; i++ {
		if err := checkCtx(ctx); err != nil {
			return nil, err
		}
		last := i+1 == ss.Blocks
		r := s.Size
		if !last {
			r = ss.readEnd(i + 1)
		}
		have := int64(len(buf))
		buf = slices.Grow(buf, int(r-cur-have))[:r-cur]
		if err := sf.readAt(buf[have:], cur+have); err != nil {
			return nil, err
		}
		end := r
		if !last {
			c := sc.cut(buf)
			switch {
			case c >= 0:
				end = cur + int64(c)
			case r-cur > int64(sc.maxRun):
				return nil, sf.errorAt(cur, sc.runMsg)
			default:
				end = cur // no separator since the last block: nothing ends here
			}
		}
		if end > cur {
			res := parseBlock(textBlock{k: i, data: buf[:end-cur]}, sc, w)
			switch {
			case res.fatal != nil:
				return nil, res.fatal
			case res.err != nil:
				return nil, sf.errorAt(cur+int64(res.err.pos), res.err.msg)
			}
			pieces[i-b0] = res.parts
		}
		buf = buf[:copy(buf, buf[end-cur:])]
		cur = end
	}
	return pieces, nil
}

// streamFile reads a text or CSV file at offsets for a task.
type streamFile struct {
	f     *os.File
	name  string
	start int64 // where the data starts
}

func (s *streamFile) readAt(b []byte, off int64) error {
	if _, err := s.f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fileDiffers(s.name, "shorter here than on the client")
		}
		return fmt.Errorf("compute: reading %s: %w", s.name, err)
	}
	return nil
}

// lastCut is where the last separator before r ends (cut's answer over
// [start, r)), or start when there is none.
func (s *streamFile) lastCut(cut func([]byte) int, r int64) (int64, error) {
	const window = 64 << 10
	buf := make([]byte, window)
	for r > s.start {
		from := max(s.start, r-window)
		b := buf[:r-from]
		if err := s.readAt(b, from); err != nil {
			return 0, err
		}
		if c := cut(b); c >= 0 {
			return from + int64(c), nil
		}
		r = from
	}
	return s.start, nil
}

// errorAt is the input error msg at byte pos: file:line:column, counted as
// a local run counts them (columns after a byte order mark on line 1).
func (s *streamFile) errorAt(pos int64, msg string) error {
	line, lineStart := 1, int64(0)
	if n, err := bomLen(s.f); err == nil {
		lineStart = n
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < pos; {
		b := buf[:min(int64(len(buf)), pos-off)]
		if err := s.readAt(b, off); err != nil {
			return err
		}
		for i := 0; ; {
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				break
			}
			i += j + 1
			line++
			lineStart = off + int64(i)
		}
		off += int64(len(b))
	}
	return inputErr("%s:%d:%d: %s", s.name, line, pos-lineStart+1, msg)
}

package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// DefaultBlockBytes is the size of the blocks text and CSV input is cut
// into for parallel parsing.
const DefaultBlockBytes = 1 << 20

// maxToken bounds a number's text: no float64 needs more than about 1100
// characters to be written exactly (the 1074 fraction digits of the smallest
// subnormal, a sign, "0." and an exponent), and no integer more than 20, so a
// longer token is an error, found without reading the rest of it.
const maxToken = 4096

// maxLine bounds a CSV line (a million columns of short numbers fit).
const maxLine = 64 << 20

// textBlock is a piece of a text stream cut at a separator, so that no
// token straddles two blocks.
type textBlock struct {
	k    int
	data []byte
	col  int // bytes on the block's first line that came before it
	buf  *[]byte
	long string // set: data is the start of a run without separator longer than the limit
}

// blockResult is what a worker makes of a block.
type blockResult struct {
	k     int
	parts []Partial
	lines int // newlines in the block
	err   *parseError
	line  int // of err, within the block (0-based)
	col   int // of err, on its line (0-based, including the block's col)
	fatal error
}

// parseError locates a malformed token within its block.
type parseError struct {
	pos int    // byte offset in the block
	msg string // what is wrong
}

// blockParser parses one block into partials.
type blockParser func(b []byte, w *workerState) ([]Partial, *parseError)

// streamConfig describes how a stream is cut and parsed.
type streamConfig struct {
	name      string
	r         *streamReader
	blockSize int
	// cut returns the length of the prefix of b that ends at a separator
	// (b is not the end of the stream); -1 when there is none.
	cut func(b []byte) int
	// maxRun is the longest run without a separator (a token, a line);
	// longer is the error runMsg, at the run's start.
	maxRun   int
	runMsg   string
	stripBOM bool // drop a UTF-8 byte order mark at the start
	parse    blockParser
	width    int    // partials per block
	line0    int    // lines consumed before the stream (a CSV header)
	first    []byte // bytes already read that come first
}

// runStream cuts a stream into blocks, parses and reduces them on workers,
// and merges the block partials in stream order (a fixed left-to-right
// tree). Memory: about 2×workers blocks. A malformed token is reported with
// its line and column, the first one in stream order.
func runStream(ctx context.Context, sc streamConfig, o *Options) ([]Partial, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := o.workers()
	nbuf := 2*workers + 1
	pool := make(chan *[]byte, nbuf)
	for range nbuf {
		b := make([]byte, 0, sc.blockSize)
		pool <- &b
	}
	blocks := make(chan textBlock)
	results := make(chan blockResult, nbuf)
	var readErr error
	var wg sync.WaitGroup

	// Reader: fixed-size reads cut at the last separator, so the blocks
	// (and so the result's bits) do not depend on how the OS delivers data.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(blocks)
		readErr = readBlocks(ctx, sc, pool, blocks)
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &workerState{buf: make([]float64, npBlock), scratch: make([]float64, npBlock)}
			for b := range blocks {
				res := parseBlock(b, sc, w)
				pool <- b.buf
				select {
				case results <- res:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	acc := make([]Partial, sc.width)
	pending := map[int]blockResult{}
	next, lines, done := 0, sc.line0, 0
	var firstErr error
	for res := range results {
		if firstErr != nil {
			continue // drain
		}
		pending[res.k] = res
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			if r.fatal != nil {
				firstErr = r.fatal
				cancel()
				break
			}
			if r.err != nil {
				firstErr = inputErr("%s:%d:%d: %s", sc.name, lines+r.line+1, r.col+1, r.err.msg)
				cancel()
				break
			}
			for j := range acc {
				acc[j].Merge(&r.parts[j])
			}
			lines += r.lines
			next++
			done++
			if o.Progress != nil {
				o.Progress(done, 0)
			}
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if readErr != nil {
		return nil, readErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return acc, nil
}

// readBlocks is the reader loop of runStream.
func readBlocks(ctx context.Context, sc streamConfig, pool chan *[]byte, blocks chan<- textBlock) error {
	carry := append([]byte(nil), sc.first...)
	col := 0
	eof := false
	for k := 0; !eof; k++ {
		var bp *[]byte
		select {
		case bp = <-pool:
		case <-ctx.Done():
			return nil
		}
		b := append((*bp)[:0], carry...)
		need := len(b) + sc.blockSize
		if cap(b) < need {
			nb := make([]byte, len(b), need)
			copy(nb, b)
			b = nb
		}
		n, err := sc.r.readFull(ctx, b[len(b):need])
		b = b[:len(carry)+n]
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			eof = true
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			return fmt.Errorf("compute: reading %s: %w", sc.name, err)
		}
		if k == 0 && sc.stripBOM && bytes.HasPrefix(b, utf8BOM) {
			b = b[:copy(b, b[len(utf8BOM):])]
		}
		end := len(b)
		if !eof {
			if c := sc.cut(b); c >= 0 {
				end = c
			} else if len(b) > sc.maxRun {
				// The run starts the block: report it there, in order.
				*bp = b
				blk := textBlock{k: k, data: b[:0], col: col, buf: bp, long: sc.runMsg}
				select {
				case blocks <- blk:
				case <-ctx.Done():
				}
				return nil
			} else {
				// No separator yet: grow the carry and read on.
				carry = append(carry[:0], b...)
				*bp = b[:0]
				pool <- bp
				k--
				continue
			}
		}
		carry = append(carry[:0], b[end:]...)
		*bp = b
		blk := textBlock{k: k, data: b[:end], col: col, buf: bp}
		if i := bytes.LastIndexByte(blk.data, '\n'); i >= 0 {
			col = end - i - 1
		} else {
			col += end
		}
		select {
		case blocks <- blk:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// parseBlock runs the parser on one block, turning a panic into an error.
func parseBlock(b textBlock, sc streamConfig, w *workerState) (res blockResult) {
	res.k = b.k
	if b.long != "" {
		res.err, res.col = &parseError{msg: b.long}, b.col
		return res
	}
	defer func() {
		if r := recover(); r != nil {
			res.fatal = fmt.Errorf("compute: block %d of %s: panic: %v", b.k, sc.name, r)
		}
	}()
	res.parts, res.err = sc.parse(b.data, w)
	res.lines = bytes.Count(b.data, []byte{'\n'})
	if e := res.err; e != nil {
		res.line = bytes.Count(b.data[:e.pos], []byte{'\n'})
		res.col = e.pos - (bytes.LastIndexByte(b.data[:e.pos], '\n') + 1)
		if res.line == 0 {
			res.col += b.col
		}
	}
	return res
}

// utf8BOM is the byte order mark some editors write at the start of UTF-8 text.
var utf8BOM = []byte("\xef\xbb\xbf")

// lastSpaceCut cuts after the last whitespace byte.
func lastSpaceCut(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if spaceTab[b[i]] {
			return i + 1
		}
	}
	return -1
}

// lastLineCut cuts after the last newline.
func lastLineCut(b []byte) int {
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		return -1
	}
	return i + 1
}

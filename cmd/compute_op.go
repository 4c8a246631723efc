package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/compute"
	"github.com/dsys-dev/dsys/compute/npy"
)

// computeOptions are the flags of `dsys compute OP`.
type computeOptions struct {
	op         compute.Op
	input      string // "" random, "-" stdin, else a path
	shape      []int
	chunks     []int
	axis       []int
	ddof       int
	skipNaN    bool
	seed       uint64
	dist       compute.Dist
	rng        compute.RNG
	daskCompat bool
	format     string
	dtype      string
	column     string
	delimiter  byte
	out        string
	shapeSet   bool
	chunksSet  bool
}

var opHelp = map[compute.Op]string{
	compute.Mean:  "Arithmetic mean",
	compute.Sum:   "Sum",
	compute.Min:   "Minimum",
	compute.Max:   "Maximum",
	compute.Var:   "Variance (divisor N-ddof)",
	compute.Std:   "Standard deviation (divisor N-ddof)",
	compute.Count: "Number of values (non-NaN ones with --skipna)",
	compute.Stats: "Count, mean, std, min and max in one pass",
}

const computeLong = `%s of an array, reduced chunk by chunk in parallel.

Input (FILE or - for stdin):
  none           a lazily generated random array (--shape, --chunks, --seed,
                 --dist, --rng); default 10000,10000 in 1000,1000 chunks
  .npy           NumPy files, versions 1.0-3.0; f8 f4 f2 i8 i4 i2 i1 u8 u4 u2
                 u1 b1 in either byte order, C or Fortran order, any rank
  .csv, .tsv     delimited text; every numeric column is reduced on its own
                 (or --column NAME|INDEX); a header line is detected
  text           numbers separated by whitespace or newlines (the default
                 for stdin and other files)
  --format raw   raw binary values: --dtype f8 --shape R,C

Results print as the shortest string that reads back as the same float64 (as
Python prints them). With --axis, one value per line, or --out FILE.npy.
--rng dask reproduces Dask's da.random.seed(N); da.random.random(shape,
chunks) values; add --dask-compat and mean and sum print Dask's very digits.`

func newComputeOpCmd(app *App, op compute.Op) *cobra.Command {
	var (
		shape, chunks, dist, rng, delimiter string
		axis                                int
	)
	opts := &computeOptions{op: op}
	c := &cobra.Command{
		Use:   op.String() + " [FILE|-]",
		Short: opHelp[op],
		Long:  fmt.Sprintf(computeLong, opHelp[op]),
		Example: `  dsys compute ` + op.String() + `                         # the 10000×10000 random array
  dsys compute ` + op.String() + ` --rng dask --dask-compat --seed 1
  dsys compute ` + op.String() + ` data.npy --axis 0 --out col.npy
  seq 1 10000000 | dsys compute ` + op.String() + `
  dsys compute ` + op.String() + ` prices.csv --column close`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.input = args[0]
			} else if !randomFlagSet(c) && stdinHasData(app.IO.In) {
				opts.input = "-" // seq 1 10 | dsys compute mean
			}
			var err error
			if c.Flags().Changed("shape") || opts.input == "" {
				if opts.shape, err = compute.ParseShape(shape); err != nil {
					return usageErrorf("--shape: %s", trimComputePrefix(err))
				}
			}
			switch {
			case c.Flags().Changed("chunks"):
				if opts.chunks, err = compute.ParseShape(chunks); err != nil {
					return usageErrorf("--chunks: %s", trimComputePrefix(err))
				}
			case opts.input == "":
				opts.chunks = defaultChunks(opts.shape)
			}
			if c.Flags().Changed("axis") {
				opts.axis = []int{axis}
			}
			if opts.ddof < 0 {
				return usageErrorf("--ddof: must be 0 or more, got %d", opts.ddof)
			}
			if opts.dist, err = compute.ParseDist(dist); err != nil {
				return usageErrorf("--dist: %s", trimComputePrefix(err))
			}
			if opts.rng, err = compute.ParseRNG(rng); err != nil {
				return usageErrorf("--rng: %s", trimComputePrefix(err))
			}
			if opts.daskCompat && opts.rng != compute.DaskRNG && opts.input == "" {
				app.Log.Warn("--dask-compat without --rng dask: Dask's summation order, but not Dask's values")
			}
			if delimiter != "" {
				switch delimiter {
				case `\t`, "tab", "\t":
					opts.delimiter = '\t'
				default:
					if len(delimiter) != 1 {
						return usageErrorf("--delimiter: want one character (or \\t), got %q", delimiter)
					}
					opts.delimiter = delimiter[0]
				}
			}
			if opts.out != "" && op == compute.Stats {
				return usageErrorf("--out: stats has several values per element; use mean, std, ... with --out")
			}
			switch opts.format {
			case "", "npy", "csv", "tsv", "raw", "text":
			default:
				return usageErrorf("--format: want npy, csv, tsv, raw or text, got %q", opts.format)
			}
			if opts.input != "" {
				for _, f := range randomOnlyFlags {
					if c.Flags().Changed(f) {
						return usageErrorf("--%s applies to the random array, not to an input file", f)
					}
				}
			}
			opts.shapeSet, opts.chunksSet = c.Flags().Changed("shape"), c.Flags().Changed("chunks")
			return runCompute(c.Context(), app, opts)
		},
	}
	f := c.Flags()
	f.StringVar(&shape, "shape", "10000,10000", "array shape of the random array or of --format raw, e.g. 10000,10000")
	f.StringVar(&chunks, "chunks", "1000,1000", "chunk shape; edge chunks are smaller when it does not divide the shape (default for files: contiguous chunks of compute.chunk_bytes)")
	f.IntVar(&axis, "axis", 0, "reduce along this axis only (negative counts from the end); the result is an array")
	f.BoolVar(&opts.skipNaN, "skipna", false, "ignore NaN values (like numpy.nanmean); without it NaN propagates")
	f.Uint64Var(&opts.seed, "seed", 0, "random seed: the same seed, shape and chunks give the same values with any --workers")
	f.StringVar(&dist, "dist", "uniform", "random distribution: uniform ([0,1)) or normal (standard)")
	f.StringVar(&rng, "rng", "fast", "random generator: fast, or dask (Dask's legacy RandomState values: uniform bit for bit, normal to within 3 ulp)")
	f.BoolVar(&opts.daskCompat, "dask-compat", false, "sum and combine like NumPy 1.24 / Dask 2022.12, so mean and sum print Dask's digits")
	f.Int("workers", 0, "chunks reduced in parallel (default: compute.workers, the number of CPUs)")
	f.StringVar(&opts.format, "format", "", "input format: npy, csv, tsv, raw or text (default: from the file name; text for stdin)")
	f.StringVar(&opts.dtype, "dtype", "f8", "dtype of --format raw: f8 f4 f2 i8 i4 i2 i1 u8 u4 u2 u1 b1, '>' prefix for big-endian")
	f.StringVar(&opts.column, "column", "", "CSV/TSV: reduce only this column, by header name or 0-based index")
	f.StringVar(&delimiter, "delimiter", "", `CSV field delimiter (default "," for csv, "\t" for tsv)`)
	f.StringVar(&opts.out, "out", "", "write the result array to this .npy file (v1.0, '<f8'), atomically")
	if op == compute.Var || op == compute.Std || op == compute.Stats {
		f.IntVar(&opts.ddof, "ddof", 0, "delta degrees of freedom: the divisor is N-ddof (0 as NumPy; 1 for the sample variance)")
	}
	bindFlag(c, "workers", "compute.workers")
	return c
}

// randomOnlyFlags only make sense for the random array.
var randomOnlyFlags = []string{"seed", "dist", "rng", "dask-compat"}

// randomFlagSet reports whether a flag that only makes sense for the random
// array was given: then a piped stdin is not read.
func randomFlagSet(c *cobra.Command) bool {
	for _, f := range randomOnlyFlags {
		if c.Flags().Changed(f) {
			return true
		}
	}
	return c.Flags().Changed("shape") && !c.Flags().Changed("format")
}

// stdinHasData reports whether stdin is a pipe or a regular file (so that
// "seq 1 10 | dsys compute mean" reads it) rather than a terminal or
// /dev/null. In-process tests pass readers; a zero-length one counts as none.
func stdinHasData(in io.Reader) bool {
	switch r := in.(type) {
	case *os.File:
		st, err := r.Stat()
		if err != nil {
			return false
		}
		m := st.Mode()
		return m&os.ModeNamedPipe != 0 || m.IsRegular() || m&os.ModeSocket != 0
	case interface{ Len() int }:
		return r.Len() > 0
	case nil:
		return false
	}
	return true
}

// defaultChunks is 1000 along every axis (the seed job's chunking).
func defaultChunks(shape []int) []int {
	c := make([]int, len(shape))
	for i := range c {
		c[i] = 1000
	}
	return c
}

// computeSource opens what opts describe. The closer releases files.
func computeSource(app *App, opts *computeOptions) (compute.Source, func(), error) {
	noop := func() {}
	cfg := app.Config.Compute
	fo := compute.FileOptions{Chunks: opts.chunks, ChunkBytes: int(cfg.ChunkBytes)}
	if opts.input == "" {
		if opts.format != "" {
			return nil, noop, usageErrorf("--format %s needs an input file or - for stdin", opts.format)
		}
		r, err := compute.NewRandom(opts.shape, opts.chunks, opts.seed, opts.dist, opts.rng)
		return r, noop, err
	}
	format := opts.format
	if format == "" {
		switch strings.ToLower(filepath.Ext(opts.input)) {
		case ".npy":
			format = "npy"
		case ".csv":
			format = "csv"
		case ".tsv", ".tab":
			format = "tsv"
		default:
			format = "text"
		}
	}
	var file *os.File
	name := opts.input
	if opts.input == "-" {
		f, ok := app.IO.In.(*os.File)
		if ok {
			file = f
		}
		name = "-"
	}
	open := func() (*os.File, func(), error) {
		if file != nil {
			return file, noop, nil
		}
		f, err := os.Open(opts.input)
		if err != nil {
			return nil, noop, withExitCode(ExitUsage, fmt.Errorf("compute: %w", err))
		}
		return f, func() { f.Close() }, nil
	}
	if opts.shapeSet && format != "raw" {
		return nil, noop, usageErrorf("--shape applies to the random array and --format raw, not to %s input", format)
	}
	if opts.chunksSet && format != "raw" && format != "npy" {
		return nil, noop, usageErrorf("--chunks applies to random, .npy and raw input, not to %s input (see compute.block_bytes)", format)
	}
	switch format {
	case "npy", "raw":
		if opts.input == "-" && file == nil {
			return nil, noop, usageErrorf("--format %s from stdin needs a file or pipe on stdin", format)
		}
		f, closeF, err := open()
		if err != nil {
			return nil, noop, err
		}
		var a *compute.ArrayFile
		if format == "npy" {
			a, err = compute.NewNPY(f, name, fo)
		} else {
			a, err = compute.NewRaw(f, name, opts.dtype, opts.shape, fo)
		}
		if err != nil {
			closeF()
			return nil, noop, err
		}
		return a, func() { a.Close(); closeF() }, nil
	case "csv", "tsv", "text":
		var r = app.IO.In
		closeF := noop
		if opts.input != "-" {
			f, c, err := open()
			if err != nil {
				return nil, noop, err
			}
			r, closeF = f, c
		}
		if format == "text" {
			return &compute.Text{R: r, Name: name, BlockBytes: int(cfg.BlockBytes)}, closeF, nil
		}
		d := opts.delimiter
		if d == 0 && format == "tsv" {
			d = '\t'
		}
		return &compute.CSV{R: r, Name: name, Delimiter: d, Column: opts.column, BlockBytes: int(cfg.BlockBytes)}, closeF, nil
	}
	return nil, noop, usageErrorf("--format: unknown format %q", format)
}

func runCompute(ctx context.Context, app *App, opts *computeOptions) error {
	src, closeSrc, err := computeSource(app, opts)
	if err != nil {
		return classifyCompute(err)
	}
	defer closeSrc()
	workers := app.Config.Compute.Workers
	prog := newProgress(app, opts.op.String())
	start := time.Now()
	res, err := compute.Reduce(ctx, src, compute.Options{
		Op: opts.op, Axis: opts.axis, DDOF: opts.ddof, SkipNaN: opts.skipNaN,
		DaskCompat: opts.daskCompat, Workers: workers, Progress: prog.update, Logger: app.Log,
	})
	elapsed := time.Since(start)
	prog.finish()
	if err != nil {
		return classifyCompute(err)
	}
	app.Log.Debug("compute: done", "op", opts.op.String(), "elapsed", elapsed, "workers", workers)
	if opts.out != "" {
		if err := npy.WriteFile(opts.out, res.Shape, res.Values()); err != nil {
			return err
		}
	}
	if app.JSON() {
		return app.PrintJSON(computeJSON(res, opts, elapsed, workers))
	}
	if opts.out != "" {
		return nil // the values went to the file
	}
	var buf bytes.Buffer
	writeComputeText(&buf, res)
	_, err = app.IO.Out.Write(buf.Bytes())
	return err
}

// classifyCompute maps the library's input errors to exit status 2.
func classifyCompute(err error) error {
	if errors.Is(err, compute.ErrInput) {
		return withExitCode(ExitUsage, err)
	}
	return err
}

// writeComputeText prints a result: one value, one value per line, or for
// stats "name value" lines (a table with a header for arrays).
func writeComputeText(b *bytes.Buffer, res *compute.Result) {
	if res.Op == compute.Stats {
		s := res.Summaries()
		if len(res.Shape) == 0 {
			v := s[0]
			fmt.Fprintf(b, "count\t%d\nmean\t%s\nstd\t%s\nmin\t%s\nmax\t%s\n", v.Count,
				compute.FormatFloat(v.Mean), compute.FormatFloat(v.Std),
				compute.FormatValue(v.Min, res.Integer), compute.FormatValue(v.Max, res.Integer))
			return
		}
		if res.Names != nil {
			b.WriteString("column\t")
		}
		b.WriteString("count\tmean\tstd\tmin\tmax\n")
		for i, v := range s {
			if res.Names != nil {
				b.WriteString(res.Names[i] + "\t")
			}
			fmt.Fprintf(b, "%d\t%s\t%s\t%s\t%s\n", v.Count, compute.FormatFloat(v.Mean), compute.FormatFloat(v.Std),
				compute.FormatValue(v.Min, res.Integer), compute.FormatValue(v.Max, res.Integer))
		}
		return
	}
	integer := res.IsInteger(res.Op)
	for i, v := range res.Values() {
		if res.Names != nil {
			b.WriteString(res.Names[i] + "\t")
		}
		b.WriteString(compute.FormatValue(v, integer))
		b.WriteByte('\n')
	}
}

// jsonNumber is a float for JSON: a number, or "nan"/"inf"/"-inf", which
// JSON cannot hold as numbers.
func jsonNumber(v float64, integer bool) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return compute.FormatFloat(v)
	}
	if integer && v == math.Trunc(v) && math.Abs(v) < 1<<63 {
		return int64(v)
	}
	return v
}

func computeJSON(res *compute.Result, opts *computeOptions, elapsed time.Duration, workers int) map[string]any {
	input := opts.input
	if input == "" {
		input = "random"
	}
	m := map[string]any{
		"op":        res.Op.String(),
		"input":     input,
		"shape":     res.Input.Shape,
		"chunks":    res.Input.Chunks,
		"elapsed_s": math.Round(elapsed.Seconds()*1e6) / 1e6,
		"workers":   workers,
	}
	if len(opts.axis) > 0 {
		m["axis"] = opts.axis[0]
	}
	if opts.input == "" {
		m["seed"], m["dist"], m["rng"] = opts.seed, opts.dist.String(), opts.rng.String()
	}
	if opts.daskCompat {
		m["dask_compat"] = true
	}
	if opts.out != "" {
		m["out"] = opts.out
	}
	if res.Names != nil {
		m["columns"] = res.Names
	}
	m["result_shape"] = res.Shape
	if res.Op == compute.Stats {
		var rows []map[string]any
		for _, s := range res.Summaries() {
			rows = append(rows, map[string]any{
				"count": s.Count, "mean": jsonNumber(s.Mean, false), "std": jsonNumber(s.Std, false),
				"min": jsonNumber(s.Min, res.Integer), "max": jsonNumber(s.Max, res.Integer),
			})
		}
		if len(res.Shape) == 0 {
			m["result"] = rows[0]
		} else {
			m["result"] = rows
		}
		return m
	}
	integer := res.IsInteger(res.Op)
	vals := res.Values()
	if len(res.Shape) == 0 {
		m["result"] = jsonNumber(vals[0], integer)
		return m
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = jsonNumber(v, integer)
	}
	m["result"] = out
	return m
}

func trimComputePrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "compute: ")
}

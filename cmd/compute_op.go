package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/compute"
	"github.com/dsys-dev/dsys/compute/cluster"
	"github.com/dsys-dev/dsys/queue"
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
	format     compute.Format
	dtype      string
	column     string
	delimiter  byte
	out        string
	cluster    bool          // run the chunks on queue workers
	timeout    time.Duration // bound on the whole job (0: none)
	// which flags were given, for the checks that need the input's format
	shapeSet, chunksSet, dtypeSet, columnSet, delimSet bool
	// ignoredStdin names the flag that chose the random array while stdin
	// holds data (a warning says so).
	ignoredStdin string
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

Input (FILE, or - for stdin):
  none           a lazily generated random array (--shape, --chunks, --seed,
                 --dist, --rng); default 10000,10000 in 1000,1000 chunks
  .npy           NumPy files, versions 1.0-3.0; f8 f4 f2 i8 i4 i2 i1 u8 u4 u2
                 u1 b1 in either byte order, C or Fortran order, any rank;
                 recognised by their magic bytes too (on stdin as well)
  .csv, .tsv     delimited text; every numeric column is reduced on its own
                 (or --column NAME|INDEX); a header line is detected
  text           numbers separated by whitespace or newlines (the default
                 for stdin and other files); --column N takes field N of
                 each line
  --format raw   raw binary values: --dtype f8 --shape R,C

Stdin: without FILE, the random-array flags (--seed, --dist, --rng,
--dask-compat, --shape without --format) select the random array and stdin
is never read (a warning says so when it holds data); otherwise --format, or
a stdin that is a pipe or a file, makes stdin the input.

Results print as the shortest string that reads back as the same float64 (as
Python prints them); sums, minima and maxima of integers print as exact
integers. With --axis, one value per line, or --out FILE.npy.
--rng dask reproduces Dask's da.random.seed(N); da.random.random(shape,
chunks) values; add --dask-compat and mean and sum print Dask's very digits.

With --cluster the chunks run as tasks on dsys queue workers, through the
broker of queue.broker (--broker) and the queue of queue.queue (--queue):
random chunks are generated there, files are read there at the same absolute
path (every worker needs the file), and the result is the local run's, bit
for bit. Stdin is refused. --timeout bounds any job (exit 3).`

func newComputeOpCmd(app *App, op compute.Op) *cobra.Command {
	var (
		shape, chunks, dist, rng, delimiter, format string
		axis                                        axisFlag
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
  dsys compute ` + op.String() + ` prices.csv --column close
  dsys compute ` + op.String() + ` /data/x.npy --axis 0 --cluster --queue compute`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var err error
			if opts.format, err = compute.ParseFormat(format); err != nil {
				return usageErrorf("--format: %s", trimComputePrefix(err))
			}
			flag := randomFlagGiven(c)
			switch {
			case len(args) == 1:
				opts.input = args[0]
			case opts.format != compute.FormatAuto:
				opts.input = "-" // --format describes the data on stdin
			case flag != "":
				if stdinHasData(app.IO.In) {
					opts.ignoredStdin = flag
				}
			case stdinHasData(app.IO.In):
				opts.input = "-" // seq 1 10 | dsys compute mean
			}
			if c.Flags().Changed("shape") || opts.input == "" {
				if opts.shape, err = compute.ParseShape(shape); err != nil {
					return usageErrorf("--shape: %s", trimComputePrefix(err))
				}
			}
			switch {
			case c.Flags().Changed("chunks"):
				if opts.chunks, err = compute.ParseChunks(chunks); err != nil {
					return usageErrorf("--chunks: %s", trimComputePrefix(err))
				}
			case opts.input == "":
				opts.chunks = defaultChunks(opts.shape)
			}
			opts.axis = axis.axes
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
			if opts.timeout < 0 {
				return usageErrorf("--timeout: must be 0 (none) or more, got %s", opts.timeout)
			}
			if opts.cluster && opts.input == "-" {
				return usageErrorf("--cluster: workers cannot read stdin: give the path of a file, which every worker reads at the same path")
			}
			for _, f := range []string{"broker", "queue"} {
				if c.Flags().Changed(f) && !opts.cluster {
					return usageErrorf("--%s applies with --cluster", f)
				}
			}
			if opts.cluster && c.Flags().Changed("workers") {
				app.Log.Warn("--workers has no effect with --cluster: each queue worker's --concurrency sets how many chunks it computes at once")
			}
			if opts.input != "" {
				for _, f := range randomOnlyFlags {
					if c.Flags().Changed(f) {
						return usageErrorf("--%s applies to the random array, not to an input file", f)
					}
				}
			}
			fl := c.Flags()
			opts.shapeSet, opts.chunksSet, opts.dtypeSet = fl.Changed("shape"), fl.Changed("chunks"), fl.Changed("dtype")
			opts.columnSet, opts.delimSet = fl.Changed("column"), fl.Changed("delimiter")
			return runCompute(c.Context(), app, opts)
		},
	}
	f := c.Flags()
	f.StringVar(&shape, "shape", "10000,10000", "array shape of the random array or of --format raw, e.g. 10000,10000")
	f.StringVar(&chunks, "chunks", "1000,1000", "chunk shape, -1 for a whole axis; edge chunks are smaller when it does not divide the shape (default for files: contiguous chunks of compute.chunk_bytes)")
	f.Var(&axis, "axis", "reduce along these axes only, e.g. 0 or 0,1 (negative counts from the end); the result is an array")
	f.BoolVar(&opts.skipNaN, "skipna", false, "ignore NaN values (like numpy.nanmean); without it NaN propagates")
	f.Uint64Var(&opts.seed, "seed", 0, "random seed: the same seed, shape and chunks give the same values with any --workers")
	f.StringVar(&dist, "dist", "uniform", "random distribution: uniform ([0,1)) or normal (standard)")
	f.StringVar(&rng, "rng", "fast", "random generator: fast, or dask (Dask's legacy RandomState values: uniform bit for bit, normal to within 3 ulp)")
	f.BoolVar(&opts.daskCompat, "dask-compat", false, "sum and combine like NumPy 1.24 / Dask 2022.12, so mean and sum print Dask's digits")
	f.Int("workers", 0, "chunks reduced in parallel (default: compute.workers, the number of CPUs)")
	f.StringVar(&format, "format", "", "input format: "+strings.Join(compute.FormatNames(), ", ")+" (default: from the file name or its content; text for stdin)")
	f.StringVar(&opts.dtype, "dtype", "f8", "dtype of --format raw: f8 f4 f2 i8 i4 i2 i1 u8 u4 u2 u1 b1, '>' prefix for big-endian")
	f.StringVar(&opts.column, "column", "", "CSV/TSV: reduce only this column, by header name or 0-based index; text: this 0-based field of each line")
	f.StringVar(&delimiter, "delimiter", "", `CSV field delimiter (default "," for csv, "\t" for tsv)`)
	f.StringVar(&opts.out, "out", "", "write the result array to this .npy file (v1.0; '<f8', or '<i8' for integers): a regular file is replaced atomically, anything else written in place")
	f.BoolVar(&opts.cluster, "cluster", false, "send the chunks as tasks through queue.broker to dsys queue workers (files: every worker reads the same path)")
	f.DurationVar(&opts.timeout, "timeout", 0, "give up after this long, exit 3 (default: no limit)")
	f.String("broker", "", "with --cluster: broker URL (queue.broker)")
	f.String("queue", "", "with --cluster: the queue chunk tasks go to (queue.queue; workers must consume it)")
	bindFlag(c, "broker", "queue.broker")
	bindFlag(c, "queue", "queue.queue")
	if op == compute.Var || op == compute.Std || op == compute.Stats {
		f.IntVar(&opts.ddof, "ddof", 0, "delta degrees of freedom: the divisor is max(N-ddof, 0) (0 as NumPy; 1 for the sample variance)")
	}
	bindFlag(c, "workers", "compute.workers")
	completeFlag(c, "rng", "fast\twyrand per chunk, about 1 ns a value", "dask\tDask's legacy RandomState values")
	completeFlag(c, "dist", "uniform\tuniform on [0, 1)", "normal\tstandard normal")
	completeFlag(c, "format", "npy\tNumPy .npy file", "csv\tcomma-separated values", "tsv\ttab-separated values",
		"raw\traw binary values (--dtype, --shape)", "text\tnumbers separated by whitespace")
	completeFlag(c, "dtype", strings.Fields(npyDTypes)...)
	return c
}

// npyDTypes are the dtypes --dtype completes.
const npyDTypes = "f8 f4 f2 i8 i4 i2 i1 u8 u4 u2 u1 b1 >f8 >f4 >f2 >i8 >i4 >i2 >u8 >u4 >u2"

// completeFlag completes flag's value from a fixed list ("value\tdescription").
func completeFlag(c *cobra.Command, flag string, values ...string) {
	_ = c.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// axisFlag is --axis: one comma-separated list of axes, given once.
type axisFlag struct {
	axes []int
	set  bool
}

func (a *axisFlag) String() string {
	parts := make([]string, len(a.axes))
	for i, x := range a.axes {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}

func (a *axisFlag) Type() string { return "axes" }

func (a *axisFlag) Set(s string) error {
	if a.set {
		return errors.New("given twice: list several axes in one flag, as --axis 0,1")
	}
	a.set = true
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("want axes as integers separated by commas, e.g. 0 or 0,-1")
		}
		a.axes = append(a.axes, n)
	}
	return nil
}

// randomOnlyFlags only make sense for the random array.
var randomOnlyFlags = []string{"seed", "dist", "rng", "dask-compat"}

// randomFlagGiven names the first flag given that selects the random array
// ("" if none): the random-only flags, and --shape without --format.
func randomFlagGiven(c *cobra.Command) string {
	for _, f := range randomOnlyFlags {
		if c.Flags().Changed(f) {
			return "--" + f
		}
	}
	if c.Flags().Changed("shape") && !c.Flags().Changed("format") {
		return "--shape"
	}
	return ""
}

// stdinHasData reports whether stdin is a pipe, a socket or a regular file
// (so that "seq 1 10 | dsys compute mean" reads it) rather than a terminal
// or /dev/null. In-process tests pass readers; a zero-length one counts as
// none.
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

// computeSource opens what opts describe; the closer releases it. For an
// input file it also refuses --out naming that file.
func computeSource(ctx context.Context, app *App, opts *computeOptions) (compute.Source, func(), error) {
	noop := func() {}
	if opts.input == "" {
		r, err := compute.NewRandom(opts.shape, opts.chunks, opts.seed, opts.dist, opts.rng)
		return r, noop, err
	}
	app.Log.Debug("compute: opening the input", "input", opts.input, "format", opts.format.String())
	in, err := compute.OpenInput(ctx, opts.input, app.IO.In, opts.format)
	if err != nil {
		return nil, noop, err
	}
	closeIn := func() { in.Close() }
	fail := func(err error) (compute.Source, func(), error) {
		closeIn()
		return nil, noop, err
	}
	if opts.out != "" && in.SameFile(opts.out) {
		return fail(usageErrorf("--out %s is the input %s: refusing to overwrite the data being read", opts.out, in.Name))
	}
	format := in.Format
	isArray := format == compute.FormatNPY || format == compute.FormatRaw
	switch {
	case opts.shapeSet && format != compute.FormatRaw:
		return fail(usageErrorf("--shape applies to the random array and --format raw, not to %s input", format))
	case opts.chunksSet && !isArray:
		return fail(usageErrorf("--chunks applies to random, .npy and raw input, not to %s input (see compute.block_bytes)", format))
	case opts.dtypeSet && format != compute.FormatRaw:
		return fail(usageErrorf("--dtype applies to --format raw, not to %s input (a .npy file names its dtype)", format))
	case opts.columnSet && isArray:
		return fail(usageErrorf("--column applies to CSV and text input, not to %s input (use --axis)", format))
	case opts.delimSet && format != compute.FormatCSV && format != compute.FormatTSV:
		return fail(usageErrorf("--delimiter applies to CSV and TSV input, not to %s input", format))
	}
	cfg := app.Config.Compute
	fo := compute.FileOptions{Chunks: opts.chunks, ChunkBytes: int(cfg.ChunkBytes)}
	switch format {
	case compute.FormatNPY, compute.FormatRaw:
		var a *compute.ArrayFile
		if format == compute.FormatNPY {
			a, err = in.NPY(ctx, fo)
		} else {
			var shape []int
			if opts.shapeSet {
				shape = opts.shape
			}
			a, err = in.Raw(opts.dtype, shape, fo)
		}
		if err != nil {
			return fail(err)
		}
		return a, func() { a.Close(); closeIn() }, nil
	case compute.FormatText:
		return in.Text(opts.column, int(cfg.BlockBytes)), closeIn, nil
	}
	return in.CSV(opts.delimiter, opts.column, int(cfg.BlockBytes)), closeIn, nil
}

func runCompute(ctx context.Context, app *App, opts *computeOptions) error {
	if opts.ignoredStdin != "" {
		app.Log.Warn("stdin is not read: " + opts.ignoredStdin + " selects the random array (give - as the input to reduce stdin)")
	}
	if opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.timeout)
		defer cancel()
	}
	src, closeSrc, err := computeSource(ctx, app, opts)
	if err != nil {
		return classifyCompute(err, opts)
	}
	defer closeSrc()
	workers := app.Config.Compute.Workers
	o := compute.Options{Op: opts.op, Axis: opts.axis, DDOF: opts.ddof, SkipNaN: opts.skipNaN,
		DaskCompat: opts.daskCompat, Workers: workers, Logger: app.Log}
	start := time.Now()
	var (
		res *compute.Result
		rep *cluster.Report
	)
	if opts.cluster {
		res, rep, err = runComputeCluster(ctx, app, src, o)
	} else {
		prog := newProgress(app, opts.op.String())
		o.Progress = prog.update
		res, err = compute.Reduce(ctx, src, o)
		prog.finish()
	}
	elapsed := time.Since(start)
	if err != nil {
		return classifyCompute(err, opts)
	}
	app.Log.Debug("compute: done", "op", opts.op.String(), "elapsed", elapsed, "workers", workers)
	for _, s := range res.Skipped {
		app.Log.Warn(fmt.Sprintf("%s:%d:%d: column %q is not numeric (its first value is %q): skipped", opts.input, s.Line, s.Col, s.Name, s.Value))
	}
	if opts.out != "" {
		if err := compute.WriteNPY(ctx, opts.out, res); err != nil {
			return classifyCompute(err, opts)
		}
	}
	if app.JSON() {
		return writeComputeJSON(app.IO.Out, res, opts, elapsed, workersJSON{n: workers, cluster: rep})
	}
	if opts.out != "" {
		return nil // the values went to the file
	}
	return writeComputeText(app.IO.Out, res)
}

// classifyCompute maps the library's input errors to exit status 2, and
// the end of --timeout (or a cluster job's) to 3.
func classifyCompute(err error, opts *computeOptions) error {
	switch {
	case errors.Is(err, compute.ErrInput):
		return withExitCode(ExitUsage, err)
	case errors.Is(err, queue.ErrTimeout):
		return withExitCode(ExitUnavailable, err)
	case errors.Is(err, context.DeadlineExceeded) && opts.timeout > 0:
		return withExitCode(ExitUnavailable, fmt.Errorf("compute: timed out after %s (--timeout)", opts.timeout))
	}
	return queueError(err)
}

func trimComputePrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "compute: ")
}

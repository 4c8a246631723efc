package cmd

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/dsys-dev/dsys/compute"
)

// writeComputeText prints a result, streamed (a result may have millions of
// elements): one value, one value per line (name<TAB>value for CSV
// columns), or for stats "name value" lines (a table with a header for
// arrays).
func writeComputeText(out io.Writer, res *compute.Result) error {
	w := bufio.NewWriterSize(out, 1<<16)
	var b []byte
	if res.Op == compute.Stats {
		if len(res.Shape) == 0 {
			s := res.Summary(0)
			b = append(b, "count\t"...)
			b = strconv.AppendInt(b, s.Count, 10)
			b = append(b, "\nmean\t"...)
			b = compute.AppendFloat(b, s.Mean)
			b = append(b, "\nstd\t"...)
			b = compute.AppendFloat(b, s.Std)
			b = append(b, "\nmin\t"...)
			b = s.Min.AppendText(b)
			b = append(b, "\nmax\t"...)
			b = s.Max.AppendText(b)
			b = append(b, '\n')
			_, err := w.Write(b)
			return flushErr(w, err)
		}
		if res.Names != nil {
			b = append(b, "column\t"...)
		}
		b = append(b, "count\tmean\tstd\tmin\tmax\n"...)
	}
	for i := range res.Len() {
		if res.Names != nil {
			b = append(b, res.Names[i]...)
			b = append(b, '\t')
		}
		if res.Op == compute.Stats {
			s := res.Summary(i)
			b = strconv.AppendInt(b, s.Count, 10)
			b = append(b, '\t')
			b = compute.AppendFloat(b, s.Mean)
			b = append(b, '\t')
			b = compute.AppendFloat(b, s.Std)
			b = append(b, '\t')
			b = s.Min.AppendText(b)
			b = append(b, '\t')
			b = s.Max.AppendText(b)
		} else {
			b = res.AppendText(b, i)
		}
		b = append(b, '\n')
		var err error
		if b, err = spill(w, b); err != nil {
			return err
		}
	}
	_, err := w.Write(b)
	return flushErr(w, err)
}

// spill writes b to w once it holds 32 KiB, and returns it emptied.
func spill(w io.Writer, b []byte) ([]byte, error) {
	if len(b) < 1<<15 {
		return b, nil
	}
	_, err := w.Write(b)
	return b[:0], err
}

func flushErr(w *bufio.Writer, err error) error {
	if err != nil {
		return err
	}
	return w.Flush()
}

// computeJSON is the -o json object of a reduction; "result" follows it,
// streamed: a value, an array of values, or stats objects.
type computeJSON struct {
	Op          string        `json:"op"`
	Input       string        `json:"input"`
	Format      string        `json:"format,omitempty"`
	Shape       []int         `json:"shape"`
	Chunks      []int         `json:"chunks"`
	Axis        []int         `json:"axis,omitempty"`
	Seed        *uint64       `json:"seed,omitempty"`
	Dist        string        `json:"dist,omitempty"`
	RNG         string        `json:"rng,omitempty"`
	DaskCompat  bool          `json:"dask_compat,omitempty"`
	ElapsedS    float64       `json:"elapsed_s"`
	Workers     workersJSON   `json:"workers"`
	Cluster     *clusterJSON  `json:"cluster,omitempty"`
	Out         string        `json:"out,omitempty"`
	Columns     []string      `json:"columns,omitempty"`
	Skipped     []skippedJSON `json:"skipped_columns,omitempty"`
	ResultShape []int         `json:"result_shape"`
}

// skippedJSON is a CSV column left out because it is not numeric.
type skippedJSON struct {
	Name   string `json:"name"`
	Index  int    `json:"index"`
	Value  string `json:"first_value"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

func writeComputeJSON(out io.Writer, res *compute.Result, opts *computeOptions, elapsed time.Duration, workers workersJSON) error {
	h := computeJSON{
		Op: res.Op.String(), Input: opts.input, Shape: res.Input.Shape, Chunks: res.Input.Chunks, Axis: opts.axis,
		DaskCompat: opts.daskCompat, ElapsedS: seconds(elapsed), Workers: workers,
		Out: opts.out, Columns: res.Names, ResultShape: res.Shape,
	}
	if rep := workers.cluster; rep != nil {
		h.Cluster = &clusterJSON{JobID: rep.JobID, Queue: rep.Queue, Chunks: rep.Chunks, BusyS: seconds(rep.Busy)}
	}
	if opts.input == "" {
		h.Input, h.Seed, h.Dist, h.RNG = "random", &opts.seed, opts.dist.String(), opts.rng.String()
	} else if opts.format != compute.FormatAuto {
		h.Format = opts.format.String()
	}
	for _, s := range res.Skipped {
		h.Skipped = append(h.Skipped, skippedJSON{Name: s.Name, Index: s.Index, Value: s.Value, Line: s.Line, Column: s.Col})
	}
	head, err := json.Marshal(h)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 1<<16)
	b := append(head[:len(head)-1], `,"result":`...)
	scalar := len(res.Shape) == 0
	if !scalar {
		b = append(b, '[')
	}
	for i := range res.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		if res.Op == compute.Stats {
			b = appendSummaryJSON(b, res.Summary(i))
		} else {
			b = appendValueJSON(b, res.Elem(i))
		}
		if b, err = spill(w, b); err != nil {
			return err
		}
	}
	if !scalar {
		b = append(b, ']')
	}
	b = append(b, "}\n"...)
	_, err = w.Write(b)
	return flushErr(w, err)
}

// seconds is d in seconds, to the microsecond.
func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1e6) / 1e6 }

// appendValueJSON writes a value as a JSON number: an integer exactly, a
// float with Python's digits, and nan/inf (which JSON numbers cannot hold)
// as strings.
func appendValueJSON(b []byte, v compute.Value) []byte {
	if !v.IsInt && (math.IsNaN(v.Float) || math.IsInf(v.Float, 0)) {
		return strconv.AppendQuote(b, v.String())
	}
	return v.AppendText(b)
}

func appendSummaryJSON(b []byte, s compute.Summary) []byte {
	b = append(b, `{"count":`...)
	b = strconv.AppendInt(b, s.Count, 10)
	for _, f := range []struct {
		key string
		v   compute.Value
	}{{"mean", compute.Value{Float: s.Mean}}, {"std", compute.Value{Float: s.Std}}, {"min", s.Min}, {"max", s.Max}} {
		b = append(b, `,"`...)
		b = append(b, f.key...)
		b = append(b, `":`...)
		b = appendValueJSON(b, f.v)
	}
	return append(b, '}')
}

package cmd

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/compute/npy"
	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/redis"
	"github.com/dsys-dev/dsys/queue/sqlite"
)

// clusterBroker is a broker with a queue of the test's own, for dsys
// compute --cluster and its workers.
type clusterBroker struct {
	name string
	args []string // --broker URL --queue Q
	q    string
	dial func(t *testing.T) broker.Transport
}

// clusterBrokers runs f on each broker: the embedded one (a file of the
// test's own), Redis and RabbitMQ (skipped, or failed under
// DSYS_TEST_REQUIRE_SERVICES=1, when they are absent); leases of 3 s, so
// that a killed worker's chunk comes back soon.
func clusterBrokers(t *testing.T, f func(t *testing.T, b *clusterBroker)) {
	t.Run("sqlite", func(t *testing.T) {
		testenv.Binary(t)
		isolateConfig(t)
		t.Setenv("DSYS_QUEUE_VISIBILITY_TIMEOUT", "3s")
		path := filepath.Join(t.TempDir(), "queue.db")
		q := testenv.UniqueName(t, "cmdq")
		f(t, &clusterBroker{name: "sqlite", args: []string{"--broker", "sqlite://" + path, "--queue", q}, q: q,
			dial: func(t *testing.T) broker.Transport {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				b, err := sqlite.Open(ctx, path, sqlite.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return b
			}})
	})
	t.Run("redis", func(t *testing.T) {
		u, err := url.Parse(testenv.Redis(t))
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/12" // this package's cluster tests' own database
		testenv.Binary(t)
		isolateConfig(t)
		t.Setenv("DSYS_QUEUE_VISIBILITY_TIMEOUT", "3s")
		t.Setenv("DSYS_QUEUE_RESULT_EXPIRES", "1m") // the shared Redis keeps the chunks' results a minute, not a day
		q := testenv.UniqueName(t, "cmdq")
		dial := func(t *testing.T) broker.Transport {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := redis.Dial(ctx, u.String(), redis.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}
		cleanup := dial(t)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, name := range []string{q, q + ".dead"} {
				_ = cleanup.Delete(ctx, name)
			}
		})
		f(t, &clusterBroker{name: "redis", args: []string{"--broker", u.String(), "--queue", q}, q: q, dial: dial})
	})
	t.Run("amqp", func(t *testing.T) {
		url, q := queueEnv(t)
		f(t, &clusterBroker{name: "amqp", args: []string{"--broker", url, "--queue", q}, q: q,
			dial: func(t *testing.T) broker.Transport {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				b, err := amqp.Dial(ctx, url, amqp.Options{ManagementURL: "-"})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return b
			}})
	})
}

// workers starts n dsys queue worker processes on the broker's queue.
func (b *clusterBroker) workers(t *testing.T, n int, extra ...string) []*workerProc {
	t.Helper()
	var ws []*workerProc
	for range n {
		ws = append(ws, startWorkerProc(t, append(append([]string{"--concurrency", "1"}, b.args...), extra...)...))
	}
	return ws
}

// clusterFiles writes the inputs of the parity test: a .npy file (C and
// Fortran order), a CSV file and a text file.
func clusterFiles(t *testing.T) (dir string) {
	dir = t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	var f8, i2 []byte
	for range 400 * 300 {
		f8 = binary.LittleEndian.AppendUint64(f8, math.Float64bits(rng.NormFloat64()*10+1e4))
		i2 = binary.LittleEndian.AppendUint16(i2, uint16(rng.IntN(1<<16)))
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("f8.npy", append(npy.EncodeHeader(npy.Float64, false, []int{400, 300}), f8...))
	write("i2.npy", append(npy.EncodeHeader(npy.DType{Kind: 'i', Size: 2}, true, []int{400, 300}), i2...))
	var csv, txt strings.Builder
	csv.WriteString("id,price,qty,label\n")
	for i := range 30000 {
		fmt.Fprintf(&csv, "%d,%.4f,%d,x%d\n", i, rng.Float64()*100, rng.IntN(50), i)
		fmt.Fprintf(&txt, "%.17g ", rng.ExpFloat64())
	}
	write("p.csv", []byte(csv.String()))
	write("x.txt", []byte(txt.String()))
	return dir
}

// dsys compute --cluster prints exactly what dsys compute prints, for
// random and file inputs, several ops and axes, --out included; -o json
// names the workers and their chunk counts.
func TestComputeClusterPrintsWhatLocalPrints(t *testing.T) {
	clusterBrokers(t, func(t *testing.T, b *clusterBroker) {
		dir := clusterFiles(t)
		b.workers(t, 2)
		// Small chunks and blocks, so that every input makes several tasks.
		t.Setenv("DSYS_COMPUTE_CHUNK_BYTES", "65536")
		t.Setenv("DSYS_COMPUTE_BLOCK_BYTES", "16384")
		in := func(name string) string { return filepath.Join(dir, name) }
		for _, args := range [][]string{
			{"mean"},
			{"var", "--shape", "3000,2000", "--chunks", "700,900", "--axis", "0", "--ddof", "1"},
			{"stats", "--rng", "dask", "--dist", "normal", "--shape", "600,500", "--chunks", "250,200", "--axis", "1"},
			{"sum", "--rng", "dask", "--dask-compat", "--seed", "3", "--shape", "2000,900", "--chunks", "300,400"},
			{"sum", in("f8.npy"), "--axis", "1", "--chunks", "64,300"},
			{"std", in("i2.npy"), "--axis", "0", "--chunks", "100,50"},
			{"max", in("i2.npy"), "--axis", "0,1"},
			{"mean", in("p.csv")},
			{"stats", in("x.txt")},
		} {
			local, _, code := runDsys(t, "", append([]string{"compute"}, args...)...)
			if code != 0 {
				t.Fatalf("local %v: exit %d", args, code)
			}
			cargs := append(append([]string{"compute"}, args...), append([]string{"--cluster"}, b.args...)...)
			got, errOut, code := runDsys(t, "", cargs...)
			if code != 0 || got != local {
				t.Fatalf("%v --cluster: exit %d, stdout %q, stderr %q; local printed %q", args, code, clip(got), errOut, clip(local))
			}
		}
		// --out writes the same file.
		local, cl := filepath.Join(dir, "local.npy"), filepath.Join(dir, "cluster.npy")
		if _, e, code := runDsys(t, "", "compute", "mean", in("f8.npy"), "--axis", "0", "--out", local); code != 0 {
			t.Fatal(e)
		}
		if _, e, code := runDsys(t, "", append([]string{"compute", "mean", in("f8.npy"), "--axis", "0", "--out", cl, "--cluster"}, b.args...)...); code != 0 {
			t.Fatal(e)
		}
		lb, _ := os.ReadFile(local)
		cb, _ := os.ReadFile(cl)
		if len(lb) == 0 || string(lb) != string(cb) {
			t.Fatalf("--out differs: %d and %d bytes", len(lb), len(cb))
		}
		// -o json: the workers with their chunks, the elapsed time.
		out, errOut, code := runDsys(t, "", append([]string{"compute", "mean", "-o", "json", "--cluster"}, b.args...)...)
		var j struct {
			Result   float64 `json:"result"`
			ElapsedS float64 `json:"elapsed_s"`
			Workers  []struct {
				Node   string `json:"node"`
				PID    int    `json:"pid"`
				Chunks int    `json:"chunks"`
			} `json:"workers"`
			Cluster struct {
				Queue  string `json:"queue"`
				Chunks int    `json:"chunks"`
			} `json:"cluster"`
		}
		if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 {
			t.Fatalf("-o json: %v exit %d: %s %s", err, code, out, errOut)
		}
		n := 0
		for _, w := range j.Workers {
			n += w.Chunks
			if !strings.HasPrefix(w.Node, "celery@") || w.PID <= 0 {
				t.Errorf("worker %+v", w)
			}
		}
		if j.Result != 0.5000509972916433 || j.ElapsedS <= 0 || n != 100 || j.Cluster.Chunks != 100 || j.Cluster.Queue != b.q {
			t.Fatalf("-o json: %s", out)
		}
	})
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// A worker killed in the middle of a chunk loses nothing: the chunk runs
// again on the other worker and the result is the local run's.
func TestComputeClusterWorkerKilledMidChunk(t *testing.T) {
	clusterBrokers(t, func(t *testing.T, b *clusterBroker) {
		// Chunks of about 0.2 s each, so that the kill lands inside one.
		args := []string{"compute", "var", "--shape", "6,8000000", "--chunks", "1,8000000", "--dist", "normal", "--rng", "dask"}
		want, _, code := runDsys(t, "", args...)
		if code != 0 {
			t.Fatal("local run failed")
		}
		first := b.workers(t, 1, "--log-level", "debug")[0]
		type outcome struct {
			out, errOut string
			code        int
		}
		done := make(chan outcome, 1)
		go func() {
			out, errOut, code := runDsys(t, "", append(append(args, "--cluster", "--timeout", "120s"), b.args...)...)
			done <- outcome{out, errOut, code}
		}()
		first.waitFor(t, "task started")
		second := b.workers(t, 1, "--log-level", "debug")[0]
		if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-first.exited
		var o outcome
		select {
		case o = <-done:
		case <-time.After(120 * time.Second):
			t.Fatal("the job did not finish within 120s of the kill")
		}
		if o.code != 0 || o.out != want {
			t.Fatalf("after the kill: exit %d, stdout %q, stderr %q; want %q", o.code, o.out, o.errOut, want)
		}
		if !strings.Contains(second.log.String(), "task redelivered") {
			t.Fatalf("the second worker ran no redelivered chunk:\n%s", second.log.String())
		}
	})
}

// With no worker, --timeout ends the job with exit 3, after a hint on
// stderr that names the queue.
func TestComputeClusterNoWorker(t *testing.T) {
	clusterBrokers(t, func(t *testing.T, b *clusterBroker) {
		start := time.Now()
		out, errOut, code := runDsys(t, "", append([]string{"compute", "mean", "--cluster", "--timeout", "3s"}, b.args...)...)
		if code != ExitUnavailable || out != "" {
			t.Fatalf("exit %d, stdout %q; want %d and nothing", code, out, ExitUnavailable)
		}
		if !strings.Contains(errOut, "waiting for workers on queue "+b.q) || !strings.Contains(errOut, "no worker took the work within") {
			t.Fatalf("stderr %q", errOut)
		}
		if d := time.Since(start); d < 3*time.Second || d > 20*time.Second {
			t.Fatalf("took %s with --timeout 3s", d)
		}
	})
}

// A chunk that fails on a worker (its file is gone there) ends the job with
// one line naming the chunk, the worker and the reason (exit 2: the
// input's fault, as in a local run).
func TestComputeClusterFailingChunk(t *testing.T) {
	clusterBrokers(t, func(t *testing.T, b *clusterBroker) {
		path := filepath.Join(clusterFiles(t), "f8.npy")
		type outcome struct {
			out, errOut string
			code        int
		}
		done := make(chan outcome, 1)
		go func() {
			out, errOut, code := runDsys(t, "", append([]string{"compute", "mean", path, "--chunks", "100,300", "--cluster", "--timeout", "60s"}, b.args...)...)
			done <- outcome{out, errOut, code}
		}()
		// Once the client has read the file and sent its chunks, the file
		// goes; then a worker starts.
		tr := b.dial(t)
		deadline := time.Now().Add(30 * time.Second)
		for {
			if info, err := tr.Inspect(context.Background(), b.q); err == nil && info.Ready == 4 {
				break
			}
			if time.Now().After(deadline) {
				info, err := tr.Inspect(context.Background(), b.q)
				t.Fatalf("the 4 chunks were not queued within 30s: %+v %v", info, err)
			}
			select {
			case o := <-done:
				t.Fatalf("the client ended before any worker started: exit %d, stderr %q", o.code, o.errOut)
			default:
			}
			time.Sleep(20 * time.Millisecond) // polling a broker count, bounded by deadline
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		w := b.workers(t, 1)[0]
		o := <-done
		re := regexp.MustCompile(`^dsys: compute: chunk (\d) \(block (\d),0 of 4,1\) failed on worker celery@\S+ \(pid (\d+)\): ` +
			regexp.QuoteMeta(path) + `: no such file or directory\n$`)
		m := re.FindStringSubmatch(o.errOut)
		if o.code != ExitUsage || o.out != "" || m == nil || m[3] != fmt.Sprint(w.cmd.Process.Pid) {
			t.Fatalf("exit %d, stdout %q, stderr %q", o.code, o.out, o.errOut)
		}
	})
}

// Workers cannot read the client's stdin: --cluster refuses it (exit 2).
func TestComputeClusterRefusesStdin(t *testing.T) {
	isolateConfig(t)
	for _, args := range [][]string{{"compute", "mean", "-", "--cluster"}, {"compute", "sum", "--cluster"}} {
		out, errOut, code := runDsys(t, "1 2 3\n", args...)
		if code != ExitUsage || out != "" || !strings.Contains(errOut, "--cluster: workers cannot read stdin") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

// Ctrl-C ends a cluster job at once (exit 130), and the workers that come
// later discard its chunks instead of computing them all.
func TestComputeClusterInterruptDiscardsChunks(t *testing.T) {
	clusterBrokers(t, func(t *testing.T, b *clusterBroker) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		type outcome struct {
			out, errOut string
			code        int
		}
		done := make(chan outcome, 1)
		go func() {
			out, errOut, code := runDsysContext(t, ctx, "", append([]string{"compute", "var", "--shape", "400,100000",
				"--chunks", "1,100000", "--cluster"}, b.args...)...)
			done <- outcome{out, errOut, code}
		}()
		tr := b.dial(t)
		deadline := time.Now().Add(30 * time.Second)
		for {
			if info, err := tr.Inspect(context.Background(), b.q); err == nil && info.Ready == 400 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the 400 chunks were not queued within 30s")
			}
			time.Sleep(20 * time.Millisecond) // polling a broker count, bounded by deadline
		}
		cancel()
		var o outcome
		select {
		case o = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the client did not stop within 10s of the interrupt")
		}
		if o.code != ExitInterrupted || o.out != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q; want %d and nothing", o.code, o.out, o.errOut, ExitInterrupted)
		}
		w := b.workers(t, 1, "--log-level", "debug")[0]
		deadline = time.Now().Add(60 * time.Second)
		for {
			if info, err := tr.Inspect(context.Background(), b.q); err == nil && info.Ready == 0 && info.Unacked <= 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the interrupted job's chunks were still queued after 60s")
			}
			time.Sleep(50 * time.Millisecond) // polling a broker count, bounded by deadline
		}
		log := w.log.String()
		revoked, ran := strings.Count(log, "TaskRevokedError"), strings.Count(log, "state=SUCCESS")
		if revoked == 0 || ran >= 400 {
			t.Fatalf("the late worker discarded %d chunks and computed %d of 400", revoked, ran)
		}
		t.Logf("the late worker discarded %d chunks and computed %d", revoked, ran)
	})
}

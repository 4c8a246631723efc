#!/usr/bin/env bash
# The compute benchmark: each dsys job beside its anchor (Dask, NumPy,
# datamash, Dask distributed) in the same run, on the same data; medians of
# several runs (hyperfine), peak RSS (GNU time) and the ratio of medians.
# Usage: bench/compute/run.sh [RUNS]   (from the repository root, after make build)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-7}
DSYS=${DSYS:-bin/dsys}
PY=${DSYS_BENCH_PYTHON:-/usr/bin/python3}
OUT=bench/out/compute
mkdir -p "$OUT"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$OUT/cases.txt"

need() { command -v "$1" >/dev/null 2>&1 || { echo "bench-compute: $1 not found ($2); skipping" >&2; exit 0; }; }
need hyperfine "apt-get install hyperfine"
need /usr/bin/time "apt-get install time"
if ! "$PY" -c 'import numpy, dask.array' 2>/dev/null; then
	echo "bench-compute: $PY cannot import numpy and dask (apt-get install python3-numpy python3-dask); skipping" >&2
	exit 0
fi

# rss NAME WHICH CMD: peak RSS in KB of 3 runs of CMD.
rss() {
	: >"$OUT/$1.$2.rss"
	for _ in 1 2 3; do
		/usr/bin/time -f '%M' -o "$OUT/.rss" sh -c "$3" >/dev/null 2>&1 </dev/null
		tail -n1 "$OUT/.rss" >>"$OUT/$1.$2.rss"
	done
}

# bench NAME TARGET OURS ANCHOR
bench() {
	echo "== $1: $3  vs  $4" >&2
	hyperfine -N --style basic --warmup 1 --runs "$RUNS" \
		--export-json "$OUT/$1.json" "$3" "$4" >&2 2>&1 || \
		hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$OUT/$1.json" "$3" "$4" >&2
	rss "$1" ours "$3"
	rss "$1" anchor "$4"
	printf '%s\t%s\n' "$1" "$2" >>"$OUT/cases.txt"
}

bench seed-job "≥ 10× Dask, RSS ≤ 32 MB" \
	"$DSYS compute mean" \
	"$PY bench/compute/seed_dask.py"

bench dask-compat "≥ 1× Dask (same digits)" \
	"$DSYS compute mean --rng dask --dask-compat --seed 0" \
	"$PY bench/compute/seed_dask_seeded.py"

NPY=bench/out/f8_10000x10000.npy
if [ ! -s "$NPY" ]; then
	echo "== writing $NPY (800 MB)" >&2
	"$PY" bench/compute/make_npy.py "$NPY"
fi
cat "$NPY" >/dev/null # warm page cache
bench npy-800MB "dsys ≤ 0.5× NumPy's time" \
	"$DSYS compute mean $NPY" \
	"$PY bench/compute/npy_numpy.py $NPY"

if command -v datamash >/dev/null; then
	bench seq-1e7 "≥ 3× datamash" \
		"sh -c 'seq 1 10000000 | $DSYS compute mean'" \
		"sh -c 'seq 1 10000000 | datamash mean 1'"
else
	echo "bench-compute: datamash not found (apt-get install datamash); skipping the text case" >&2
fi

# Per-row reductions: the result has millions of elements (memory is workers
# × chunk size plus the result itself).
ROWS=bench/out/f8_5000000x4.npy
if [ ! -s "$ROWS" ]; then
	echo "== writing $ROWS (160 MB)" >&2
	"$PY" bench/compute/make_npy.py "$ROWS" 5000000,4
fi
cat "$ROWS" >/dev/null # warm page cache
bench npy-rows "dsys ≤ 2× NumPy's time" \
	"$DSYS compute mean $ROWS --axis 1 --out $OUT/rows_mean.npy" \
	"$PY bench/compute/rows_numpy.py $ROWS $OUT/rows_mean_numpy.npy"

bench random-rows "dsys ≤ 2× NumPy's time" \
	"$DSYS compute mean --shape 10000000,2 --axis 1 --out $OUT/random_rows_mean.npy" \
	"$PY bench/compute/random_rows_numpy.py $OUT/random_rows_mean_numpy.npy"

# dsys compute --cluster: the seed job on 2 local worker processes (each one
# chunk at a time, as Dask's threads_per_worker=1, holding the next few
# chunks ready, --prefetch 4, as the README advises) through RabbitMQ,
# through the embedded broker and through Redis (database 14, or
# DSYS_BENCH_REDIS_URL), beside Dask distributed's compute time on 2 worker
# processes; and the per-chunk overhead: the extra wall time of the same job
# in 1000 chunks instead of 100, beyond what that costs locally.
CLUSTER_PIDS=()
CLUSTER_QUEUES=()
AMQP=${DSYS_BENCH_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672//}
cluster_cleanup() {
	for p in "${CLUSTER_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	CLUSTER_PIDS=()
	if [ ${#CLUSTER_QUEUES[@]} -gt 0 ] && "$PY" -c 'import amqp' 2>/dev/null; then
		"$PY" bench/compute/delete_queues.py "$AMQP" "${CLUSTER_QUEUES[@]}" || true
		CLUSTER_QUEUES=()
	fi
}
trap cluster_cleanup EXIT

# start_workers URL QUEUE LOG: 2 workers, ready within 30 s.
start_workers() {
	for i in 1 2; do
		# Chunk results are read once: kept 2 minutes, not a day (Redis).
		DSYS_QUEUE_RESULT_EXPIRES=2m "$DSYS" queue worker --broker "$1" --queue "$2" --concurrency 1 --prefetch 4 \
			2>"$3.$i" </dev/null &
		CLUSTER_PIDS+=($!)
	done
	for i in 1 2; do
		for _ in $(seq 300); do grep -q "worker ready" "$3.$i" && break; sleep 0.1; done
		grep -q "worker ready" "$3.$i" || { echo "bench-compute: worker $i on $1 not ready within 30 s:" >&2; cat "$3.$i" >&2; return 1; }
	done
}

# cluster NAME URL: the seed job and its overhead runs on 2 workers.
cluster() {
	local q="dsys-bench-compute-$$-$1" c
	c="$DSYS compute mean --cluster --broker $2 --queue $q"
	echo "== $1: $c  vs  Dask distributed" >&2
	start_workers "$2" "$q" "$OUT/$1.worker"
	hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$OUT/$1.json" \
		"$c" "$c --chunks 100,1000" "$DSYS compute mean" "$DSYS compute mean --chunks 100,1000" >&2
	rss "$1" ours "$c"
	cluster_cleanup
	printf '%s\t%s\t%s\n' "$1" "whole process ≤ 0.25 s, ≥ 5× Dask distributed" "$DASK_DIST" >>"$OUT/cases.txt"
}

DASK_DIST=
if "$PY" -c 'import distributed' 2>/dev/null; then
	echo "== Dask distributed: LocalCluster(n_workers=2, threads_per_worker=1), the seed job's compute" >&2
	"$PY" bench/compute/seed_dask_distributed.py "$RUNS" "$OUT/dask-distributed.json"
	DASK_DIST=$OUT/dask-distributed.json
else
	echo "bench-compute: $PY cannot import distributed (apt-get install python3-distributed); the cluster rows have no anchor" >&2
fi
amqp_hostport=$(echo "$AMQP" | sed -E 's#^[a-z]+://([^@/]*@)?([^/:]+)(:([0-9]+))?.*#\2 \4#')
amqp_host=${amqp_hostport% *}; amqp_port=${amqp_hostport#* }
if (exec 3<>"/dev/tcp/$amqp_host/${amqp_port:-5672}") 2>/dev/null; then
	CLUSTER_QUEUES+=("dsys-bench-compute-$$-cluster-amqp")
	cluster cluster-amqp "$AMQP"
else
	echo "bench-compute: RabbitMQ not reachable at $amqp_host:${amqp_port:-5672}; skipping cluster-amqp" >&2
fi
rm -f "$OUT/cluster.db" "$OUT/cluster.db-wal" "$OUT/cluster.db-shm"
cluster cluster-sqlite "sqlite://$PWD/$OUT/cluster.db"
REDIS=${DSYS_BENCH_REDIS_URL:-redis://127.0.0.1:6379/14}
redis_hostport=$(echo "$REDIS" | sed -E 's#^[a-z]+://([^@/]*@)?([^/:]+)(:([0-9]+))?.*#\2 \4#')
redis_host=${redis_hostport% *}; redis_port=${redis_hostport#* }
if (exec 3<>"/dev/tcp/$redis_host/${redis_port:-6379}") 2>/dev/null; then
	cluster cluster-redis "$REDIS"
	if command -v redis-cli >/dev/null; then # the benchmark queue's keys (its name holds this run's pid)
		redis-cli -u "$REDIS" --scan --pattern "*dsys-bench-compute-$$-cluster-redis*" | xargs -r redis-cli -u "$REDIS" del >/dev/null || true
	fi
else
	echo "bench-compute: Redis not reachable at $redis_host:${redis_port:-6379}; skipping cluster-redis" >&2
fi

echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB; $(go version | cut -d' ' -f3); NumPy $("$PY" -c 'import numpy; print(numpy.__version__)'), Dask $("$PY" -c 'import dask; print(dask.__version__)'); load average at the start: $LOAD0, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" bench/compute/report.py "$OUT" | tee "$OUT/report.md"

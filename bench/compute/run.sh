#!/usr/bin/env bash
# The compute benchmark: each dsys job beside its anchor (Dask, NumPy,
# datamash) in the same run, on the same data; medians of several runs
# (hyperfine), peak RSS (GNU time) and the ratio of medians.
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

echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB; $(go version | cut -d' ' -f3); NumPy $("$PY" -c 'import numpy; print(numpy.__version__)'), Dask $("$PY" -c 'import dask; print(dask.__version__)'); load average at the start: $LOAD0, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" bench/compute/report.py "$OUT" | tee "$OUT/report.md"

#!/usr/bin/env bash
# Queue benchmark: dsys submit + dsys worker versus a Python Celery 5 client +
# Celery prefork worker, same machine, same RabbitMQ, same run.
#
#   bench/queue/run.sh            (make bench-queue)
#
# Environment: TASKS (10000), REPS (3), PREFETCH (dsys worker prefetch, 512),
# CELERY_REPS (5), BARE_REPS (3; 0 skips), RTT_N (1000), DSYS (bin/dsys),
# DSYS_BENCH_AMQP_URL (amqp://guest:guest@127.0.0.1:5672/).
# Each throughput run submits TASKS add(i, i) tasks as persistent messages and
# collects every result; tasks/s is TASKS over the wall time of the whole run.
# When RabbitMQ runs on this machine its CPU time per task is reported too
# (from /proc), with the dsys worker's and client's. The "bare" line is the
# same traffic on raw amqp091-go (bench/queue/bare): the ceiling of any
# client/worker pair on this broker.
set -euo pipefail
cd "$(dirname "$0")/../.."

# On Redis: a script of its own (bench/queue/redis.sh), first; REDIS_BENCH=0 skips it.
[ "${REDIS_BENCH:-1}" = 0 ] || ./bench/queue/redis.sh

TASKS=${TASKS:-10000}
REPS=${REPS:-3}
CELERY_REPS=${CELERY_REPS:-5}
BARE_REPS=${BARE_REPS:-3}
PREFETCH=${PREFETCH:-512}
RTT_N=${RTT_N:-1000}
DSYS=${DSYS:-bin/dsys}
PY=/usr/bin/python3
BROKER=${DSYS_BENCH_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
CPUS=$(nproc)
PEER=queue/testdata/celery_peer.py
TMP=$(mktemp -d)
PIDS=()
QUEUES=()

cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  if [ ${#QUEUES[@]} -gt 0 ] && "$PY" -c 'import amqp' 2>/dev/null; then
    "$PY" - "$BROKER" "${QUEUES[@]}" <<'PYEOF' || true
import sys, amqp, urllib.parse as up
u = up.urlparse(sys.argv[1])
c = amqp.Connection(host="%s:%d" % (u.hostname, u.port or 5672), userid=u.username or "guest",
                    password=u.password or "guest", virtual_host=(u.path[1:] or "/") if u.path not in ("", "/") else "/")
c.connect(); ch = c.channel()
for q in sys.argv[2:]:
    for name in (q, q + ".dead"):
        try: ch.queue_delete(name)
        except Exception: ch = c.channel()
    try: ch.exchange_delete(q)
    except Exception: ch = c.channel()
c.close()
PYEOF
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

hostport=$(echo "$BROKER" | sed -E 's#^[a-z]+://([^@/]*@)?([^/:]+)(:([0-9]+))?.*#\2 \4#')
host=${hostport% *}; port=${hostport#* }; port=${port:-5672}
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "bench-queue: skipped: RabbitMQ not reachable at $host:$port (make peers installs and starts it)" >&2
  exit 0
fi
[ -x "$DSYS" ] || { echo "bench-queue: $DSYS not built (make build)" >&2; exit 1; }

now() { date +%s.%N; }
# CPU seconds (user+system) a process has used so far; empty if unknown.
TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_of() { [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] && awk -v t="$TCK" '{printf "%.3f", ($14+$15)/t}' "/proc/$1/stat"; }
# RabbitMQ's Erlang VM, when it runs on this machine.
BEAM=$(pgrep -x beam.smp 2>/dev/null | head -1 || true)
us_per_task() { awk -v a="$1" -v b="$2" -v n="$TASKS" 'BEGIN {if (a == "" || b == "") print "?"; else printf "%.0f", (b-a)/n*1e6}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
wait_log() { # file pattern seconds
  local i=0
  until grep -q "$2" "$1" 2>/dev/null; do
    i=$((i+1)); [ $i -gt $(( $3 * 20 )) ] && { echo "bench-queue: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1; }
    sleep 0.05
  done
}

seq 0 $((TASKS-1)) | awk '{print "[" $1 ", " $1 "]"}' > "$TMP/args"
go build -o "$TMP/rtt" ./bench/queue/rtt
go build -o "$TMP/bare" ./bench/queue/bare

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)
echo "== queue benchmark: $TASKS add tasks, persistent messages, $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2

# --- dsys -------------------------------------------------------------------
Q=dsys-bench-$$; QUEUES+=("$Q")
"$DSYS" -q queue worker --broker "$BROKER" --queue "$Q" --concurrency "$CPUS" --prefetch "$PREFETCH" 2>"$TMP/dsys-worker.log" &
PIDS+=($!)
"$DSYS" queue inspect --broker "$BROKER" --queue "$Q" >/dev/null 2>&1 || true
i=0; until "$DSYS" -o json queue inspect --broker "$BROKER" --queue "$Q" 2>/dev/null | grep -q '"consumers":1'; do
  i=$((i+1)); [ $i -gt 200 ] && { echo "bench-queue: dsys worker did not start" >&2; cat "$TMP/dsys-worker.log" >&2; exit 1; }; sleep 0.05; done
WPID=${PIDS[0]}
: > "$TMP/dsys.tps"; : > "$TMP/dsys.beam"
TIMEFORMAT='%3U %3S'
for r in $(seq "$REPS"); do
  b0=$(cpu_of "$BEAM"); w0=$(cpu_of "$WPID"); t0=$(now)
  { time "$DSYS" queue submit --broker "$BROKER" --queue "$Q" --wait add - < "$TMP/args" > "$TMP/out" 2>"$TMP/submit.err"; } 2>"$TMP/time" \
    || { cat "$TMP/submit.err" >&2; exit 1; }
  t1=$(now); b1=$(cpu_of "$BEAM"); w1=$(cpu_of "$WPID")
  [ "$(wc -l < "$TMP/out")" -eq "$TASKS" ] || { echo "bench-queue: dsys returned $(wc -l < "$TMP/out") results" >&2; exit 1; }
  tps=$(awk -v n="$TASKS" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n/(b-a)}')
  c=$(awk '{print $1+$2}' "$TMP/time")
  echo "dsys run $r: $tps tasks/s; CPU per task: RabbitMQ $(us_per_task "$b0" "$b1") us, worker $(us_per_task "$w0" "$w1") us, client $(us_per_task 0 "$c") us" >&2
  echo "$tps" >> "$TMP/dsys.tps"
  echo "$(us_per_task "$b0" "$b1")" >> "$TMP/dsys.beam"
done
DSYS_TPS=$(median < "$TMP/dsys.tps")
DSYS_RTT=$("$TMP/rtt" -broker "$BROKER" -queue "$Q" -n "$RTT_N" | sed -E 's/.*"p50_ms":([0-9.]+).*/\1/')
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()

# --- Celery -----------------------------------------------------------------
if ! "$PY" -c 'import celery' 2>/dev/null; then
  echo "bench-queue: Celery side skipped: $PY cannot import celery (apt-get install python3-celery)" >&2
  printf '%-8s %12s %14s\n' impl tasks/s "rtt p50 ms"
  printf '%-8s %12s %14s\n' dsys "$DSYS_TPS" "$DSYS_RTT"
  exit 0
fi
CQ=celery-bench-$$; QUEUES+=("$CQ")
"$PY" "$PEER" worker "$BROKER" "$CQ" "$CPUS" prefork >"$TMP/celery-worker.log" 2>&1 &
PIDS+=($!)
wait_log "$TMP/celery-worker.log" " ready." 60
: > "$TMP/celery.tps"
for r in $(seq "$CELERY_REPS"); do
  b0=$(cpu_of "$BEAM")
  tps=$("$PY" "$PEER" bench "$BROKER" "$CQ" "$TASKS" | sed -E 's/.*"tasks_per_s": ([0-9.]+).*/\1/')
  b1=$(cpu_of "$BEAM")
  tps=$(printf '%.0f' "$tps")
  echo "celery run $r: $tps tasks/s; RabbitMQ CPU per task $(us_per_task "$b0" "$b1") us" >&2
  echo "$tps" >> "$TMP/celery.tps"
done
CELERY_TPS=$(median < "$TMP/celery.tps")
CELERY_RTT=$("$PY" "$PEER" rtt "$BROKER" "$CQ" 300 | sed -E 's/.*"p50_ms": ([0-9.]+).*/\1/')

# --- bare amqp091-go: the same traffic without dsys, for the ceiling --------
BARE_TPS=-
if [ "$BARE_REPS" -gt 0 ]; then
  : > "$TMP/bare.tps"
  for r in $(seq "$BARE_REPS"); do
    b0=$(cpu_of "$BEAM")
    tps=$("$TMP/bare" -broker "$BROKER" -n "$TASKS" -prefetch "$PREFETCH" | sed -E 's/.*"tasks_per_s":([0-9.]+).*/\1/')
    b1=$(cpu_of "$BEAM")
    tps=$(printf '%.0f' "$tps")
    echo "bare amqp091-go run $r: $tps tasks/s; RabbitMQ CPU per task $(us_per_task "$b0" "$b1") us" >&2
    echo "$tps" >> "$TMP/bare.tps"
  done
  BARE_TPS=$(median < "$TMP/bare.tps")
fi

printf '%-8s %12s %14s\n' impl tasks/s "rtt p50 ms"
printf '%-8s %12s %14.3f\n' dsys "$DSYS_TPS" "$DSYS_RTT"
printf '%-8s %12s %14.3f\n' celery "$CELERY_TPS" "$CELERY_RTT"
printf '%-8s %12s %14s\n' bare "$BARE_TPS" -
awk -v d="$DSYS_TPS" -v c="$CELERY_TPS" -v dr="$DSYS_RTT" -v cr="$CELERY_RTT" \
  'BEGIN {printf "dsys/celery: %.1fx throughput, %.1fx lower round-trip latency (medians of the runs above; dsys prefetch '"$PREFETCH"', concurrency '"$CPUS"')\n", d/c, cr/dr}'
BARE_RUNS=""
[ "$BARE_REPS" -gt 0 ] && BARE_RUNS="; bare runs: $(paste -sd/ "$TMP/bare.tps")"
echo "dsys runs: $(paste -sd/ "$TMP/dsys.tps"); celery runs: $(paste -sd/ "$TMP/celery.tps")$BARE_RUNS; RabbitMQ CPU per dsys task (us): $(paste -sd/ "$TMP/dsys.beam"); load average before: $LOAD0"

#!/usr/bin/env bash
# Queue benchmark, every side in the same run on the same machine:
#   dsys submit + dsys worker on the embedded broker (an SQLite file),
#   dsys on RabbitMQ, Celery 5 (prefork) on RabbitMQ, Celery on its own
#   SQLite transport (sqla+sqlite:// broker, db+sqlite:// results), and raw
#   amqp091-go doing dsys's RabbitMQ traffic (the ceiling on that broker).
#
#   bench/queue/run.sh            (make bench-queue)
#
# Environment: TASKS (10000), REPS (3), PREFETCH (dsys worker prefetch, 512),
# CELERY_REPS (5), CELERY_SQLITE_TASKS (500: Celery on SQLite is slow),
# CELERY_SQLITE_REPS (3), BARE_REPS (3; 0 skips), RTT_N (1000), DSYS (bin/dsys),
# DSYS_BENCH_AMQP_URL (amqp://guest:guest@127.0.0.1:5672/).
# Each throughput run submits add(i, i) tasks (persistent) and collects every
# result; tasks/s is the task count over the wall time of the whole run. CPU
# per task comes from /proc (the worker, the client, RabbitMQ when local).
# The round trip (rtt p50) is one task submitted and its result received, in
# sequence, by a client process other than the worker's.
set -euo pipefail
cd "$(dirname "$0")/../.."

# On Redis: a script of its own (bench/queue/redis.sh), first; REDIS_BENCH=0 skips it.
[ "${REDIS_BENCH:-1}" = 0 ] || ./bench/queue/redis.sh

TASKS=${TASKS:-10000}
REPS=${REPS:-3}
CELERY_REPS=${CELERY_REPS:-5}
CELERY_SQLITE_TASKS=${CELERY_SQLITE_TASKS:-500}
CELERY_SQLITE_REPS=${CELERY_SQLITE_REPS:-3}
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

stop_pids() {
  for p in "${PIDS[@]:-}"; do if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi; done
  PIDS=()
}
cleanup() {
  stop_pids || true
  if [ ${#QUEUES[@]} -gt 0 ] && "$PY" -c 'import amqp' 2>/dev/null; then
    "$PY" - "$BROKER" "${QUEUES[@]}" <<'PYEOF' || true
import sys, amqp, urllib.parse as up
u = up.urlparse(sys.argv[1])
c = amqp.Connection(host="%s:%d" % (u.hostname, u.port or 5672), userid=u.username or "guest",
                    password=u.password or "guest", virtual_host=(u.path[1:] or "/") if u.path not in ("", "/") else "/")
c.connect(); ch = c.channel()
for q in sys.argv[2:]:
    for name in (q, q + ".dead", q + ".claimed"):
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

[ -x "$DSYS" ] || { echo "bench-queue: $DSYS not built (make build)" >&2; exit 1; }
now() { date +%s.%N; }
TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
# CPU seconds (user+system) a process has used so far; empty if unknown.
cpu_of() { if [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ]; then awk -v t="$TCK" '{printf "%.3f", ($14+$15)/t}' "/proc/$1/stat"; fi; }
us_per_task() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {if (a == "" || b == "") print "?"; else printf "%.0f", (b-a)/n*1e6}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
wait_log() { # file pattern seconds
  local i=0
  until grep -q "$2" "$1" 2>/dev/null; do
    i=$((i+1)); [ $i -gt $(( $3 * 20 )) ] && { echo "bench-queue: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1; }
    sleep 0.05
  done
}
rabbit_up() {
  local hostport host port
  hostport=$(echo "$BROKER" | sed -E 's#^[a-z]+://([^@/]*@)?([^/:]+)(:([0-9]+))?.*#\2 \4#')
  host=${hostport% *}; port=${hostport#* }; port=${port:-5672}
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

seq 0 $((TASKS-1)) | awk '{print "[" $1 ", " $1 "]"}' > "$TMP/args"
go build -o "$TMP/rtt" ./bench/queue/rtt
go build -o "$TMP/bare" ./bench/queue/bare
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)
echo "== queue benchmark: $TASKS add tasks, $CPUS CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average $LOAD0" >&2

# dsys_side NAME BROKER_URL BEAM_PID: worker + REPS submit runs + round trip.
# Sets ${NAME}_TPS and ${NAME}_RTT.
dsys_side() {
  local name=$1 url=$2 beam=${3:-} q="dsys-bench-$$-$1"
  case "$url" in amqp*) QUEUES+=("$q");; esac
  "$DSYS" -q queue worker --broker "$url" --queue "$q" --concurrency "$CPUS" --prefetch "$PREFETCH" 2>"$TMP/$name-worker.log" &
  local wpid=$!
  PIDS+=("$wpid")
  local i=0
  until "$DSYS" -o json queue inspect --broker "$url" --queue "$q" 2>/dev/null | grep -q '"consumers":1'; do
    i=$((i+1)); [ $i -gt 200 ] && { echo "bench-queue: dsys worker ($name) did not start" >&2; cat "$TMP/$name-worker.log" >&2; exit 1; }; sleep 0.05; done
  : > "$TMP/$name.tps"
  TIMEFORMAT='%3U %3S'
  for r in $(seq "$REPS"); do
    local b0 w0 t0 t1 b1 w1 tps c
    b0=$(cpu_of "$beam"); w0=$(cpu_of "$wpid"); t0=$(now)
    { time "$DSYS" queue submit --broker "$url" --queue "$q" --wait add - < "$TMP/args" > "$TMP/out" 2>"$TMP/submit.err"; } 2>"$TMP/time" \
      || { cat "$TMP/submit.err" >&2; exit 1; }
    t1=$(now); b1=$(cpu_of "$beam"); w1=$(cpu_of "$wpid")
    [ "$(wc -l < "$TMP/out")" -eq "$TASKS" ] || { echo "bench-queue: dsys ($name) returned $(wc -l < "$TMP/out") results" >&2; exit 1; }
    tps=$(awk -v n="$TASKS" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n/(b-a)}')
    c=$(awk '{print $1+$2}' "$TMP/time")
    local broker_cpu=""
    [ -n "$beam" ] && broker_cpu="RabbitMQ $(us_per_task "$b0" "$b1" "$TASKS") us, "
    echo "dsys on $name run $r: $tps tasks/s; CPU per task: ${broker_cpu}worker $(us_per_task "$w0" "$w1" "$TASKS") us, client $(us_per_task 0 "$c" "$TASKS") us" >&2
    echo "$tps" >> "$TMP/$name.tps"
  done
  printf -v "${name}_TPS" '%s' "$(median < "$TMP/$name.tps")"
  printf -v "${name}_RTT" '%s' "$("$TMP/rtt" -broker "$url" -queue "$q" -n "$RTT_N" | sed -E 's/.*"p50_ms":([0-9.]+).*/\1/')"
  printf -v "${name}_RUNS" '%s' "$(paste -sd/ "$TMP/$name.tps")"
  stop_pids
}

# celery_side NAME BROKER_URL BACKEND TASKS REPS RTT_N: a prefork worker, REPS bench runs, one rtt run.
celery_side() {
  local name=$1 url=$2 backend=$3 n=$4 reps=$5 rttn=$6 q="celery-bench-$$-$1"
  case "$url" in amqp*) QUEUES+=("$q");; esac
  CELERY_RESULT_BACKEND=$backend "$PY" "$PEER" worker "$url" "$q" "$CPUS" prefork >"$TMP/$name-worker.log" 2>&1 &
  PIDS+=($!)
  wait_log "$TMP/$name-worker.log" " ready." 60
  : > "$TMP/$name.tps"
  for r in $(seq "$reps"); do
    local tps
    tps=$(CELERY_RESULT_BACKEND=$backend "$PY" "$PEER" bench "$url" "$q" "$n" | sed -E 's/.*"tasks_per_s": ([0-9.]+).*/\1/')
    tps=$(printf '%.0f' "$tps")
    echo "celery on $name run $r: $tps tasks/s ($n tasks)" >&2
    echo "$tps" >> "$TMP/$name.tps"
  done
  printf -v "${name}_TPS" '%s' "$(median < "$TMP/$name.tps")"
  printf -v "${name}_RTT" '%s' "$(CELERY_RESULT_BACKEND=$backend "$PY" "$PEER" rtt "$url" "$q" "$rttn" | sed -E 's/.*"p50_ms": ([0-9.]+).*/\1/')"
  printf -v "${name}_RUNS" '%s' "$(paste -sd/ "$TMP/$name.tps")"
  stop_pids
}

# --- dsys on the embedded broker ---------------------------------------------
dsys_side embedded "sqlite://$TMP/queue.db"
RABBIT=no
if rabbit_up; then RABBIT=yes; else echo "bench-queue: RabbitMQ not reachable at $BROKER: its sides skipped (make peers starts it)" >&2; fi
BEAM=$(pgrep -x beam.smp 2>/dev/null | head -1 || true)
[ "$RABBIT" = yes ] && dsys_side rabbitmq "$BROKER" "$BEAM"
CELERY=no
"$PY" -c 'import celery' 2>/dev/null && CELERY=yes || echo "bench-queue: Celery sides skipped: $PY cannot import celery (make peers)" >&2
if [ "$CELERY" = yes ] && [ "$RABBIT" = yes ]; then celery_side celery_rabbitmq "$BROKER" "rpc://" "$TASKS" "$CELERY_REPS" 300; fi
if [ "$CELERY" = yes ] && "$PY" -c 'import sqlalchemy' 2>/dev/null; then
  celery_side celery_sqlite "sqla+sqlite:///$TMP/celery-broker.db" "db+sqlite:///$TMP/celery-results.db" "$CELERY_SQLITE_TASKS" "$CELERY_SQLITE_REPS" 20
fi
BARE_TPS=-
if [ "$RABBIT" = yes ] && [ "$BARE_REPS" -gt 0 ]; then
  : > "$TMP/bare.tps"
  for r in $(seq "$BARE_REPS"); do
    tps=$("$TMP/bare" -broker "$BROKER" -n "$TASKS" -prefetch "$PREFETCH" | sed -E 's/.*"tasks_per_s":([0-9.]+).*/\1/')
    tps=$(printf '%.0f' "$tps"); echo "bare amqp091-go run $r: $tps tasks/s" >&2; echo "$tps" >> "$TMP/bare.tps"
  done
  BARE_TPS=$(median < "$TMP/bare.tps")
fi

printf '%-18s %12s %14s   %s\n' side tasks/s "rtt p50 ms" runs
printf '%-18s %12s %14s   %s\n' dsys-embedded "$embedded_TPS" "$embedded_RTT" "$embedded_RUNS"
[ "$RABBIT" = yes ] && printf '%-18s %12s %14s   %s\n' dsys-rabbitmq "$rabbitmq_TPS" "$rabbitmq_RTT" "$rabbitmq_RUNS"
[ -n "${celery_rabbitmq_TPS:-}" ] && printf '%-18s %12s %14.3f   %s\n' celery-rabbitmq "$celery_rabbitmq_TPS" "$celery_rabbitmq_RTT" "$celery_rabbitmq_RUNS"
[ -n "${celery_sqlite_TPS:-}" ] && printf '%-18s %12s %14.3f   %s\n' celery-sqlite "$celery_sqlite_TPS" "$celery_sqlite_RTT" "$celery_sqlite_RUNS"
[ "$BARE_TPS" != - ] && printf '%-18s %12s %14s   %s\n' bare-amqp091 "$BARE_TPS" - "$(paste -sd/ "$TMP/bare.tps")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 > 0) printf "%.1f", a/b; else printf "?"}'; }
echo "embedded round trip p50: ${embedded_RTT} ms (target <= 2 ms)"
[ "$RABBIT" = yes ] && echo "embedded / dsys on RabbitMQ: $(ratio "$embedded_TPS" "$rabbitmq_TPS")x tasks/s (target >= 2x)"
[ -n "${celery_sqlite_TPS:-}" ] && echo "embedded / Celery on SQLite: $(ratio "$embedded_TPS" "$celery_sqlite_TPS")x tasks/s (target >= 50x)"
[ -n "${celery_rabbitmq_TPS:-}" ] && echo "dsys on RabbitMQ / Celery on RabbitMQ: $(ratio "$rabbitmq_TPS" "$celery_rabbitmq_TPS")x tasks/s, $(ratio "$celery_rabbitmq_RTT" "$rabbitmq_RTT")x lower round trip"
echo "medians of the runs; dsys prefetch $PREFETCH, concurrency $CPUS; load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"

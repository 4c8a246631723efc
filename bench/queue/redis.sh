#!/usr/bin/env bash
# Queue benchmark on Redis: dsys submit + dsys worker, beside a Python Celery 5
# client + Celery prefork worker (concurrency 2), beside bare go-redis doing the
# same traffic (bench/queue/redisbare, the ceiling); same Redis, same run.
#
#   bench/queue/redis.sh            (part of make bench-queue)
#
# Environment: TASKS (10000), REPS (3), CELERY_REPS (3), PREFETCH (512),
# DSYS (bin/dsys), DSYS_BENCH_REDIS_URL (redis://127.0.0.1:6379/12: a database
# of the benchmark's own; it deletes its queues and its results expire in 10
# minutes). Each run submits TASKS add(i, i) tasks and collects every result;
# tasks/s is TASKS over the wall time of the whole client process (for bare
# go-redis too: the same clock for all three).
set -euo pipefail
cd "$(dirname "$0")/../.."

TASKS=${TASKS:-10000}
REPS=${REPS:-3}
CELERY_REPS=${CELERY_REPS:-3}
PREFETCH=${PREFETCH:-512}
DSYS=${DSYS:-bin/dsys}
PY=/usr/bin/python3
REDIS=${DSYS_BENCH_REDIS_URL:-redis://127.0.0.1:6379/12}
CPUS=$(nproc)
PEER=queue/redis/testdata/celery_redis_peer.py
TMP=$(mktemp -d)
PIDS=()
QUEUES=()

cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  if [ ${#QUEUES[@]} -gt 0 ] && "$PY" -c 'import redis' 2>/dev/null; then
    "$PY" - "$REDIS" "${QUEUES[@]}" <<'PYEOF' || true
import sys, redis
r = redis.Redis.from_url(sys.argv[1])
for q in sys.argv[2:]:
    keys = [q, q + ".dead", "_kombu.binding." + q, "_kombu.binding." + q + ".dead", "_dsys.consumers." + q]
    keys += [q + "\x06\x16" + s for s in ("3", "6", "9")]
    r.delete(*keys)
PYEOF
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

hostport=$(echo "$REDIS" | sed -E 's#^[a-z]+://([^@/]*@)?([^/:]+)(:([0-9]+))?.*#\2 \4#')
host=${hostport% *}; port=${hostport#* }; port=${port:-6379}
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "bench-queue (Redis): skipped: Redis not reachable at $host:$port (make peers installs and starts it)" >&2
  exit 0
fi
[ -x "$DSYS" ] || { echo "bench-queue (Redis): $DSYS not built (make build)" >&2; exit 1; }

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_of() { [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] && awk -v t="$TCK" '{printf "%.3f", ($14+$15)/t}' "/proc/$1/stat"; }
us_per_task() { awk -v a="$1" -v b="$2" -v n="$TASKS" 'BEGIN {if (a == "" || b == "") print "?"; else printf "%.0f", (b-a)/n*1e6}'; }
REDIS_PID=$(pgrep -x redis-server 2>/dev/null | head -1 || true)
wait_log() { # file pattern seconds
  local i=0
  until grep -q "$2" "$1" 2>/dev/null; do
    i=$((i+1)); [ $i -gt $(( $3 * 20 )) ] && { echo "bench-queue (Redis): timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1; }
    sleep 0.05
  done
}
tps_of() { awk -v n="$TASKS" -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", n/(b-a)}'; }

seq 0 $((TASKS-1)) | awk '{print "[" $1 ", " $1 "]"}' > "$TMP/args"
go build -o "$TMP/redisbare" ./bench/queue/redisbare
export DSYS_QUEUE_RESULT_EXPIRES=10m
TIMEFORMAT='%3U %3S'

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)
echo "== queue benchmark on Redis ($REDIS): $TASKS add tasks, $CPUS CPUs, load average $LOAD0" >&2

# --- dsys -------------------------------------------------------------------
Q=dsys-bench-$$; QUEUES+=("$Q")
"$DSYS" -q queue worker --broker "$REDIS" --queue "$Q" --concurrency "$CPUS" --prefetch "$PREFETCH" 2>"$TMP/dsys-worker.log" &
WPID=$!; PIDS+=("$WPID")
i=0; until "$DSYS" -o json queue inspect --broker "$REDIS" --queue "$Q" 2>/dev/null | grep -q '"consumers":1'; do
  i=$((i+1)); [ $i -gt 200 ] && { echo "bench-queue (Redis): dsys worker did not start" >&2; cat "$TMP/dsys-worker.log" >&2; exit 1; }; sleep 0.05; done
: > "$TMP/dsys.tps"
for r in $(seq "$REPS"); do
  s0=$(cpu_of "$REDIS_PID"); w0=$(cpu_of "$WPID"); t0=$(now)
  { time "$DSYS" queue submit --broker "$REDIS" --queue "$Q" --wait add - < "$TMP/args" > "$TMP/out" 2>"$TMP/submit.err"; } 2>"$TMP/time" \
    || { cat "$TMP/submit.err" >&2; exit 1; }
  t1=$(now); s1=$(cpu_of "$REDIS_PID"); w1=$(cpu_of "$WPID")
  c=$(awk '{print $1+$2}' "$TMP/time")
  [ "$(wc -l < "$TMP/out")" -eq "$TASKS" ] || { echo "bench-queue (Redis): dsys returned $(wc -l < "$TMP/out") results" >&2; exit 1; }
  tps=$(tps_of "$t0" "$t1")
  echo "dsys on Redis run $r: $tps tasks/s; CPU per task: Redis $(us_per_task "$s0" "$s1") us, worker $(us_per_task "$w0" "$w1") us, client $(us_per_task 0 "$c") us" >&2
  echo "$tps" >> "$TMP/dsys.tps"
done
DSYS_TPS=$(median < "$TMP/dsys.tps")
kill "$WPID"; wait "$WPID" 2>/dev/null || true; PIDS=()

# --- bare go-redis: the same traffic without dsys, for the ceiling ----------
: > "$TMP/bare.tps"
for r in $(seq "$REPS"); do
  s0=$(cpu_of "$REDIS_PID"); t0=$(now)
  { time "$TMP/redisbare" -redis "$REDIS" -n "$TASKS" -prefetch "$PREFETCH" > /dev/null; } 2>"$TMP/time"
  t1=$(now); s1=$(cpu_of "$REDIS_PID")
  c=$(awk '{print $1+$2}' "$TMP/time")
  tps=$(tps_of "$t0" "$t1")
  echo "bare go-redis run $r: $tps tasks/s; CPU per task: Redis $(us_per_task "$s0" "$s1") us, client and worker (one process) $(us_per_task 0 "$c") us" >&2
  echo "$tps" >> "$TMP/bare.tps"
done
BARE_TPS=$(median < "$TMP/bare.tps")

# --- Celery -----------------------------------------------------------------
CELERY_TPS=-
if "$PY" -c 'import celery, redis' 2>/dev/null; then
  CQ=celery-bench-$$; QUEUES+=("$CQ")
  "$PY" "$PEER" worker "$REDIS" - "$CQ" 2 prefork >"$TMP/celery-worker.log" 2>&1 &
  PIDS+=($!)
  wait_log "$TMP/celery-worker.log" " ready." 60
  : > "$TMP/celery.tps"
  for r in $(seq "$CELERY_REPS"); do
    s0=$(cpu_of "$REDIS_PID"); t0=$(now)
    "$PY" "$PEER" bench "$REDIS" - "$CQ" "$TASKS" > /dev/null
    t1=$(now); s1=$(cpu_of "$REDIS_PID")
    tps=$(tps_of "$t0" "$t1")
    echo "celery on Redis run $r: $tps tasks/s; Redis CPU per task $(us_per_task "$s0" "$s1") us" >&2
    echo "$tps" >> "$TMP/celery.tps"
  done
  CELERY_TPS=$(median < "$TMP/celery.tps")
else
  echo "bench-queue (Redis): Celery side skipped: $PY cannot import celery and redis (apt-get install python3-celery python3-redis)" >&2
fi

LOAD1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)
printf '%-14s %12s\n' "impl (Redis)" tasks/s
printf '%-14s %12s\n' dsys "$DSYS_TPS"
printf '%-14s %12s\n' celery "$CELERY_TPS"
printf '%-14s %12s\n' "bare go-redis" "$BARE_TPS"
awk -v d="$DSYS_TPS" -v c="$CELERY_TPS" -v b="$BARE_TPS" 'BEGIN {
  printf "dsys on Redis: %s× Celery on Redis, %.2f× the bare go-redis ceiling (medians; dsys prefetch '"$PREFETCH"', concurrency '"$CPUS"'; Celery prefork concurrency 2)\n",
    (c == "-" ? "?" : sprintf("%.1f", d/c)), d/b }'
echo "dsys runs: $(paste -sd/ "$TMP/dsys.tps"); bare runs: $(paste -sd/ "$TMP/bare.tps"); celery runs: $( [ -s "$TMP/celery.tps" ] 2>/dev/null && paste -sd/ "$TMP/celery.tps" || echo -); load average before: $LOAD0, after: $LOAD1"

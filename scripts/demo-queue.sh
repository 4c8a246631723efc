#!/usr/bin/env bash
# demo-queue: a dsys worker on a temporary embedded broker (an SQLite file:
# no service needed), `dsys queue submit --wait add 4 4`, a batch from stdin,
# a result read back by id, then the worker stops.
set -euo pipefail
cd "$(dirname "$0")/.."
DSYS=${DSYS:-bin/dsys}
DIR=$(mktemp -d)
BROKER="sqlite://$DIR/queue.db"
export DSYS_QUEUE_BROKER="$BROKER" # the demo never touches another broker
W=
cleanup() {
  if [ -n "$W" ]; then kill "$W" 2>/dev/null || true; wait "$W" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT
echo "== dsys queue: a worker and submit --wait through the embedded broker ($BROKER)" >&2
"$DSYS" queue worker --queue demo --concurrency 2 2>"$DIR/worker.log" &
W=$!
for _ in $(seq 200); do grep -q "worker ready" "$DIR/worker.log" && break; sleep 0.05; done
grep -q "worker ready" "$DIR/worker.log" || { echo "demo-queue: the worker did not start:" >&2; cat "$DIR/worker.log" >&2; exit 1; }
run() { echo "\$ dsys $*" >&2; "$DSYS" "$@"; }
run queue submit --queue demo --wait add 4 4
echo "\$ printf '[1, 2]\n[3, 4]\n[5, 6]\n' | dsys -o json queue submit --queue demo --wait mul -" >&2
printf '[1, 2]\n[3, 4]\n[5, 6]\n' | "$DSYS" -o json queue submit --queue demo --wait mul -
id=$("$DSYS" queue submit --queue demo sum '[1, 2, 3, 4]')
run queue result --wait --timeout 10s "$id"
run queue inspect --queue demo
echo "   queue part OK (worker log: $(grep -c 'msg=task' "$DIR/worker.log") tasks run)" >&2

#!/usr/bin/env bash
# demo-zmq: `dsys zmq serve` (REP) in the background on a free loopback port
# (or $ZMQ_DEMO_PORT), then `dsys zmq send Hello` (REQ), which prints World.
# The server binds port 0 and the endpoint is read from its "listening" log
# line, so a busy port 5555 does not matter and no port is guessed.
set -euo pipefail
cd "$(dirname "$0")/.."
DSYS=${DSYS:-bin/dsys}
log=$(mktemp "${TMPDIR:-/tmp}/dsys-demo-zmq.XXXXXX")
# Flags beat DSYS_* variables: the log line must be text and not silenced.
"$DSYS" zmq serve --bind "tcp://127.0.0.1:${ZMQ_DEMO_PORT:-0}" --count 1 -o text --log-level info --quiet=false 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
ep=
for _ in $(seq 100); do # at most 5 s for the server to bind
	ep=$(sed -n 's/.*msg=listening .*endpoint=\([^ ]*\).*/\1/p' "$log")
	[ -n "$ep" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
if [ -z "$ep" ]; then
	echo "demo-zmq: the server did not start:" >&2
	cat "$log" >&2
	exit 1
fi
echo "   (serving on $ep)" >&2
"$DSYS" zmq send --connect "$ep" Hello
wait "$pid" # --count 1: it exits once it has replied

#!/usr/bin/env bash
# ZeroMQ benchmark: dsys against libzmq (C, compiled here against Debian's
# libzmq3-dev) and pyzmq, in the same run, on tcp loopback, with 16-byte
# messages by default. Each pair runs REPS times; the table shows medians
# and the ratio to libzmq. Usage: bench/zmq/run.sh [path/to/dsys]
#
# Environment: REPS (5), SIZE (16), MSGS (5000000), PY_MSGS (2000000),
# ROUND_TRIPS (20000), PYTHON (/usr/bin/python3), CC (cc).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
DSYS=${1:-$here/../../bin/dsys}
REPS=${REPS:-5}
SIZE=${SIZE:-16}
MSGS=${MSGS:-5000000}
PY_MSGS=${PY_MSGS:-2000000}
ROUND_TRIPS=${ROUND_TRIPS:-20000}
PYTHON=${PYTHON:-/usr/bin/python3}
CC=${CC:-cc}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[ -x "$DSYS" ] || { echo "bench-zmq: $DSYS not found (run make build)" >&2; exit 1; }

have_c=1
if ! "$CC" -O2 -o "$work/zmqperf" "$here/zmqperf.c" -lzmq 2>"$work/cc.log"; then
	have_c=0
	echo "bench-zmq: no libzmq C anchor (install libzmq3-dev and a C compiler): $(head -1 "$work/cc.log")" >&2
fi
have_py=1
if ! "$PYTHON" -c 'import zmq' 2>/dev/null; then
	have_py=0
	echo "bench-zmq: no pyzmq anchor ($PYTHON cannot import zmq; apt-get install python3-zmq)" >&2
fi

# free_port picks a port below the kernel's ephemeral range (so no outgoing
# connection holds it) that no socket uses.
free_port() {
	local p lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	for _ in $(seq 100); do
		p=$((10000 + RANDOM % (lo - 10000)))
		if ! ss -tanH "( sport = :$p or dport = :$p )" 2>/dev/null | grep -q .; then
			echo "$p"
			return
		fi
	done
	echo "bench-zmq: no free port" >&2
	exit 1
}

wait_listen() {
	for _ in $(seq 200); do
		ss -ltnH "sport = :$1" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	echo "bench-zmq: nothing listens on port $1" >&2
	return 1
}

# peer IMPL ROLE ENDPOINT COUNT: the command line of one side.
peer() {
	local impl=$1 role=$2 ep=$3 n=$4
	case $impl in
	dsys)
		case $role in
		local_thr) echo "$DSYS zmq bench -q -o json --role local-thr --bind $ep --messages $n --size $SIZE --timeout 120s" ;;
		remote_thr) echo "$DSYS zmq bench -q --role remote-thr --connect $ep --messages $n --size $SIZE --timeout 120s" ;;
		local_lat) echo "$DSYS zmq bench -q --role local-lat --bind $ep --round-trips $n --size $SIZE --timeout 120s" ;;
		remote_lat) echo "$DSYS zmq bench -q -o json --role remote-lat --connect $ep --round-trips $n --size $SIZE --timeout 120s" ;;
		esac ;;
	libzmq) echo "$work/zmqperf $role $ep $SIZE $n" ;;
	pyzmq) echo "$PYTHON $here/pyperf.py $role $ep $SIZE $n" ;;
	esac
}

# run KIND SENDER RECEIVER: one measurement; prints the JSON line.
run() {
	local kind=$1 snd=$2 rcv=$3 port ep n out
	port=$(free_port)
	ep=tcp://127.0.0.1:$port
	if [ "$kind" = thr ]; then
		n=$MSGS
		{ [ "$snd" = pyzmq ] || [ "$rcv" = pyzmq ]; } && n=$PY_MSGS
		$(peer "$rcv" local_thr "$ep" "$n") >"$work/out" &
		local pid=$!
		wait_listen "$port"
		$(peer "$snd" remote_thr "tcp://127.0.0.1:$port" "$n")
		wait "$pid"
		out=$(cat "$work/out")
	else
		$(peer "$rcv" local_lat "$ep" "$ROUND_TRIPS") &
		local pid=$!
		wait_listen "$port"
		out=$($(peer "$snd" remote_lat "tcp://127.0.0.1:$port" "$ROUND_TRIPS"))
		wait "$pid"
	fi
	echo "$out"
}

field() { sed -n "s/.*\"$1\": *\([0-9.e+-]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

impls=(dsys)
[ $have_c = 1 ] && impls+=(libzmq)
[ $have_py = 1 ] && impls+=(pyzmq)

thr_pairs=()
for i in "${impls[@]}"; do thr_pairs+=("$i $i"); done
[ $have_c = 1 ] && thr_pairs+=("libzmq dsys" "dsys libzmq")

declare -A thr lat p99
echo "bench-zmq: $REPS repetitions, $SIZE-byte messages, tcp loopback" >&2
for rep in $(seq "$REPS"); do
	for pair in "${thr_pairs[@]}"; do
		set -- $pair
		v=$(run thr "$1" "$2" | field msg_per_sec)
		[ -n "$v" ] || { echo "bench-zmq: throughput $1 -> $2 gave no result" >&2; exit 1; }
		thr[$pair]+="$v "
		echo "  rep $rep throughput $1 -> $2: $v msg/s" >&2
	done
	for i in "${impls[@]}"; do
		line=$(run lat "$i" "$i")
		[ -n "$line" ] || { echo "bench-zmq: latency $i gave no result" >&2; exit 1; }
		lat[$i]+="$(echo "$line" | field p50_us) "
		p99[$i]+="$(echo "$line" | field p99_us) "
		echo "  rep $rep latency $i: p50 $(echo "$line" | field p50_us) µs" >&2
	done
done

# The command-line tools: newline-framed stdin → dsys zmq push → dsys zmq
# pull → stdout, LINES lines, timed from start to the sink's exit.
LINES=${LINES:-5000000}
seq "$LINES" >"$work/lines"
declare -a pipe
for rep in $(seq "$REPS"); do
	port=$(free_port)
	start=$(date +%s.%N)
	"$DSYS" zmq pull -q --bind "tcp://127.0.0.1:$port" --count "$LINES" >"$work/lines.out" &
	pid=$!
	wait_listen "$port"
	"$DSYS" zmq push -q --connect "tcp://127.0.0.1:$port" <"$work/lines"
	wait "$pid"
	end=$(date +%s.%N)
	cmp -s "$work/lines" "$work/lines.out" || { echo "bench-zmq: the line pipe lost or reordered lines" >&2; exit 1; }
	v=$(awk -v n="$LINES" -v a="$start" -v b="$end" 'BEGIN {print n/(b-a)}')
	pipe+=("$v")
	echo "  rep $rep CLI line pipe: $v lines/s" >&2
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "Machine: $(nproc) CPU(s), ${cpu:-unknown CPU}, $(uname -sr), $(go version 2>/dev/null | cut -d' ' -f3)"
[ $have_c = 1 ] && echo "libzmq $(pkg-config --modversion libzmq 2>/dev/null || echo '?'); pyzmq $("$PYTHON" -c 'import zmq; print(zmq.__version__)' 2>/dev/null || echo '-')"
echo "Medians of $REPS runs, $SIZE-byte messages, tcp loopback, sender and receiver in separate processes."
echo
ref_thr=""
[ $have_c = 1 ] && ref_thr=$(med "${thr[libzmq libzmq]}")
echo "| PUSH → PULL | msg/s (median) | vs libzmq |"
echo "| --- | ---: | ---: |"
for pair in "${thr_pairs[@]}"; do
	m=$(med "${thr[$pair]}")
	ratio="-"
	[ -n "$ref_thr" ] && ratio=$(awk -v a="$m" -v b="$ref_thr" 'BEGIN {printf "%.2f×", a/b}')
	printf "| %s | %s | %s |\n" "${pair/ / → }" "$(awk -v a="$m" 'BEGIN {printf "%.2f M", a/1e6}')" "$ratio"
done
echo
ref_lat=""
[ $have_c = 1 ] && ref_lat=$(med "${lat[libzmq]}")
echo "| REQ ↔ REP round trip | p50 µs (median) | p99 µs (median) | p50 vs libzmq |"
echo "| --- | ---: | ---: | ---: |"
for i in "${impls[@]}"; do
	m=$(med "${lat[$i]}")
	ratio="-"
	[ -n "$ref_lat" ] && ratio=$(awk -v a="$m" -v b="$ref_lat" 'BEGIN {printf "%.2f×", a/b}')
	printf "| %s | %.1f | %.1f | %s |\n" "$i" "$m" "$(med "${p99[$i]}")" "$ratio"
done
echo
printf "CLI: \`seq %d | dsys zmq push\` → \`dsys zmq pull > file\` (separate processes, tcp loopback, whole run incl. start-up): %s lines/s (median).\n" \
	"$LINES" "$(awk -v a="$(med "${pipe[*]}")" 'BEGIN {printf "%.2f M", a/1e6}')"

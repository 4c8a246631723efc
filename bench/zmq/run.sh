#!/usr/bin/env bash
# ZeroMQ benchmark: dsys against libzmq (C, compiled here against Debian's
# libzmq3-dev) and pyzmq, in the same run, on tcp loopback, with 16-byte
# messages by default. Each pair runs REPS times; the table shows medians
# and the ratio to libzmq. Usage: bench/zmq/run.sh [path/to/dsys]
#
# Environment: REPS (5), SIZE (16), MSGS (5000000), PY_MSGS (2000000),
# ROUND_TRIPS (20000), PYTHON (/usr/bin/python3), CC (cc); for the CURVE
# section CURVE_SIZES ("16 1024"), CURVE_MSGS (1000000), PY_CURVE_MSGS
# (300000); for the proxy section PROXY_MSGS (3000000). SECTIONS picks
# sections (default "plain curve proxy").
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

# CURVE keys for the CURVE section: the binding side is the server.
CURVE_SECRET="" CURVE_SERVER=""
keys=$("$DSYS" zmq keygen)
KEY_PUBLIC=$(sed -n 's/^public: //p' <<<"$keys")
KEY_SECRET=$(sed -n 's/^secret: //p' <<<"$keys")
export CURVE_SECRET CURVE_SERVER

# peer IMPL ROLE ENDPOINT COUNT: the command line of one side, as an array
# in $cmd (the keys hold shell characters: no word splitting).
peer() {
	local impl=$1 role=$2 ep=$3 n=$4
	cmd=()
	case $impl in
	dsys)
		local curve=()
		case $role in
		local_*) [ -n "$CURVE_SECRET" ] && curve=("--curve-secret=$CURVE_SECRET") ;;
		remote_*) [ -n "$CURVE_SERVER" ] && curve=("--curve-server=$CURVE_SERVER") ;;
		esac
		case $role in
		local_thr) cmd=("$DSYS" zmq bench -q -o json --role local-thr --bind "$ep" --messages "$n" --size "$SIZE" --timeout 120s) ;;
		remote_thr) cmd=("$DSYS" zmq bench -q --role remote-thr --connect "$ep" --messages "$n" --size "$SIZE" --timeout 120s) ;;
		local_lat) cmd=("$DSYS" zmq bench -q --role local-lat --bind "$ep" --round-trips "$n" --size "$SIZE" --timeout 120s) ;;
		remote_lat) cmd=("$DSYS" zmq bench -q -o json --role remote-lat --connect "$ep" --round-trips "$n" --size "$SIZE" --timeout 120s) ;;
		esac
		cmd+=("${curve[@]}") ;;
	libzmq) cmd=("$work/zmqperf" "$role" "$ep" "$SIZE" "$n") ;;
	pyzmq) cmd=("$PYTHON" "$here/pyperf.py" "$role" "$ep" "$SIZE" "$n") ;;
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
		peer "$rcv" local_thr "$ep" "$n"
		"${cmd[@]}" >"$work/out" &
		local pid=$!
		wait_listen "$port"
		peer "$snd" remote_thr "tcp://127.0.0.1:$port" "$n"
		"${cmd[@]}"
		wait "$pid"
		out=$(cat "$work/out")
	else
		peer "$rcv" local_lat "$ep" "$ROUND_TRIPS"
		"${cmd[@]}" &
		local pid=$!
		wait_listen "$port"
		peer "$snd" remote_lat "tcp://127.0.0.1:$port" "$ROUND_TRIPS"
		out=$("${cmd[@]}")
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

SECTIONS=${SECTIONS:-plain curve proxy}
has() { [[ " $SECTIONS " == *" $1 "* ]]; }
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f×", a/b; else print "-"}'; }
mps() { awk -v a="$1" 'BEGIN {printf "%.2f M", a/1e6}'; }
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "Machine: $(nproc) CPU(s), ${cpu:-unknown CPU}, $(uname -sr), $(go version 2>/dev/null | cut -d' ' -f3); load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
[ $have_c = 1 ] && echo "libzmq $(pkg-config --modversion libzmq 2>/dev/null || echo '?'); pyzmq $("$PYTHON" -c 'import zmq; print(zmq.__version__)' 2>/dev/null || echo '-')"

declare -A thr lat p99
if has plain; then
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

echo
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
fi

# CURVE: the same roles over ZMTP CURVE (the binding side is the server),
# dsys, libzmq and pyzmq each against itself.
if has curve; then
	CURVE_SIZES=${CURVE_SIZES:-16 1024}
	CURVE_MSGS=${CURVE_MSGS:-1000000}
	PY_CURVE_MSGS=${PY_CURVE_MSGS:-300000}
	saved=("$SIZE" "$MSGS" "$PY_MSGS")
	CURVE_SECRET=$KEY_SECRET CURVE_SERVER=$KEY_PUBLIC
	MSGS=$CURVE_MSGS PY_MSGS=$PY_CURVE_MSGS
	declare -A cthr clat cp99
	lat_size=${CURVE_SIZES%% *}
	echo "bench-zmq: CURVE, $REPS repetitions, ${CURVE_SIZES// /- and }-byte messages" >&2
	for rep in $(seq "$REPS"); do
		for size in $CURVE_SIZES; do
			SIZE=$size
			for i in "${impls[@]}"; do
				v=$(run thr "$i" "$i" | field msg_per_sec)
				[ -n "$v" ] || { echo "bench-zmq: CURVE throughput $i gave no result" >&2; exit 1; }
				cthr[$size $i]+="$v "
				echo "  rep $rep CURVE throughput $i $size B: $v msg/s" >&2
			done
		done
		SIZE=$lat_size
		for i in "${impls[@]}"; do
			line=$(run lat "$i" "$i")
			[ -n "$line" ] || { echo "bench-zmq: CURVE latency $i gave no result" >&2; exit 1; }
			clat[$i]+="$(echo "$line" | field p50_us) "
			cp99[$i]+="$(echo "$line" | field p99_us) "
			echo "  rep $rep CURVE latency $i: p50 $(echo "$line" | field p50_us) µs" >&2
		done
	done
	CURVE_SECRET="" CURVE_SERVER=""
	SIZE=${saved[0]} MSGS=${saved[1]} PY_MSGS=${saved[2]}
	echo
	echo "CURVE (medians of $REPS runs, $CURVE_MSGS messages; pyzmq $PY_CURVE_MSGS):"
	echo
	header="| CURVE PUSH → PULL |" sep="| --- |"
	for size in $CURVE_SIZES; do header+=" $size B msg/s | vs libzmq |"; sep+=" ---: | ---: |"; done
	echo "$header"
	echo "$sep"
	for i in "${impls[@]}"; do
		row="| $i → $i |"
		for size in $CURVE_SIZES; do
			m=$(med "${cthr[$size $i]}")
			ref=""
			[ $have_c = 1 ] && ref=$(med "${cthr[$size libzmq]}")
			row+=" $(mps "$m") | $(ratio "$m" "${ref:-0}") |"
		done
		echo "$row"
	done
	echo
	echo "| REQ ↔ REP over CURVE, $lat_size B | p50 µs (median) | p99 µs (median) | libzmq's p50 / this |"
	echo "| --- | ---: | ---: | ---: |"
	ref=""
	[ $have_c = 1 ] && ref=$(med "${clat[libzmq]}")
	for i in "${impls[@]}"; do
		m=$(med "${clat[$i]}")
		printf "| %s | %.1f | %.1f | %s |\n" "$i" "$m" "$(med "${cp99[$i]}")" "$(ratio "${ref:-0}" "$m")"
	done
fi

# Proxies: libzmq's C peers at both ends, the proxy in the middle — dsys zmq
# proxy, libzmq's zmq_proxy (C) and pyzmq's zmq.proxy — as a streamer
# (pull/push, throughput) and as a request broker (router/dealer, latency).
if has proxy && [ $have_c = 1 ]; then
	PROXY_MSGS=${PROXY_MSGS:-3000000}
	proxies=(dsys libzmq)
	[ $have_py = 1 ] && proxies+=(pyzmq)
	# proxy_cmd IMPL DEVICE FRONT BACK: the proxy's command line in $pcmd.
	proxy_cmd() {
		case $1 in
		dsys)
			if [ "$2" = broker ]; then
				pcmd=("$DSYS" zmq proxy -q --frontend "router=@$3" --backend "dealer=$4")
			else
				pcmd=("$DSYS" zmq proxy -q --frontend "pull=@$3" --backend "push=$4")
			fi ;;
		libzmq) pcmd=(env "PROXY=$2" "$work/zmqperf" proxy "$3" "$4") ;;
		pyzmq) pcmd=(env "PROXY=$2" "$PYTHON" "$here/pyperf.py" proxy "$3" "$4") ;;
		esac
	}
	# run_proxy KIND IMPL: one measurement through the proxy; prints the JSON line.
	run_proxy() {
		local kind=$1 impl=$2 p1 p2 rpid ppid out
		p1=$(free_port)
		p2=$(free_port)
		SIZE=16
		if [ "$kind" = thr ]; then
			"$work/zmqperf" local_thr "tcp://127.0.0.1:$p2" 16 "$PROXY_MSGS" >"$work/out" &
		else
			"$work/zmqperf" local_lat "tcp://127.0.0.1:$p2" 16 "$ROUND_TRIPS" &
		fi
		rpid=$!
		wait_listen "$p2"
		local device=streamer
		[ "$kind" = lat ] && device=broker
		proxy_cmd "$impl" "$device" "tcp://127.0.0.1:$p1" "tcp://127.0.0.1:$p2"
		"${pcmd[@]}" 2>>"$work/proxy.err" &
		ppid=$!
		wait_listen "$p1"
		if [ "$kind" = thr ]; then
			"$work/zmqperf" remote_thr "tcp://127.0.0.1:$p1" 16 "$PROXY_MSGS"
			wait "$rpid"
			out=$(cat "$work/out")
		else
			out=$("$work/zmqperf" remote_lat "tcp://127.0.0.1:$p1" 16 "$ROUND_TRIPS")
			wait "$rpid"
		fi
		kill "$ppid" 2>/dev/null
		wait "$ppid" 2>/dev/null || true
		echo "$out"
	}
	declare -A pthr plat
	echo "bench-zmq: proxies, $REPS repetitions" >&2
	for rep in $(seq "$REPS"); do
		for i in "${proxies[@]}"; do
			v=$(run_proxy thr "$i" | field msg_per_sec)
			[ -n "$v" ] || { echo "bench-zmq: proxy throughput $i gave no result" >&2; exit 1; }
			pthr[$i]+="$v "
			line=$(run_proxy lat "$i")
			[ -n "$line" ] || { echo "bench-zmq: proxy latency $i gave no result" >&2; exit 1; }
			plat[$i]+="$(echo "$line" | field p50_us) "
			echo "  rep $rep proxy $i: $v msg/s, broker p50 $(echo "$line" | field p50_us) µs" >&2
		done
	done
	echo
	echo "Proxies (libzmq C at both ends; medians of $REPS runs; $PROXY_MSGS 16-byte messages, $ROUND_TRIPS round trips):"
	echo
	echo "| proxy | streamer PULL→PUSH msg/s | vs zmq.proxy | broker REQ→ROUTER/DEALER→REP p50 µs | zmq.proxy's p50 / this |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	ref_t="" ref_l=""
	[ $have_py = 1 ] && ref_t=$(med "${pthr[pyzmq]}") ref_l=$(med "${plat[pyzmq]}")
	for i in "${proxies[@]}"; do
		label=$i
		case $i in dsys) label="dsys zmq proxy" ;; libzmq) label="libzmq zmq_proxy (C)" ;; pyzmq) label="pyzmq zmq.proxy" ;; esac
		t=$(med "${pthr[$i]}") l=$(med "${plat[$i]}")
		printf "| %s | %s | %s | %.1f | %s |\n" "$label" "$(mps "$t")" "$(ratio "$t" "${ref_t:-0}")" "$l" "$(ratio "${ref_l:-0}" "$l")"
	done
fi

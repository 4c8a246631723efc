#!/usr/bin/env bash
# Installs, from Debian's packages, what dsys's integration tests and
# benchmarks talk to, and starts RabbitMQ and Redis when they are installed
# but not running. Idempotent: run it as often as you like.
set -euo pipefail

PACKAGES=(python3-zmq python3-celery python3-numpy python3-dask python3-sqlalchemy python3-redis python3-distributed rabbitmq-server redis-server datamash libzmq3-dev hyperfine time)
AMQP_HOST=127.0.0.1
AMQP_PORT=5672
WAIT_SECONDS=${DSYS_RABBITMQ_WAIT:-90}
REDIS_HOST=127.0.0.1
REDIS_PORT=${DSYS_REDIS_PORT:-6379}
REDIS_WAIT_SECONDS=${DSYS_REDIS_WAIT:-20}

log() { echo "install-peers: $*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"
	elif command -v sudo >/dev/null 2>&1; then sudo "$@"
	else log "need root (or sudo) to run: $*"; exit 1
	fi
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	log "this script installs Debian packages; on another system install: ${PACKAGES[*]}"
	exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	log "all packages present"
fi

# Debian's Python is the one with these modules; the python3 first on PATH may differ.
/usr/bin/python3 -c 'import zmq, celery, redis, numpy, dask' || { log "/usr/bin/python3 cannot import zmq, celery, redis, numpy and dask"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_port HOST PORT SECONDS NAME: wait until the port accepts connections.
wait_port() {
	for ((i = 0; i < $3; i++)); do
		if port_open "$1" "$2"; then
			log "$4 accepts connections on $1:$2 after ${i}s"
			return 0
		fi
		sleep 1
	done
	log "$4 did not accept connections on $1:$2 within $3s"
	return 1
}

if port_open "$AMQP_HOST" "$AMQP_PORT"; then
	log "RabbitMQ accepts connections on $AMQP_HOST:$AMQP_PORT"
else
	log "starting RabbitMQ"
	as_root rabbitmq-server -detached
	wait_port "$AMQP_HOST" "$AMQP_PORT" "$WAIT_SECONDS" RabbitMQ
fi

# Redis as the project's machines run it: no persistence (see the README's
# Redis section for what that loses on a restart).
if port_open "$REDIS_HOST" "$REDIS_PORT"; then
	log "Redis accepts connections on $REDIS_HOST:$REDIS_PORT"
else
	log "starting Redis"
	redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
	wait_port "$REDIS_HOST" "$REDIS_PORT" "$REDIS_WAIT_SECONDS" Redis
fi

#!/usr/bin/env bash
# Installs, from Debian's packages, what dsys's integration tests and
# benchmarks talk to, and starts RabbitMQ when it is installed but not
# running. Idempotent: run it as often as you like.
set -euo pipefail

PACKAGES=(python3-zmq python3-celery python3-numpy python3-dask python3-sqlalchemy python3-redis python3-distributed rabbitmq-server redis-server datamash libzmq3-dev hyperfine time)
AMQP_HOST=127.0.0.1
AMQP_PORT=5672
WAIT_SECONDS=${DSYS_RABBITMQ_WAIT:-90}

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
/usr/bin/python3 -c 'import zmq, celery, numpy, dask' || { log "/usr/bin/python3 cannot import zmq, celery, numpy and dask"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$AMQP_HOST/$AMQP_PORT") 2>/dev/null; }

if port_open; then
	log "RabbitMQ accepts connections on $AMQP_HOST:$AMQP_PORT"
	exit 0
fi
log "starting RabbitMQ"
as_root rabbitmq-server -detached
for ((i = 0; i < WAIT_SECONDS; i++)); do
	if port_open; then
		log "RabbitMQ accepts connections on $AMQP_HOST:$AMQP_PORT after ${i}s"
		exit 0
	fi
	sleep 1
done
log "RabbitMQ did not accept connections on $AMQP_HOST:$AMQP_PORT within ${WAIT_SECONDS}s"
exit 1

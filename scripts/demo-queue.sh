#!/usr/bin/env bash
# demo-queue: a dsys worker and `dsys queue submit --wait add 4 4` through
# RabbitMQ (skipped with a message when no RabbitMQ is reachable).
set -euo pipefail
cd "$(dirname "$0")/.."
DSYS=${DSYS:-bin/dsys}
BROKER=${DSYS_QUEUE_BROKER:-amqp://guest:guest@127.0.0.1:5672/}
hostport=$(echo "$BROKER" | sed -E 's#^[a-z]+://([^@/]*@)?([^/:]+)(:([0-9]+))?.*#\2 \4#')
host=${hostport% *}; port=${hostport#* }; port=${port:-5672}
echo "== dsys queue: worker + submit round trip through RabbitMQ at $host:$port" >&2
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "   skipped: RabbitMQ is not reachable at $host:$port (make peers installs and starts it)" >&2
  exit 0
fi
Q=dsys-demo  # one fixed name: repeated demos leave no litter
"$DSYS" queue worker --broker "$BROKER" --queue "$Q" --concurrency 2 2>/tmp/dsys-demo-worker.$$ &
W=$!
trap 'kill $W 2>/dev/null; wait $W 2>/dev/null || true; rm -f /tmp/dsys-demo-worker.$$' EXIT
for _ in $(seq 200); do grep -q "worker ready" /tmp/dsys-demo-worker.$$ && break; sleep 0.05; done
set -x
"$DSYS" queue submit --broker "$BROKER" --queue "$Q" --wait add 4 4
printf '[1, 2]\n[3, 4]\n[5, 6]\n' | "$DSYS" -o json queue submit --broker "$BROKER" --queue "$Q" --wait mul -
"$DSYS" queue inspect --broker "$BROKER" --queue "$Q"
"$DSYS" queue purge --broker "$BROKER" --queue "$Q" --yes

#!/usr/bin/python3
"""A real Celery 5 peer for dsys's interop tests and benchmarks.

    celery_peer.py client URL QUEUE          run the interop calls, print one JSON object
    celery_peer.py worker URL QUEUE [N] [POOL]  a Celery worker serving tasks.* on QUEUE
    celery_peer.py bench URL QUEUE N         submit N add tasks, collect results, print tasks/s
    celery_peer.py rtt URL QUEUE N           N sequential add round trips, print the p50 in ms

URL is an amqp:// or pyamqp:// broker URL, or sqla+sqlite:///PATH (kombu's
SQLAlchemy transport); CELERY_RESULT_BACKEND overrides the result backend
(default rpc://, e.g. db+sqlite:///PATH).
"""
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

from celery import Celery, chain

mode, url, queue = sys.argv[1], sys.argv[2], sys.argv[3]
app = Celery("tasks", broker=url.replace("amqp://", "pyamqp://", 1), backend=os.environ.get("CELERY_RESULT_BACKEND", "rpc://"))
app.conf.task_default_queue = queue
app.conf.broker_connection_retry_on_startup = True
app.conf.worker_hijack_root_logger = False


@app.task(name="tasks.add")
def add(x, y):
    return x + y


@app.task(name="tasks.fail")
def fail(message):
    raise ValueError(message)


@app.task(name="tasks.echo")
def echo(*args):
    return args[0] if len(args) == 1 else list(args)


def outcome(fn):
    try:
        return {"ok": fn()}
    except Exception as e:  # noqa: BLE001 - we report whatever the peer raised
        return {"exc_type": type(e).__name__, "exc_module": type(e).__module__, "message": str(e),
                "args": [str(a) for a in e.args]}


def client():
    t = 30
    past = datetime.now(timezone.utc) - timedelta(seconds=10)
    out = {
        "add": outcome(lambda: add.delay(4, 4).get(timeout=t)),
        "float": outcome(lambda: add.delay(1.5, 2).get(timeout=t)),
        "fail": outcome(lambda: app.send_task("tasks.fail", ("boom",)).get(timeout=t)),
        "unknown": outcome(lambda: app.send_task("tasks.nope", (1,)).get(timeout=t)),
        "expired": outcome(lambda: add.apply_async((1, 1), expires=past).get(timeout=t)),
        "chain": outcome(lambda: chain(add.s(1, 1), add.s(2), add.s(3))().get(timeout=t)),
        "countdown": outcome(lambda: add.apply_async((2, 3), countdown=1).get(timeout=t)),
        "v1": None,
    }
    v1 = Celery("tasks", broker=app.conf.broker_url, backend="rpc://")
    v1.conf.task_protocol = 1
    v1.conf.task_default_queue = queue
    out["v1"] = outcome(lambda: v1.send_task("tasks.add", (20, 22)).get(timeout=t))
    print(json.dumps(out))


def worker(concurrency="1", pool="solo"):
    app.worker_main(["worker", "-P", pool, "-c", concurrency, "-Q", queue, "--without-heartbeat",
                     "--without-gossip", "--without-mingle", "-l", "info", "--prefetch-multiplier", "4"])


def bench(n):
    n = int(n)
    start = time.monotonic()
    results = [add.delay(i, i) for i in range(n)]
    for i, r in enumerate(results):
        assert r.get(timeout=600) == 2 * i
    el = time.monotonic() - start
    print(json.dumps({"tasks": n, "seconds": el, "tasks_per_s": n / el}))


def rtt(n):
    n = int(n)
    add.delay(0, 0).get(timeout=60)  # warm up
    lat = []
    for i in range(n):
        s = time.perf_counter()
        add.delay(i, 1).get(timeout=60)
        lat.append(time.perf_counter() - s)
    lat.sort()
    print(json.dumps({"n": n, "p50_ms": lat[n // 2] * 1e3, "p90_ms": lat[int(n * 0.9)] * 1e3}))


if __name__ == "__main__":
    {"client": client, "worker": worker, "bench": bench, "rtt": rtt}[mode](*sys.argv[4:])

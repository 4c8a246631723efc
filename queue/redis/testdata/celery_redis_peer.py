#!/usr/bin/python3
"""A real Celery 5 peer on Redis (broker and result backend) for dsys's tests and benchmarks.

    celery_redis_peer.py client URL PREFIX QUEUE          the interop calls, one JSON object on stdout
    celery_redis_peer.py chord URL PREFIX QUEUE N         chord(group(add(i, i) for i < N), tsum), one JSON object
    celery_redis_peer.py worker URL PREFIX QUEUE [N] [POOL]  a Celery worker serving tasks.* on QUEUE
    celery_redis_peer.py bench URL PREFIX QUEUE N         submit N add tasks, collect results, print tasks/s

URL is a redis:// URL (broker and backend); PREFIX is kombu's global_keyprefix for the
broker's keys ("-" for none), so tests share a Redis database without meeting. With
CELERY_BACKEND set, URL is only the broker (e.g. pyamqp://…) and results go there.
"""
import json
import os
import sys
import time

from celery import Celery, chain, chord, group

mode, url, prefix, queue = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
app = Celery("tasks", broker=url, backend=os.environ.get("CELERY_BACKEND", url))
app.conf.task_default_queue = queue
app.conf.broker_connection_retry_on_startup = True
app.conf.worker_hijack_root_logger = False
app.conf.result_expires = 600
if prefix != "-":
    app.conf.broker_transport_options = {"global_keyprefix": prefix}


@app.task(name="tasks.add")
def add(x, y):
    return x + y


@app.task(name="tasks.tsum")
def tsum(xs):
    return sum(xs)


@app.task(name="tasks.fail")
def fail(message):
    raise ValueError(message)


def outcome(fn):
    try:
        return {"ok": fn()}
    except Exception as e:  # noqa: BLE001 - we report whatever the peer raised
        return {"exc_type": type(e).__name__, "exc_module": type(e).__module__, "message": str(e)}


def chord_fail(t):
    """A chord whose header fails: get() raises the part's error, as Celery
    does; the callback's own state is FAILURE with ChordError."""
    res = chord([add.s(1, 1), fail.s("bad part")], tsum.s())()
    out = outcome(lambda: res.get(timeout=t))
    deadline = time.monotonic() + t
    while res.state not in ("SUCCESS", "FAILURE") and time.monotonic() < deadline:
        time.sleep(0.05)
    out["callback_state"] = res.state
    out["callback_result"] = repr(res.result)
    return out


def client():
    t = 30
    out = {
        "add": outcome(lambda: add.delay(4, 4).get(timeout=t)),
        "float": outcome(lambda: add.delay(1.5, 2).get(timeout=t)),
        "fail": outcome(lambda: app.send_task("tasks.fail", ("boom",)).get(timeout=t)),
        "unknown": outcome(lambda: app.send_task("tasks.nope", (1,)).get(timeout=t)),
        "chain": outcome(lambda: chain(add.s(1, 1), add.s(2), add.s(3))().get(timeout=t)),
        "countdown": outcome(lambda: add.apply_async((2, 3), countdown=1).get(timeout=t)),
        "priority": outcome(lambda: add.apply_async((3, 3), priority=5).get(timeout=t)),
        "chord": outcome(lambda: chord(group(add.s(i, i) for i in range(5)), tsum.s())().get(timeout=t)),
        "chord_fail": chord_fail(t),
        "state": None,
    }
    r = add.delay(20, 22)
    r.get(timeout=t)
    out["state"] = {"state": r.state, "result": r.result}
    print(json.dumps(out))


def chord_only(n):
    res = chord(group(add.s(i, i) for i in range(int(n))), tsum.s())()
    print(json.dumps(outcome(lambda: res.get(timeout=60))))


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


if __name__ == "__main__":
    {"client": client, "chord": chord_only, "worker": worker, "bench": bench}[mode](*sys.argv[5:])

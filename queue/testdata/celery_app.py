#!/usr/bin/python3
"""A Celery 5 app for dsys's tests of Celery's tools against dsys workers.

Configured from the environment, so that each test has exchanges and queues
of its own (tests of other helpers run on the same RabbitMQ):

    DSYS_TEST_BROKER     broker URL (amqp:// or pyamqp://)
    DSYS_TEST_QUEUE      task_default_queue
    DSYS_TEST_CONTROL    control_exchange (celery inspect/control/status)
    DSYS_TEST_EVENTS     event_exchange (celery events)
    DSYS_TEST_QUEUE_ARGS JSON queue_arguments of task_queues (optional)

As a module: `python3 -m celery -A celery_app inspect ping` (with this
directory on PYTHONPATH). As a script:

    celery_app.py calls ERRBACK_QUEUE     Celery-client calls against a dsys worker; one JSON object
    celery_app.py worker NODE             a Celery worker (solo pool) hosting tasks.*
    celery_app.py receive SECONDS NODE    app.events.Receiver: print the events seen (JSON lines) until
                                          SECONDS pass or NODE sends worker-offline
    celery_app.py states NAME ARGS_JSON   send_task, then poll AsyncResult.state: the states seen
    celery_app.py send NAME ARGS_JSON [KWARGS_JSON [OPTIONS_JSON]]  send_task, print the id
    celery_app.py call NAME ARGS_JSON [KWARGS_JSON [OPTIONS_JSON]]  send_task and get: {"ok": result}
"""
import json
import os
import sys
import threading
import time

from celery import Celery, chain, group
from kombu import Exchange, Queue

BROKER = os.environ.get("DSYS_TEST_BROKER", "amqp://guest:guest@127.0.0.1:5672//").replace("amqp://", "pyamqp://", 1)
QUEUE = os.environ.get("DSYS_TEST_QUEUE", "celery")

app = Celery("tasks", broker=BROKER, backend="rpc://")
app.conf.task_default_queue = QUEUE
app.conf.control_exchange = os.environ.get("DSYS_TEST_CONTROL", "celery")
app.conf.event_exchange = os.environ.get("DSYS_TEST_EVENTS", "celeryev")
app.conf.broker_connection_retry_on_startup = True
app.conf.worker_hijack_root_logger = False
if os.environ.get("DSYS_TEST_QUEUE_ARGS"):
    app.conf.task_queues = [Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE,
                                  queue_arguments=json.loads(os.environ["DSYS_TEST_QUEUE_ARGS"]))]


@app.task(name="tasks.add")
def add(x, y):
    return x + y


@app.task(name="sum")
def sum_(xs):
    """A stub of dsys's built-in sum, for its map signature."""
    return sum(xs)


@app.task(name="tasks.err")
def err(request, exc, traceback):
    """A new-style errback: Celery's (request, exc, traceback)."""
    rid = request["id"] if isinstance(request, dict) else request.id
    etype = exc["exc_type"] if isinstance(exc, dict) else type(exc).__name__
    return {"request_id": rid, "exc_type": etype, "traceback_ok": "Traceback" in (traceback or "")}


def outcome(fn):
    try:
        return {"ok": fn()}
    except Exception as e:  # noqa: BLE001 - we report whatever the peer raised
        return {"exc_type": type(e).__name__, "message": str(e)}


def calls(errback_queue=""):
    t = 30
    sig = app.signature
    out = {
        "kwargs": outcome(lambda: sig("tasks.add").apply_async(kwargs={"x": 2, "y": 3}).get(timeout=t)),
        "mixed": outcome(lambda: sig("tasks.add").apply_async((2,), {"y": 40}).get(timeout=t)),
        "echo_kwargs": outcome(lambda: sig("echo").apply_async((1,), {"k": "v"}).get(timeout=t)),
        "bad_kwarg": outcome(lambda: sig("tasks.add").apply_async((1,), {"z": 2}).get(timeout=t)),
        "map": outcome(lambda: sum_.map([(1, 2), (3, 4)]).apply_async().get(timeout=t)),
        "starmap": outcome(lambda: add.starmap([(1, 2), (3, 4)]).apply_async().get(timeout=t)),
        "chunks": outcome(lambda: add.chunks([(1, 2), (3, 4), (5, 6)], 2).apply_async().get(timeout=t)),
        "chain_group": outcome(lambda: chain(sig("tasks.add", (1, 1)), group(sig("tasks.add", (10,)), sig("tasks.add", (20,))))
                               .apply_async().get(timeout=t)),
        "group": outcome(lambda: group(sig("tasks.add", (1, 2)), sig("mul", (3, 4))).apply_async().get(timeout=t)),
        "accumulate": outcome(lambda: sig("celery.accumulate", (1, 2, 3)).apply_async().get(timeout=t)),
    }
    r = sig("fail").apply_async(("boom",))
    try:
        r.get(timeout=t)
        out["traceback"] = {"error": "no failure"}
    except Exception as e:  # noqa: BLE001
        out["traceback"] = {"exc_type": type(e).__name__, "traceback": r.traceback}
    if errback_queue:
        eb = sig("tasks.err", queue=errback_queue).freeze()
        r = sig("fail").apply_async(("errback",), link_error=sig("tasks.err", queue=errback_queue,
                                                                  task_id=eb.id))
        out["errback"] = outcome(lambda: eb.get(timeout=t))
    print(json.dumps(out))


def worker(node):
    app.worker_main(["worker", "-P", "solo", "-c", "1", "-Q", QUEUE, "-n", node, "--without-heartbeat",
                     "--without-gossip", "-l", "info"])


def receive(seconds, node):
    seconds = float(seconds)
    with app.connection() as conn:
        recv = app.events.Receiver(conn, handlers={})

        def on_event(event):
            print(json.dumps(event), flush=True)
            if event["type"] == "worker-offline" and event.get("hostname") == node:
                recv.should_stop = True

        def ready(*args, **kwargs):
            print(json.dumps({"type": "receiver-ready"}), flush=True)

        recv.handlers["*"] = on_event
        recv.on_consume_ready = ready
        timer = threading.Timer(seconds, lambda: setattr(recv, "should_stop", True))
        timer.start()
        try:
            recv.capture(limit=None, timeout=None, wakeup=False)
        finally:
            timer.cancel()


def send(name, args, kwargs="{}", options="{}"):
    r = app.send_task(name, json.loads(args), json.loads(kwargs), **json.loads(options))
    print(r.id)


def states(name, args):
    """The states AsyncResult.state goes through (in a process that has not
    consumed its reply queue yet: rpc:// polls it with basic_get)."""
    r = app.send_task(name, json.loads(args))
    seen, deadline = [], time.monotonic() + 30
    while time.monotonic() < deadline:
        s = r.state
        if not seen or seen[-1] != s:
            seen.append(s)
        if s in ("SUCCESS", "FAILURE", "REVOKED"):
            break
        time.sleep(0.02)
    print(json.dumps(seen))


def call(name, args, kwargs="{}", options="{}"):
    r = app.send_task(name, json.loads(args), json.loads(kwargs), **json.loads(options))
    print(json.dumps(outcome(lambda: r.get(timeout=30))))


if __name__ == "__main__":
    {"calls": calls, "worker": worker, "receive": receive, "send": send, "call": call,
     "states": states}[sys.argv[1]](*sys.argv[2:])

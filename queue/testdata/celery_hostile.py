#!/usr/bin/python3
"""Celery 5 client calls that dsys workers once choked on, for dsys's fault tests.

    celery_hostile.py BROKER_URL BACKEND_URL PREFIX QUEUE   one JSON object on stdout

BROKER_URL is amqp:// (sent through py-amqp, Celery's own client) or redis://;
PREFIX is kombu's global_keyprefix on Redis ("-" for none). Each entry is
{"ok": result} or the exception .get() raised: {"exc_type", "exc_module", "message"}.
"""
import json
import math
import sys

from celery import Celery

broker, backend, prefix, queue = sys.argv[1:5]
app = Celery("tasks", broker=broker.replace("amqp://", "pyamqp://", 1), backend=backend)
app.conf.task_default_queue = queue
app.conf.broker_connection_retry_on_startup = True
app.conf.result_expires = 600
if prefix != "-":
    app.conf.broker_transport_options = {"global_keyprefix": prefix}


@app.task(name="tasks.add")
def add(x, y):
    return x + y


@app.task(name="tasks.echo")
def echo(*args):
    return args[0] if len(args) == 1 else list(args)


def deep(n):
    d = {"leaf": 1}
    for _ in range(n):
        d = {"d": d}
    return d


def outcome(fn):
    try:
        v = fn()
        if isinstance(v, float) and not math.isfinite(v):
            v = repr(v)  # JSON has no NaN: say it as Python does
        return {"ok": v}
    except Exception as e:  # noqa: BLE001 - we report whatever .get() raised
        return {"exc_type": type(e).__name__, "exc_module": type(e).__module__, "message": str(e)}


t = 10
calls = {
    # Item 1: py-amqp writes 2**40 with the field type L.
    "big_header": lambda: add.apply_async((1, 2), headers={"x-big": 2**40}).get(timeout=t),
    "big_negative_header": lambda: add.apply_async((2, 2), headers={"x-neg": [-2**40, {"n": 2**62}]}).get(timeout=t),
    "deep_header": lambda: add.apply_async((1, 3), headers={"x-deep": deep(40)}).get(timeout=t),
    "wide_header": lambda: add.apply_async((1, 4), headers={"x-wide": list(range(9000))}).get(timeout=t),
    # Item 6: compression, Python's non-finite floats, other serializers.
    "zlib": lambda: add.apply_async((2, 3), compression="zlib").get(timeout=t),
    "bzip2": lambda: add.apply_async((3, 3), compression="bzip2").get(timeout=t),
    "lzma": lambda: add.apply_async((4, 3), compression="lzma").get(timeout=t),
    "nan": lambda: add.delay(float("nan"), 1).get(timeout=t),
    "inf": lambda: add.delay(float("inf"), 1).get(timeout=t),
    "neg_inf": lambda: echo.delay(float("-inf")).get(timeout=t),
    "pickle": lambda: add.apply_async((1, 1), serializer="pickle").get(timeout=t),
    "msgpack": lambda: add.apply_async((1, 1), serializer="msgpack").get(timeout=t),
    "yaml": lambda: add.apply_async((1, 1), serializer="yaml").get(timeout=t),
    "oversized": lambda: echo.delay("x" * 100000).get(timeout=t),
    "after": lambda: add.delay(20, 22).get(timeout=t),
}
print(json.dumps({name: outcome(fn) for name, fn in calls.items()}))

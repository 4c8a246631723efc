#!/usr/bin/python3
"""Capture real Celery 5 wire traffic as fixtures for the dsys queue codec tests.

Run with Debian's python3-celery against a RabbitMQ (default the local one):

    /usr/bin/python3 queue/celery/testdata/capture_celery.py [AMQP_URL]

It writes queue/celery/testdata/celery/*.json. Each file is one AMQP message as
RabbitMQ delivered it to a raw py-amqp consumer:

    {"name", "doc", "celery", "kombu", "properties": {...}, "headers": {...}, "body": "..."}

Header values are JSON: py-amqp writes Python ints in [-2^31, 2^31) as AMQP
signed 32-bit ints ('I') and larger ones as 64-bit ('l'); the Go loader maps
them back the same way amqp091-go would (int32/int64), so the codec sees the
types it sees on the wire. Task messages are captured by publishing with
Celery and reading the queue raw; results by running a real Celery worker
(solo pool, in a subprocess) that answers to a reply queue this script reads raw.
Queue names are unique per run and deleted afterwards.
"""
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import amqp
import celery
import kombu
from celery import Celery, chain, signature

URL = os.environ.get("DSYS_CAPTURE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
if len(sys.argv) > 2 and sys.argv[1] != "worker":
    URL = sys.argv[1]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "celery")

app = Celery("tasks", broker=URL.replace("amqp://", "pyamqp://", 1), backend="rpc://")
app.conf.task_track_started = True
app.conf.result_extended = False


@app.task(name="tasks.add")
def add(x, y):
    return x + y


@app.task(name="tasks.fail")
def fail(message):
    raise ValueError(message)


@app.task(name="tasks.echo")
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@app.task(bind=True, name="tasks.retry_once", max_retries=1)
def retry_once(self):
    if self.request.retries == 0:
        raise self.retry(countdown=0, exc=RuntimeError("try again"))
    return "retried"


def plain(v):
    """Make py-amqp header values JSON-serialisable."""
    if isinstance(v, (bytes, bytearray)):
        return v.decode("utf-8")
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def dump(name, doc, msg):
    props = dict(msg.properties)
    headers = props.pop("application_headers", {}) or {}
    body = msg.body.decode("utf-8") if isinstance(msg.body, (bytes, bytearray)) else msg.body
    rec = {
        "name": name,
        "doc": doc,
        "celery": celery.__version__,
        "kombu": kombu.__version__,
        "properties": plain(props),
        "headers": plain(headers),
        "body": body,
    }
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(rec, f, indent=2, sort_keys=True)
        f.write("\n")
    print("wrote", name, file=sys.stderr)


def raw_channel():
    u = kombu.Connection(URL)
    conn = amqp.Connection(host="%s:%s" % (u.hostname, u.port or 5672), userid=u.userid or "guest",
                           password=u.password or "guest", virtual_host=u.virtual_host or "/")
    conn.connect()
    return conn, conn.channel()


def get_one(ch, queue, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = ch.basic_get(queue, no_ack=True)
        if m is not None:
            return m
        time.sleep(0.05)
    raise SystemExit("timed out waiting for a message on %s" % queue)


def capture_tasks(ch, q):
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    cases = [
        ("task_v2_add", "add.delay(4, 4)", lambda: add.apply_async((4, 4), queue=q)),
        ("task_v2_kwargs", "echo with str/float/list/dict/unicode args and kwargs",
         lambda: echo.apply_async(("x", 1.5, [1, 2], {"k": None}, "héllo ✓"), {"n": 8, "f": 8.0}, queue=q)),
        ("task_v2_options", "countdown, expires, priority, time limits, ignore_result",
         lambda: add.apply_async((1, 2), queue=q, countdown=30, expires=future, priority=5,
                                 time_limit=10, soft_time_limit=5, ignore_result=True)),
        ("task_v2_link", "link and link_error callbacks",
         lambda: add.apply_async((2, 2), queue=q, link=add.s(10), link_error=echo.si("failed"))),
        ("task_v2_chain", "chain(add.s(1, 1), add.s(2), add.s(3)): first message",
         lambda: chain(add.s(1, 1).set(queue=q), add.s(2).set(queue=q), add.s(3).set(queue=q)).apply_async()),
        ("task_v2_unknown", "send_task of a name nobody registers",
         lambda: app.send_task("tasks.nope", (1,), queue=q)),
    ]
    for name, doc, send in cases:
        send()
        dump(name, doc, get_one(ch, q))

    # The protocol is picked once per app: a second app speaks v1.
    v1 = Celery("tasks", broker=app.conf.broker_url, backend="rpc://")
    v1.conf.task_protocol = 1
    v1.send_task("tasks.add", (4, 4), queue=q, countdown=30, expires=future)
    dump("task_v1_add", "send_task('tasks.add', (4, 4), countdown=30, expires=...) with task_protocol=1",
         get_one(ch, q))


def capture_results(ch, q):
    reply = "dsys-capture-reply-" + uuid.uuid4().hex
    ch.queue_declare(reply, durable=False, auto_delete=False, arguments={"x-expires": 600000})
    env = dict(os.environ, DSYS_CAPTURE_AMQP_URL=URL)
    worker = subprocess.Popen([sys.executable, os.path.abspath(__file__), "worker", q], env=env)
    try:
        def result(name, doc, send, skip_started=True):
            send()
            m = get_one(ch, reply, timeout=60)
            if skip_started:
                while json.loads(m.body)["status"] == "STARTED":
                    dump("result_started", "task_track_started=True: the STARTED message", m)
                    m = get_one(ch, reply, timeout=60)
            dump(name, doc, m)
            return m

        result("result_success", "add(4, 4) → 8", lambda: add.apply_async((4, 4), queue=q, reply_to=reply))
        result("result_success_object", "echo returns a dict",
               lambda: echo.apply_async((1, "a"), {"k": [1.5]}, queue=q, reply_to=reply))
        result("result_failure", "fail('boom') raises ValueError",
               lambda: fail.apply_async(("boom",), queue=q, reply_to=reply))
        result("result_not_registered", "unknown task name",
               lambda: app.send_task("tasks.nope", (1,), queue=q, reply_to=reply), skip_started=False)
        past = datetime.now(timezone.utc) - timedelta(seconds=5)
        result("result_revoked", "expired task",
               lambda: add.apply_async((1, 1), queue=q, reply_to=reply, expires=past), skip_started=False)
        m = result("result_retry", "self.retry(): the RETRY state message",
                   lambda: retry_once.apply_async(queue=q, reply_to=reply))
        # The re-published retry message and its final SUCCESS.
        while json.loads(m.body)["status"] != "SUCCESS":
            m = get_one(ch, reply, timeout=60)
        dump("result_after_retry", "the SUCCESS after one retry", m)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        ch.queue_delete(reply)


def main():
    os.makedirs(OUT, exist_ok=True)
    q = "dsys-capture-" + uuid.uuid4().hex
    conn, ch = raw_channel()
    try:
        capture_tasks(ch, q)
        capture_results(ch, q)
    finally:
        ch.queue_delete(q)
        try:
            ch.exchange_delete(q)
        except Exception:
            pass
        conn.close()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        app.worker_main(["worker", "-P", "solo", "-Q", sys.argv[2], "--without-heartbeat",
                         "--without-gossip", "--without-mingle", "-l", "warning"])
    else:
        main()

#!/usr/bin/python3
"""Publish raw task messages through py-amqp (Celery's own AMQP client).

    pyamqp_publish.py HOST:PORT QUEUE < messages.json

messages.json is a list of {"id", "task", "body" (text), "content_type",
"headers" (JSON: integers beyond 32 bits go out with py-amqp's field type L),
"reply_to", "compress" ("zlib", "bzip2" or another compression name, sent as
is with a body it did not compress)}.
"""
import bz2
import json
import sys
import zlib

import amqp

host, queue = sys.argv[1], sys.argv[2]
with amqp.Connection(host=host, userid="guest", password="guest") as conn:
    ch = conn.channel()
    for m in json.load(sys.stdin):
        body = m["body"].encode()
        headers = {"task": m["task"], "id": m["id"], **m.get("headers", {})}
        comp = m.get("compress")
        if comp == "zlib":
            body, headers["compression"] = zlib.compress(body), "application/x-gzip"
        elif comp == "bzip2":
            body, headers["compression"] = bz2.compress(body), "application/x-bz2"
        elif comp:
            headers["compression"] = comp
        msg = amqp.Message(body, content_type=m.get("content_type", "application/json"), content_encoding="utf-8",
                           application_headers=headers, correlation_id=m["id"], reply_to=m["reply_to"], delivery_mode=2)
        ch.basic_publish(msg, exchange="", routing_key=queue)

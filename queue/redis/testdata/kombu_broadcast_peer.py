#!/usr/bin/python3
"""kombu 5.2 on Redis, for the broadcast tests.

    kombu_broadcast_peer.py publish URL PREFIX EXCHANGE KIND KEY BODY   publish one JSON message
    kombu_broadcast_peer.py consume URL PREFIX EXCHANGE KIND KEY QUEUE  bind QUEUE, print "ready", print the first body

PREFIX is kombu's global_keyprefix ("-" for none).
"""
import json
import sys

from kombu import Connection, Exchange, Producer, Queue

mode, url, prefix, exname, kind, key = sys.argv[1:7]
opts = {} if prefix == "-" else {"global_keyprefix": prefix}
with Connection(url, transport_options=opts) as conn:
    ex = Exchange(exname, kind, durable=False)
    if mode == "publish":
        Producer(conn).publish(json.loads(sys.argv[7]), exchange=ex, routing_key=key, serializer="json",
                               headers={"ticket": "t-1"}, declare=[ex])
    else:
        q = Queue(sys.argv[7], ex, routing_key=key, auto_delete=True, durable=False)
        got = []
        with conn.Consumer(q, no_ack=True, callbacks=[lambda body, msg: got.append(body)]):
            print("ready", flush=True)
            while not got:
                conn.drain_events(timeout=20)
        print(json.dumps(got[0]), flush=True)

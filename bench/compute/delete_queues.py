"""Deletes the queues a benchmark declared on RabbitMQ: each QUEUE, its
.dead and .claimed queues and its exchange (py-amqp, Celery's own client).

Usage: delete_queues.py AMQP_URL QUEUE...
"""
import sys
import urllib.parse

import amqp

u = urllib.parse.urlparse(sys.argv[1])
vhost = urllib.parse.unquote(u.path[1:]) if u.path not in ("", "/") else "/"
c = amqp.Connection(host="%s:%d" % (u.hostname, u.port or 5672), userid=u.username or "guest",
                    password=u.password or "guest", virtual_host=vhost)
c.connect()
ch = c.channel()
for q in sys.argv[2:]:
    for name in (q, q + ".dead", q + ".claimed"):
        try:
            ch.queue_delete(name)
        except Exception:
            ch = c.channel()
    try:
        ch.exchange_delete(q)
    except Exception:
        ch = c.channel()
c.close()

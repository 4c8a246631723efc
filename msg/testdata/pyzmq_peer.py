"""A libzmq peer (through pyzmq) for dsys's interop tests.

usage: pyzmq_peer.py MODE ENDPOINT [options]

MODE is rep, req, push, pull, pub, sub, dealer or router. The peer binds when
ENDPOINT has port 0 or "*" (it then prints "READY <endpoint>"), else it
connects and prints "READY". Messages to send come from --msgs (a JSON list
of lists of strings); every message received is printed as one JSON line: a
list of frames, each hex-encoded. Errors and timeouts exit 1 with a message
on stderr.
"""
import argparse
import json
import sys
import time

import zmq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("endpoint")
    ap.add_argument("--msgs", default="[]")
    ap.add_argument("--count", type=int, default=0, help="messages to receive")
    ap.add_argument("--timeout", type=int, default=10000, help="ms per receive")
    ap.add_argument("--heartbeat", type=int, default=0, help="ZMQ_HEARTBEAT_IVL ms")
    ap.add_argument("--plain-user")
    ap.add_argument("--plain-password")
    ap.add_argument("--plain-server", help="user:password accepted (ZAP)")
    ap.add_argument("--curve-secret", help="our Z85 secret key (server: required)")
    ap.add_argument("--curve-server", help="client: the server's Z85 public key")
    ap.add_argument("--curve-allow", action="append", default=[],
                    help="server: admit only these Z85 client public keys (ZAP)")
    ap.add_argument("--identity")
    ap.add_argument("--xpub", action="store_true", help="pub mode: print every subscription message")
    ap.add_argument("--topic", action="append", default=[])
    ap.add_argument("--reply", default="World")
    ap.add_argument("--wait-peers", type=int, default=0,
                    help="bound senders: wait for N connected peers (monitor)")
    ap.add_argument("--linger", type=int, default=5000)
    ap.add_argument("--bind", action="store_true", help="bind ENDPOINT as given (ipc)")
    a = ap.parse_args()

    ctx = zmq.Context()
    auth = None
    # A PUB is an XPUB here so that it can wait for the first subscription
    # before publishing (a plain PUB drops everything sent before it).
    kind = zmq.XPUB if a.mode == "pub" else getattr(zmq, a.mode.upper())
    sock = ctx.socket(kind)
    sock.linger = a.linger
    sock.rcvtimeo = a.timeout
    sock.sndtimeo = a.timeout
    if a.heartbeat:
        sock.setsockopt(zmq.HEARTBEAT_IVL, a.heartbeat)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, a.heartbeat * 10)
    if a.plain_user is not None:
        sock.plain_username = a.plain_user.encode()
        sock.plain_password = (a.plain_password or "").encode()
    if a.plain_server:
        from zmq.auth.thread import ThreadAuthenticator
        user, _, pw = a.plain_server.partition(":")
        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_plain(domain="*", passwords={user: pw})
        sock.plain_server = True
    if a.identity:
        sock.identity = a.identity.encode()
    if a.curve_secret:
        sec = a.curve_secret.encode()
        sock.curve_secretkey = sec
        sock.curve_publickey = zmq.curve_public(sec)
        if a.curve_server:
            sock.curve_serverkey = a.curve_server.encode()
        else:
            sock.curve_server = True
            if a.curve_allow:
                from zmq.auth.thread import ThreadAuthenticator
                auth = ThreadAuthenticator(ctx)
                auth.start()
                allowed = set(k.encode() for k in a.curve_allow)
                # A callback admits exactly the listed keys.
                class Allow:
                    def callback(self, domain, key):
                        return key in allowed  # Z85 already
                auth.configure_curve_callback(domain="*", credentials_provider=Allow())
    elif a.curve_server:
        pub, sec = zmq.curve_keypair()
        sock.curve_secretkey, sock.curve_publickey = sec, pub
        sock.curve_serverkey = a.curve_server.encode()
    if a.mode == "sub":
        for t in a.topic or [""]:
            sock.setsockopt(zmq.SUBSCRIBE, t.encode())

    monitor = None
    if a.wait_peers:
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    bind = a.bind or a.endpoint.endswith(":0") or a.endpoint.endswith(":*")
    if bind:
        ep = a.endpoint[:-2] + ":*" if a.endpoint.endswith(":0") else a.endpoint
        sock.bind(ep)
        print("READY", sock.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    else:
        sock.connect(a.endpoint)
        print("READY", flush=True)
    if monitor is not None:
        from zmq.utils.monitor import recv_monitor_message
        monitor.rcvtimeo = a.timeout
        for _ in range(a.wait_peers):
            recv_monitor_message(monitor)

    def out(frames):
        print(json.dumps([f.hex() for f in frames]), flush=True)

    msgs = [[f.encode() for f in m] for m in json.loads(a.msgs)]
    try:
        if a.mode == "rep":
            for _ in range(a.count):
                req = sock.recv_multipart()
                out(req)
                sock.send_multipart([a.reply.encode()])
        elif a.mode == "req":
            for m in msgs:
                sock.send_multipart(m)
                out(sock.recv_multipart())
        elif a.mode in ("push", "pub", "dealer"):
            if a.mode == "pub":
                sub = sock.recv()
                print("SUBSCRIBED", sub.hex(), flush=True)
            for m in msgs:
                sock.send_multipart(m)
            for _ in range(a.count):
                out(sock.recv_multipart())
        elif a.mode in ("pull", "sub", "router"):
            for _ in range(a.count):
                m = sock.recv_multipart()
                out(m)
                if a.mode == "router":
                    sock.send_multipart([m[0], a.reply.encode()])
        else:
            sys.exit("unknown mode " + a.mode)
    except zmq.Again:
        print("timeout", file=sys.stderr, flush=True)
        sys.exit(1)
    finally:
        if monitor is not None:
            sock.disable_monitor()
        sock.close()
        if auth is not None:
            auth.stop()
        ctx.term()


if __name__ == "__main__":
    main()

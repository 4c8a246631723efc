"""pyzmq counterpart of zmqperf.c: the same roles, the same JSON lines.

usage: pyperf.py local_thr|remote_thr|local_lat|remote_lat ENDPOINT SIZE COUNT
       pyperf.py proxy FRONTEND BACKEND   (zmq.proxy: PULL bound, PUSH connected;
                                           ROUTER/DEALER with PROXY=broker)

CURVE_SECRET / CURVE_SERVER in the environment as for zmqperf.c.
"""
import os
import json
import sys
import time

import zmq


def curve(s, binding):
    sec, srv = os.environ.get("CURVE_SECRET"), os.environ.get("CURVE_SERVER")
    if binding and sec:
        s.curve_server = True
        s.curve_secretkey = sec.encode()
    elif not binding and srv:
        pub, key = zmq.curve_keypair()
        s.curve_serverkey, s.curve_publickey, s.curve_secretkey = srv.encode(), pub, key


def main():
    if sys.argv[1] == "proxy":
        ctx = zmq.Context()
        broker = os.environ.get("PROXY") == "broker"
        f = ctx.socket(zmq.ROUTER if broker else zmq.PULL)
        b = ctx.socket(zmq.DEALER if broker else zmq.PUSH)
        f.bind(sys.argv[2])
        b.connect(sys.argv[3])
        zmq.proxy(f, b)  # until killed
        return
    mode, ep, size, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ctx = zmq.Context()
    payload = b"\0" * size
    if mode == "local_thr":
        s = ctx.socket(zmq.PULL)
        curve(s, True)
        s.bind(ep)
        s.recv(copy=False)
        start = time.perf_counter()
        recv = s.recv
        for _ in range(count - 1):
            recv(copy=False)
        el = time.perf_counter() - start
        print(json.dumps({"benchmark": "pushpull_throughput", "size": size, "messages": count - 1,
                          "seconds": el, "msg_per_sec": (count - 1) / el,
                          "mb_per_sec": (count - 1) / el * size / 1e6}))
    elif mode == "remote_thr":
        s = ctx.socket(zmq.PUSH)
        curve(s, False)
        s.connect(ep)
        send = s.send
        for _ in range(count):
            send(payload)
    elif mode == "local_lat":
        s = ctx.socket(zmq.REP)
        curve(s, True)
        s.bind(ep)
        for _ in range(count):
            s.send(s.recv())
    elif mode == "remote_lat":
        s = ctx.socket(zmq.REQ)
        curve(s, False)
        s.connect(ep)
        t = []
        for _ in range(count):
            start = time.perf_counter()
            s.send(payload)
            s.recv()
            t.append((time.perf_counter() - start) * 1e6)
        t.sort()
        print(json.dumps({"benchmark": "reqrep_latency", "size": size, "round_trips": count,
                          "p50_us": t[count // 2], "p99_us": t[min(count - 1, count * 99 // 100)],
                          "mean_us": sum(t) / count}))
    else:
        sys.exit("pyperf: unknown mode " + mode)
    s.close(linger=-1)
    ctx.term()


if __name__ == "__main__":
    main()

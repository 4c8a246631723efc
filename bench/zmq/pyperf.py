"""pyzmq counterpart of zmqperf.c: the same roles, the same JSON lines.

usage: pyperf.py local_thr|remote_thr|local_lat|remote_lat ENDPOINT SIZE COUNT
"""
import json
import sys
import time

import zmq


def main():
    mode, ep, size, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ctx = zmq.Context()
    payload = b"\0" * size
    if mode == "local_thr":
        s = ctx.socket(zmq.PULL)
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
        s.connect(ep)
        send = s.send
        for _ in range(count):
            send(payload)
    elif mode == "local_lat":
        s = ctx.socket(zmq.REP)
        s.bind(ep)
        for _ in range(count):
            s.send(s.recv())
    elif mode == "remote_lat":
        s = ctx.socket(zmq.REQ)
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

"""Writes integer .npy files whose sums overflow 64 bits into a directory and
prints the exact results as Python computes them (int arithmetic, as
Python's sum), not NumPy's wrapping ones, as JSON:
{file: {"shape": [...], "results": {"sum|axis": [str, ...], "min|axis": ..., "max|axis": ...}}}.

Run by compute's tests with Debian's python3-numpy: python3 int_cases.py DIR
"""
import itertools
import json
import sys

import numpy as np

out_dir = sys.argv[1]
rng = np.random.default_rng(2024)
cases = {}

I64 = np.iinfo(np.int64)
U64 = np.iinfo(np.uint64)


def exact(arr, op, axis):
    """op over axis of arr with Python ints: a flat list of decimal strings."""
    a = arr.astype(object)  # Python ints, exact
    f = {"sum": lambda x: sum(int(v) for v in x), "min": lambda x: min(int(v) for v in x),
         "max": lambda x: max(int(v) for v in x)}[op]
    if axis is None:
        return [str(f(a.ravel()))]
    moved = np.moveaxis(a, axis, tuple(range(a.ndim - len(axis), a.ndim)))
    lead = moved.shape[: a.ndim - len(axis)]
    flat = moved.reshape(lead + (-1,))
    return [str(f(flat[idx])) for idx in np.ndindex(*lead)] if lead else [str(f(flat))]


def add(name, arr, dtype):
    arr = np.asarray(arr, dtype=dtype)
    np.save(f"{out_dir}/{name}.npy", arr)
    res = {}
    axes = [None] + [c for r in range(1, arr.ndim + 1) for c in itertools.combinations(range(arr.ndim), r)]
    for axis in axes:
        key = "None" if axis is None else ",".join(map(str, axis))
        for op in ("sum", "min", "max"):
            res[f"{op}|{key}"] = exact(arr, op, axis)
    cases[name] = {"shape": list(arr.shape), "results": res}


# Extremes and huge random values: sums far beyond 64 bits.
ext = [I64.max, I64.min, I64.max, I64.max, -1, I64.min + 1, 2**53 + 1, -(2**53) - 1]
add("i8_ext", ext, np.int64)
add("i8_huge", rng.integers(I64.min, I64.max, (37, 23), endpoint=True), np.int64)
add("i8_pos", rng.integers(2**62, I64.max, (5, 6, 7), endpoint=True), np.int64)
add("u8_ext", [U64.max, U64.max, 0, 2**63, 2**64 - 2, 2**53 + 1], np.uint64)
add("u8_huge", rng.integers(2**63, U64.max, (41, 19), dtype=np.uint64, endpoint=True), np.uint64)
add("i4_big", rng.integers(-(2**31), 2**31 - 1, (300, 7), endpoint=True), np.int32)
json.dump(cases, sys.stdout)

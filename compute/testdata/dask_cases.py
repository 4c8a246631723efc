"""Prints Dask's results for the cases given as JSON on stdin:
[{"seed": s, "shape": [...], "chunks": [...], "dist": "uniform"|"normal", "axis": null|[n, ...]}]
-> one line per case: the printed mean and sum (str of the NumPy scalar,
i.e. its repr digits), or for an axis the values joined by spaces, and a
checksum of the first values of the array.
Run by compute's tests with Debian's python3-dask."""
import json
import sys

import dask
import dask.array as da
import numpy as np

dask.config.set(scheduler="synchronous")
for c in json.load(sys.stdin):
    da.random.seed(c["seed"])
    if c["dist"] == "normal":
        x = da.random.standard_normal(tuple(c["shape"]), chunks=tuple(c["chunks"]))
    else:
        x = da.random.random(tuple(c["shape"]), chunks=tuple(c["chunks"]))
    ax = None if c["axis"] is None else tuple(c["axis"])
    m = x.mean(axis=ax).compute()
    s = x.sum(axis=ax).compute()
    first = x.ravel()[:5].compute()
    print(json.dumps({
        "mean": [repr(float(v)) for v in np.ravel(m)],
        "sum": [repr(float(v)) for v in np.ravel(s)],
        "first": [repr(float(v)) for v in first],
    }))

"""Writes .npy test files into a directory and prints NumPy's results for
them as JSON: {file: {"dtype":..., "shape":..., "results": {"op|axis|skip": [repr,...]}}}.

Run by compute's tests with Debian's python3-numpy: python3 numpy_cases.py DIR
"""
import json
import sys

import numpy as np

out_dir = sys.argv[1]
rng = np.random.default_rng(12345)
cases = {}


def values(dtype, shape, nans):
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    if dt.kind == "f":
        a = rng.normal(3.0, 10.0, n)
        if nans:
            a[rng.random(n) < 0.1] = np.nan
    elif dt.kind == "b":
        a = rng.random(n) < 0.4
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = max(info.min, -(10**6)), min(info.max, 10**6)
        a = rng.integers(lo, hi, n, endpoint=True)
    return a.astype(dt).reshape(shape)


def add(name, arr, fortran=False, version=None):
    path = f"{out_dir}/{name}.npy"
    if fortran:
        arr = np.asfortranarray(arr)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version)
    a = arr.astype(np.float64)
    res = {}
    for skip in (False, True):
        for axis in [None] + list(range(arr.ndim)):
            with np.errstate(all="ignore"):
                import warnings

                warnings.simplefilter("ignore")
                fs = {
                    "mean": np.nanmean if skip else np.mean,
                    "sum": np.nansum if skip else np.sum,
                    "min": np.nanmin if skip else np.min,
                    "max": np.nanmax if skip else np.max,
                    "var": np.nanvar if skip else np.var,
                    "std": np.nanstd if skip else np.std,
                }
                for op, f in fs.items():
                    v = np.asarray(f(a, axis=axis)).ravel()
                    res[f"{op}|{axis}|{int(skip)}"] = [repr(float(x)) for x in v]
                v = np.asarray(np.var(a, axis=axis, ddof=1) if not skip else np.nanvar(a, axis=axis, ddof=1)).ravel()
                res[f"var1|{axis}|{int(skip)}"] = [repr(float(x)) for x in v]
                cnt = np.sum(~np.isnan(a), axis=axis) if skip else np.ones_like(a).sum(axis=axis)
                res[f"count|{axis}|{int(skip)}"] = [repr(float(x)) for x in np.asarray(cnt).ravel()]
    if arr.dtype.kind in "iub":
        res["isum"] = [str(int(arr.sum(dtype=np.int64)))]
        res["imin"] = [str(int(arr.min()))]
        res["imax"] = [str(int(arr.max()))]
    cases[name] = {"shape": list(arr.shape), "dtype": arr.dtype.str, "results": res}


for dt in ["f8", "f4", "f2", "i8", "i4", "i2", "i1", "u8", "u4", "u2", "u1", "b1"]:
    orders = ["<", ">"] if np.dtype(dt).itemsize > 1 else ["|"]
    for o in orders:
        d = o + dt if o != "|" else dt
        tag = f"{dt}{'be' if o == '>' else ''}"
        add(f"r1_{tag}", values(d, (1000,), nans=True))
        add(f"r2_{tag}", values(d, (13, 17), nans=True))
        add(f"r3_{tag}_F", values(d, (5, 6, 7), nans=False), fortran=True)
add("r2_f8_F_nan", values("<f8", (9, 11), nans=True), fortran=True)
add("r3_f8", values("<f8", (4, 9, 10), nans=True))
add("v2_f8", values("<f8", (20, 3), nans=False), version=(2, 0))
add("v3_f8", values("<f8", (20, 3), nans=False), version=(3, 0))
add("scalar_f8", np.array(2.5))
json.dump(cases, sys.stdout)

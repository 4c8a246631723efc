"""The seed job on Dask distributed: a LocalCluster of 2 worker processes
with one thread each (the anchor of dsys compute --cluster with 2 workers).

The cluster starts once; then the seed job runs RUNS+1 times, each on a new
array (new keys: nothing cached), timing x.mean().compute() alone. The first
compute (cold workers) is reported apart and left out of the times, as
hyperfine's warm-up run is. Writes hyperfine's JSON layout to OUT.

Usage: seed_dask_distributed.py RUNS OUT.json
"""
import json
import sys
import time

import dask.array as da
from dask.distributed import Client, LocalCluster


def main():
    runs, out = int(sys.argv[1]), sys.argv[2]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        times = []
        for _ in range(runs + 1):
            x = da.random.random((10000, 10000), chunks=(1000, 1000))
            t0 = time.perf_counter()
            x.mean().compute()
            times.append(time.perf_counter() - t0)
    cmd = "LocalCluster(n_workers=2, threads_per_worker=1): x.mean().compute()"
    with open(out, "w") as f:
        json.dump({"results": [{"command": cmd, "times": times[1:], "cold": times[0]}]}, f)
    print(f"dask distributed: cold compute {times[0]:.3f} s, then "
          + " ".join(f"{t:.3f}" for t in times[1:]), file=sys.stderr)


if __name__ == "__main__":
    main()

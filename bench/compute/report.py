"""Turns hyperfine's JSON exports and peak-RSS samples into the benchmark
table: medians, the ratio of medians, and the target. A case may name a
JSON file of its anchor's times (Dask distributed's compute times); a
cluster case's export also holds the runs that give its per-chunk overhead."""
import json
import statistics
import sys

out_dir = sys.argv[1]


def rss(name, which):
    try:
        vals = [int(v) for v in open(f"{out_dir}/{name}.{which}.rss").read().split()]
        return f"{statistics.median(vals) / 1024:.1f} MB"
    except (OSError, ValueError):
        return "-"


rows, overheads = [], []
for line in open(f"{out_dir}/cases.txt"):
    fields = line.rstrip("\n").split("\t")
    name, target = fields[0], fields[1]
    runs = json.load(open(f"{out_dir}/{name}.json"))["results"]
    ours = runs[0]
    mo = statistics.median(ours["times"])
    if len(fields) > 2:  # the anchor's own times, or none
        anchor = json.load(open(fields[2]))["results"][0] if fields[2] else None
        anchor_rss = "-"
        # The cluster runs: 100 and 1000 chunks, then the same locally.
        m = [statistics.median(r["times"]) for r in runs[:4]]
        overheads.append((name, ((m[1] - m[0]) - (m[3] - m[2])) / 900 * 1000, m))
    else:
        anchor, anchor_rss = runs[1], rss(name, "anchor")
    if anchor is None:
        rows.append((name, mo, rss(name, "ours"), "-", None, "-", None, target))
        continue
    ma = statistics.median(anchor["times"])
    rows.append((name, mo, rss(name, "ours"), anchor["command"], ma, anchor_rss, ma / mo, target))

print("| job | dsys (median) | peak RSS | anchor | anchor (median) | peak RSS | anchor/dsys | target |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for name, mo, ro, ac, ma, ra, ratio, target in rows:
    ac = ac.replace("|", "\\|")
    mas = f"{ma:.3f} s" if ma is not None else "-"
    rs = f"**{ratio:.1f}×**" if ratio is not None else "-"
    print(f"| {name} | {mo:.3f} s | {ro} | `{ac}` | {mas} | {ra} | {rs} | {target} |")
colds = {json.load(open(f[2]))["results"][0].get("cold") for f in
         (line.rstrip("\n").split("\t") for line in open(f"{out_dir}/cases.txt")) if len(f) > 2 and f[2]}
for c in colds:
    if c is not None:
        print(f"\nDask distributed's first compute on its new cluster (cold): {c:.3f} s, left out of its median")
for name, ms, m in overheads:
    print(f"\n{name}: per-chunk overhead {ms:.2f} ms of wall time with 2 workers "
          f"(1000 chunks {m[1]:.3f} s, 100 chunks {m[0]:.3f} s; locally {m[3]:.3f} s and {m[2]:.3f} s)")

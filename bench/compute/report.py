"""Turns hyperfine's JSON exports and peak-RSS samples into the benchmark
table: medians, the ratio of medians, and the target."""
import json
import statistics
import sys

out_dir = sys.argv[1]
rows = []
for line in open(f"{out_dir}/cases.txt"):
    name, target = line.rstrip("\n").split("\t")
    runs = json.load(open(f"{out_dir}/{name}.json"))["results"]
    ours, anchor = runs[0], runs[1]
    mo, ma = statistics.median(ours["times"]), statistics.median(anchor["times"])

    def rss(which):
        try:
            vals = [int(v) for v in open(f"{out_dir}/{name}.{which}.rss").read().split()]
            return f"{statistics.median(vals) / 1024:.1f} MB"
        except (OSError, ValueError):
            return "-"

    rows.append((name, ours["command"], mo, rss("ours"), anchor["command"], ma, rss("anchor"), ma / mo, target))
print("| job | dsys (median) | peak RSS | anchor | anchor (median) | peak RSS | anchor/dsys | target |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for name, oc, mo, ro, ac, ma, ra, ratio, target in rows:
    ac = ac.replace("|", "\\|")
    print(f"| {name} | {mo:.3f} s | {ro} | `{ac}` | {ma:.3f} s | {ra} | **{ratio:.1f}×** | {target} |")

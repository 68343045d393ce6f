#!/usr/bin/env python3
"""A synthetic set as a NAB corpus: series unlike NAB's, scored the way the held-out set is.

    benches/synthetic/to_nab.py OUT SET_DIR [SET_DIR ...] [--only REGEX]
    NAB=OUT BANDWATCH=BIN RULES=DIR benches/nab/score.sh      # any rule folder, NAB's scorer

Issue 18's held-out set is hourly cloud-service series with several labelled windows each,
scored with NAB's standard profile. NAB polled hourly (`../nab/hourly.py`) has the step but
NAB's series; `evaluate.py` has other series but its own counts (recall, false alarms per 30
days). This writes the synthetic series (by default the hourly ones, `--only '^syn/1h/'`) as a
directory `score.sh` and NAB's scorer read as they read NAB (`data/`, `labels/`,
`feed_all.csv.gz`), with NAB's own labelling convention: a label at each anomaly's first
sample, a window of 10% of the series' length divided by its number of anomalies centred on
it (windows that overlap are merged), none on the anomaly-free series. Every kind counts
(spikes of every size and length, shifts both ways, declines), as the held-out set's windows
are whatever its labellers marked. Several sets are written side by side, each series' name
prefixed with its set's directory name.
"""
import argparse
import gzip
import json
import os
import sys
from collections import defaultdict
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate  # noqa: E402  (its `load`: the set's labels and series as backtest rows)

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("sets", nargs="+")
ap.add_argument("--only", default="^syn/1h/", help="a regex on the series' names")
a = ap.parse_args()

windows, labels = {}, {}
os.makedirs(os.path.join(a.out, "data"), exist_ok=True)
os.makedirs(os.path.join(a.out, "labels"), exist_ok=True)
feed = gzip.open(os.path.join(a.out, "feed_all.csv.gz"), "wt")
feed.write("series,timestamp,value\n")


def stamp(t):
    return t.strftime("%Y-%m-%d %H:%M:%S")


for set_dir in a.sets:
    tag = os.path.basename(os.path.normpath(set_dir))
    meta, rows, _ = evaluate.load(set_dir, a.only)
    series = defaultdict(list)  # name -> [(time, value)]
    for row in rows.splitlines()[1:]:
        name, t, v = row.split(",")
        series[name].append((datetime.fromisoformat(t.replace("Z", "")), v))
    for name, points in sorted(series.items()):
        key = f"{tag}/{name.replace('/', '_')}.csv"
        path = os.path.join(a.out, "data", key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("timestamp,value\n")
            for t, v in points:
                f.write(f"{stamp(t)},{v}\n")
                feed.write(f"{key[:-4]},{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{v}\n")
        times = [t for t, _ in points]
        starts = [an["start"] for an in meta[name]["anomalies"]]
        labels[key] = [stamp(times[i]) + ".000000" for i in starts]
        wins = []
        if starts:
            half = int(0.1 * len(times) / len(starts)) // 2
            for i in starts:
                lo, hi = max(i - half, 0), min(i + half, len(times) - 1)
                if wins and lo <= wins[-1][1]:
                    wins[-1][1] = max(wins[-1][1], hi)
                else:
                    wins.append([lo, hi])
        windows[key] = [[stamp(times[lo]) + ".000000", stamp(times[hi]) + ".000000"] for lo, hi in wins]
feed.close()
json.dump(windows, open(os.path.join(a.out, "labels", "combined_windows.json"), "w"), indent=1)
json.dump(labels, open(os.path.join(a.out, "labels", "combined_labels.json"), "w"), indent=1)
n = sum(len(w) for w in windows.values())
print(f"{len(windows)} series, {n} windows in {a.out}")

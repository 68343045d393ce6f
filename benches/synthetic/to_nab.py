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
import re
from datetime import datetime, timedelta, timezone

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("sets", nargs="+")
ap.add_argument("--only", default="^syn/1h/", help="a regex on the series' names")
a = ap.parse_args()

only = re.compile(a.only)
windows, labels = {}, {}
os.makedirs(os.path.join(a.out, "data"), exist_ok=True)
os.makedirs(os.path.join(a.out, "labels"), exist_ok=True)
feed = gzip.open(os.path.join(a.out, "feed_all.csv.gz"), "wt")
feed.write("series,timestamp,value\n")


def stamp(t):
    return t.strftime("%Y-%m-%d %H:%M:%S")


for set_dir in a.sets:
    tag = os.path.basename(os.path.normpath(set_dir))
    meta = json.load(open(os.path.join(set_dir, "labels.json")))
    for name, lab in sorted(meta.items()):
        if not only.search(name):
            continue
        with open(os.path.join(set_dir, lab["file"])) as f:
            head = f.readline()
            values = [line.strip() for line in f if line.strip()]
        kv = dict(x.split("=", 1) for x in head.lstrip("#").split())
        step = timedelta(seconds=int(kv["step"]))
        start = datetime.fromisoformat(kv["start"].replace("Z", "+00:00")).astimezone(timezone.utc)
        start = start.replace(tzinfo=None)
        times = [start + i * step for i in range(len(values))]
        key = f"{tag}/{name.replace('/', '_')}.csv"
        path = os.path.join(a.out, "data", key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("timestamp,value\n")
            for t, v in zip(times, values):
                f.write(f"{stamp(t)},{v}\n")
                feed.write(f"{key[:-4]},{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{v}\n")
        starts = [an["start"] for an in lab["anomalies"]]
        labels[key] = [stamp(times[i]) + ".000000" for i in starts]
        wins = []
        if starts:
            half = int(0.1 * len(values) / len(starts)) // 2
            for i in starts:
                lo, hi = max(i - half, 0), min(i + half, len(values) - 1)
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

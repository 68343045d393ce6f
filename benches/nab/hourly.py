#!/usr/bin/env python3
"""NAB polled hourly: the corpus as a tool that polls once an hour would see it (issue 18).

    benches/nab/hourly.py OUT [--nab /work/shared/datasets/nab] [--step 3600]
    NAB=OUT benches/nab/score.sh                  # any rule file, scored on it

The held-out KPI set that decides issue 18 is hourly, and NAB is polled every 5 minutes: rule
windows written as durations for 5-minute files (a 30-minute smoothing, a 6-hour spread) mean
one point and six points an hour apart. This writes a NAB directory the scorer and `score.sh`
read as they read NAB's own (`data/`, `labels/`, `subsets/`, `feed_all.csv.gz`), with every
series averaged over whole steps: a row is the mean of the samples in `(t - step, t]`, stamped
at `t`, its end, as a poller stamps the rate over the interval it just counted (an anomaly is
never seen before it happened). A window keeps its time span: it starts at the first row whose
interval reaches into it and ends at the first row at or after its end; a label moves to the
first row at or after it. A step with no sample is left out, as a missed poll is.

The series and their labels are NAB's, so this is not data the rules were never tuned on; what it
isolates is the sampling step, the one difference the issue names between NAB and the held-out
set. Same series, same windows, 12 times fewer points.
"""
import argparse
import csv
import gzip
import json
import os
import shutil
from datetime import datetime, timedelta

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--nab", default="/work/shared/datasets/nab")
ap.add_argument("--step", type=int, default=3600, help="seconds; a divisor of a day")
a = ap.parse_args()
STEP = timedelta(seconds=a.step)
EPOCH = datetime(1970, 1, 1)


def ts(s):
    return datetime.fromisoformat(s.strip().replace("Z", "").split(".")[0])


def end_of_step(t):
    """The end of the step that holds t: t itself when it is on a step boundary."""
    k = -((EPOCH - t) // STEP)  # ceil((t - EPOCH) / STEP)
    return EPOCH + k * STEP


def fmt(t):
    return t.strftime("%Y-%m-%d %H:%M:%S")


windows = json.load(open(os.path.join(a.nab, "labels/combined_windows.json")))
labels = json.load(open(os.path.join(a.nab, "labels/combined_labels.json")))
os.makedirs(os.path.join(a.out, "labels"), exist_ok=True)
shutil.copytree(os.path.join(a.nab, "subsets"), os.path.join(a.out, "subsets"), dirs_exist_ok=True)

out_windows, out_labels = {}, {}
with gzip.open(os.path.join(a.out, "feed_all.csv.gz"), "wt", newline="") as feed:
    fw = csv.writer(feed)
    fw.writerow(["series", "timestamp", "value"])
    for name in sorted(windows):
        with open(os.path.join(a.nab, "data", name)) as f:
            rows = list(csv.reader(f))[1:]
        sums = {}
        for r in rows:
            t = end_of_step(ts(r[0]))
            s = sums.setdefault(t, [0.0, 0])
            s[0] += float(r[1])
            s[1] += 1
        stamps = sorted(sums)
        os.makedirs(os.path.join(a.out, "data", os.path.dirname(name)), exist_ok=True)
        with open(os.path.join(a.out, "data", name), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["timestamp", "value"])
            for t in stamps:
                v = sums[t][0] / sums[t][1]
                w.writerow([fmt(t), repr(v)])
                fw.writerow(["nab/" + name[:-4], t.strftime("%Y-%m-%dT%H:%M:%SZ"), repr(v)])

        def at_or_after(t):
            """The first row stamped at or after t (the last row if none)."""
            return next((x for x in stamps if x >= t), stamps[-1])

        def reaching(t):
            """The first row whose interval reaches past t."""
            return next((x for x in stamps if x > t), stamps[-1])

        out_windows[name] = [[fmt(reaching(ts(s))), fmt(at_or_after(ts(e)))] for s, e in windows[name]]
        out_labels[name] = [fmt(at_or_after(ts(x))) for x in labels.get(name, [])]

json.dump(out_windows, open(os.path.join(a.out, "labels/combined_windows.json"), "w"), indent=1)
json.dump(out_labels, open(os.path.join(a.out, "labels/combined_labels.json"), "w"), indent=1)
n = sum(len(v) for v in out_windows.values())
print(f"{len(out_windows)} series, {n} windows, step {a.step} s: {a.out}")

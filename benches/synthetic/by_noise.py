#!/usr/bin/env python3
"""Per rule, sampling step and noise level: target spikes found and false alarms (issue 18).

    benches/synthetic/by_noise.py SET_DIR [SET_DIR...] --rules RULES.toml [--bandwatch BIN]
                                  [--only REGEX] [--list]

Replays the spike and drop rules of RULES.toml as rules on series (like evaluate.py's
`--as-series`) over the spike and anomaly-free series of one or more sets made by generate.py,
and prints one line per rule: per step, the target spikes found (3x or more lasting 2 samples
or more) over all noise levels and on the bursty series alone, and the false alarms on the
anomaly-free series, all of them and the bursty ones alone (per 30 days of judged time).
Several rules in one file are scored each alone, so one replay compares candidate values
(`burst_factor` was chosen so, `JOURNAL.md`). `--list` also prints every missed
target and every false alarm (set:series, magnitude, length, first sample; or FA, sample).
Scoring is evaluate.py's own (its functions).
"""
import argparse
import os
import sys
import tempfile
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate as ev  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("sets", nargs="+")
ap.add_argument("--rules", required=True)
ap.add_argument("--only", default="/(spike|none)$")
ap.add_argument("--bandwatch", default=os.environ.get("BANDWATCH", "target/release/bandwatch"))
ap.add_argument("--list", action="store_true")
a = ap.parse_args()
rules = ev.as_series(a.rules, tempfile.mkdtemp(prefix="bw-syn-"))
labels, onsets, starts = {}, {}, {}
for sd in a.sets:
    lab, feed, st = ev.load(sd, a.only)
    on = ev.replay(a.bandwatch, rules, feed)
    tag = os.path.basename(os.path.normpath(sd)) + ":"
    for n, v in lab.items():
        labels[tag + n] = v
        starts[tag + n] = st[n]
        if n in on:
            onsets[tag + n] = on[n]
step_name = {10: "10s", 60: "1m", 300: "5m", 3600: "1h"}
for rule in sorted({r for v in onsets.values() for _, r in v}):
    only = {k: [(t, r) for t, r in v if r == rule] for k, v in onsets.items()}
    res = ev.score(labels, only, starts)
    agg = defaultdict(lambda: [0, 0, 0, 0.0])  # targets found, targets, false alarms, days
    listed = []
    for name, lab in labels.items():
        key = (step_name[lab["step"]], lab["noise"] if lab["rhythm"] == "daily" else "flat")
        r = res[name]
        for k, an in enumerate(lab["anomalies"]):
            if ev.target(an):
                agg[key][1] += 1
                if k in r["found"]:
                    agg[key][0] += 1
                else:
                    listed.append((name, an["magnitude"], an["length"], an["start"]))
        if lab["kind"] == "none":
            agg[key][2] += len(r["fas"])
            agg[key][3] += r["days"]
            listed += [(name, "FA", i) for i, _ in r["fas"]]
    parts = []
    for st in ev.STEP_ORDER:
        rows = [v for k, v in agg.items() if k[0] == st]
        found, n = sum(v[0] for v in rows), sum(v[1] for v in rows)
        fa, days = sum(v[2] for v in rows), sum(v[3] for v in rows)
        b = agg.get((st, "bursty"), [0, 0, 0, 0.0])
        parts.append(f"{st}: {found}/{n}={found / max(n, 1):.3f} bursty {b[0]}/{b[1]} "
                     f"FA {fa}/{days:.0f}d bursty FA {b[2]}/{b[3]:.0f}d="
                     f"{b[2] / max(b[3], 1) * 30:.2f}")
    print(rule, " | ".join(parts))
    if a.list:
        for x in listed:
            print("   ", x)

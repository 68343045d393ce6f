#!/usr/bin/env python3
"""Per-file breakdown of a NAB run (standard profile), to see where the points are lost.

    benches/nab/per_file.py ALERTS.csv [--subset FILE] [--nab DIR] [--scorer nab_score.py]

ALERTS.csv is what `score.sh` writes (`series,timestamp,kind,rule,...`, one row per onset).
For each file: every window (detected: its score, the rule that found it and the position of
the first detection in the window, 0 = window start, 1 = end; missed: -1), the false alarms
(count, cost, and the rules that raised them), and the points of the normalised score the
file loses against a perfect detector. Files are printed worst first; the per-rule totals
close the listing. Uses the scorer's own arithmetic (imported from nab_score.py).
"""
import argparse, csv, importlib.util, os, sys
from collections import defaultdict

ap = argparse.ArgumentParser()
ap.add_argument("alerts")
ap.add_argument("--nab", default=os.environ.get("NAB", "/work/shared/datasets/nab"))
ap.add_argument("--scorer", default=os.environ.get("SCORER", "/work/shared/tools/nab_score.py"))
ap.add_argument("--subset")
ap.add_argument("--top", type=int, default=0, help="print only the N worst files")
a = ap.parse_args()

spec = importlib.util.spec_from_file_location("nab_score", a.scorer)
ns = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ns)
cm = ns.PROFILES["standard"]
corpus = ns.load_corpus(a.nab, a.subset)
pos = {k: {x: i for i, x in enumerate(v["t"])} for k, v in corpus.items()}
flags = {k: {} for k in corpus}  # row -> rule
for r in csv.DictReader(open(a.alerts)):
    k = ns.series_key(r["series"], corpus)
    if k is None:
        continue
    i = pos[k].get(ns.ts(r["timestamp"]))
    if i is not None:
        flags[k].setdefault(i, r.get("rule") or r.get("kind") or "?")

n_win = sum(len(v["wins"]) for v in corpus.values())
denom = n_win * cm["tp"] + n_win * cm["fn"]  # perfect - null
rows, by_rule = [], defaultdict(lambda: [0, 0.0, 0, 0.0])  # tp, tp score, fp, fp cost
for k, ser in corpus.items():
    scores = [0.0] * len(ser["t"])
    for i in flags[k]:
        scores[i] = 1.0
    pts = ns.sweep(ser, scores, cm)
    best = {}
    for w in ser["wins"]:
        best[w] = None
    fp_n, fp_cost, fp_rules = 0, 0.0, defaultdict(int)
    for sc, s, wid, i in pts:
        if sc < 1.0:
            continue
        if wid is None:
            fp_n += 1
            fp_cost += s
            fp_rules[flags[k][i]] += 1
            by_rule[flags[k][i]][2] += 1
            by_rule[flags[k][i]][3] += s
        elif best[wid] is None or s > best[wid][0]:
            best[wid] = (s, i, flags[k][i])
    raw, wins = fp_cost, []
    for w, b in best.items():
        if b is None:
            raw -= cm["fn"]
            wins.append("miss")
        else:
            raw += b[0]
            by_rule[b[2]][0] += 1
            by_rule[b[2]][1] += b[0]
            wins.append(f"{b[0]:+.2f}@{(b[1] - w[0]) / max(w[1] - w[0], 1):.2f}:{b[2]}")
    # A subset without windows (`normal`) has no normalised score: its files lose raw points.
    lost = 100.0 * (len(ser["wins"]) * cm["tp"] - raw) / denom if denom else -raw
    rows.append((lost, k, wins, fp_n, fp_cost, dict(fp_rules)))

rows.sort(key=lambda r: -r[0])
total = 0.0
for lost, k, wins, fp_n, fp_cost, fr in rows[: a.top or None]:
    print(f"{lost:6.2f} {k}")
    print(f"       windows: {' '.join(wins) if wins else '-'}")
    if fp_n:
        print(f"       false alarms: {fp_n} cost {fp_cost:.2f} {fr}")
for r in rows:
    total += r[0]
if denom:
    print(f"\nscore = 100 - {total:.2f} = {100 - total:.2f}")
else:
    print(f"\nno windows: false alarms cost {total:.2f} raw points")
print("per rule: windows found (score), false alarms (cost)")
for rule, (tp, tps, fp, fpc) in sorted(by_rule.items()):
    print(f"  {rule:24s} {tp:3d} ({tps:+7.2f})  {fp:4d} ({fpc:+7.2f})")

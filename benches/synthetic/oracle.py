#!/usr/bin/env python3
"""What an ideal detector must fire on the anomaly-free bursty series (issue 18).

    benches/synthetic/oracle.py [--seeds 18-29] [--factors 2.5,2.6,2.7,2.8,2.9]

Generates bursty anomaly-free series the way generate.py does (its functions, daily rhythm,
every step; a random stream of their own per seed) and counts, from day 4 on, the onsets of runs of two or more samples above `factor` times
the series' clean level (no noise, known exactly): what a spike rule of that factor with
`for_points = 2` fires even if its baseline were perfect. Bursts of 1.3-2x on log-normal noise
overlap now and then into 3x for several samples, which no rule can tell from a target spike
(3x for 2 samples); this is the floor under the false alarms of the default attack rules there.
Per bursty series, per 30 days of judged time.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate as g  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--seeds", default="18-29")
ap.add_argument("--factors", default="2.5,2.6,2.7,2.8,2.9")
a = ap.parse_args()
lo, hi = (int(x) for x in a.seeds.split("-"))
factors = [float(f) for f in a.factors.split(",")]
print("| step | judged days | " + " | ".join(f"{f}x" for f in factors) + " |")
print("| --- | --- |" + " --- |" * len(factors))
for step_name, step in g.STEPS.items():
    days = {"10s": 8, "1m": 14, "5m": 21, "1h": 35}[step_name]
    n = days * g.DAY // step
    counts = [0] * len(factors)
    judged = 0
    for seed in range(lo, hi + 1):
        rng = np.random.default_rng([seed, 99])
        level = g.base_level(rng, n, step, "daily")
        r = (g.noisy(rng, level, "bursty") / level)[int(4 * g.DAY // step):]
        judged += days - 4
        for k, f in enumerate(factors):
            both = (r[:-1] > f) & (r[1:] > f)
            counts[k] += int(both[0]) + int(np.sum(both[1:] & ~both[:-1]))
    print(f"| {step_name} | {judged} | " + " | ".join(
        f"{c} ({c / judged * 30:.2f})" for c in counts) + " |")

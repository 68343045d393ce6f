#!/usr/bin/env python3
"""What an ideal detector must fire on the anomaly-free bursty series (issue 18).

    benches/synthetic/oracle.py [--seeds 18-29] [--factors 2.5,2.6,2.7,2.8,2.9] [--generated]

Generates bursty anomaly-free series the way generate.py does (its functions, daily rhythm,
every step; a random stream of their own per seed) and counts, from day 4 on, the onsets of runs of two or more samples above `factor` times
the series' clean level (no noise, known exactly): what a spike rule of that factor with
`for_points = 2` fires even if its baseline were perfect. Bursts of 1.3-2x on log-normal noise
overlap now and then into 3x for several samples, which no rule can tell from a target spike
(3x for 2 samples); this is the floor under the false alarms of the default attack rules there.
Per bursty series, per 30 days of judged time.

With `--generated` the series are not a stream of their own but exactly the ones generate.py
writes for those seeds (its plan and random streams): the anomaly-free bursty series, and the
bursty spike series, whose target spikes (3x or more, 2 samples or more) the same perfect
baseline finds when both of two consecutive samples in them clear the factor. That is the floor
under what evaluate.py and by_noise.py score on those sets, not an estimate of it from other
draws (seeds 26-45 at 10 s: 1.50 per 30 days at 2.8x, 1.12 at 2.9x with 0.95 of the bursty
target spikes; seeds 46-65: 1.88 and 1.50).
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
ap.add_argument("--generated", action="store_true",
                help="the series generate.py writes for these seeds, and their target spikes")
a = ap.parse_args()
lo, hi = (int(x) for x in a.seeds.split("-"))
factors = [float(f) for f in a.factors.split(",")]


def runs_above(r, f):
    """Onsets of runs of two or more samples above f in the ratios r."""
    both = (r[:-1] > f) & (r[1:] > f)
    return int(both[0]) + int(np.sum(both[1:] & ~both[:-1])) if len(both) else 0


def generated():
    """The bursty series of generate.py's plan, as it writes them for each seed."""
    plan = g.plan(False)
    print("| step | judged days | targets | " + " | ".join(f"{f}x" for f in factors) + " |")
    print("| --- | --- | --- |" + " --- |" * len(factors))
    for step_name, step in g.STEPS.items():
        fas, found = [0] * len(factors), [0] * len(factors)
        judged, targets = 0.0, 0
        for seed in range(lo, hi + 1):
            for j, (st, rhythm, noise, kind, days) in enumerate(plan):
                if st != step_name or noise != "bursty" or kind not in ("none", "spike"):
                    continue
                rng = np.random.default_rng([seed, j])
                n = days * g.DAY // step
                level = g.base_level(rng, n, step, rhythm) * float(rng.uniform(50, 500))
                x = g.noisy(rng, level, noise)
                if kind == "none":
                    r = (np.maximum(x, 0) / level)[int(4 * g.DAY // step):]
                    judged += len(r) * step / g.DAY
                    for k, f in enumerate(factors):
                        fas[k] += runs_above(r, f)
                    continue
                t0 = max(4.5 * g.DAY, days * g.DAY / 2)
                for an in g.inject(rng, x, level, step, kind, t0)[0]:
                    if an["magnitude"] < 3 or an["length"] < 2:
                        continue
                    targets += 1
                    r = x[an["start"]:an["end"] + 1] / level[an["start"]:an["end"] + 1]
                    for k, f in enumerate(factors):
                        found[k] += runs_above(r, f) > 0
        print(f"| {step_name} | {judged:.0f} | {targets} | " + " | ".join(
            f"{c} ({c / judged * 30:.2f}), {h / max(targets, 1):.2f}"
            for c, h in zip(fas, found)) + " |")


if a.generated:
    generated()
    sys.exit(0)
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

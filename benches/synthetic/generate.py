#!/usr/bin/env python3
"""Labelled synthetic traffic series for detection tuning and evaluation (issue 18): not NAB.

    benches/synthetic/generate.py OUT_DIR [--small] [--seed N]

Writes OUT_DIR/labels.json and one OUT_DIR/<series>.txt per series (a `# step=S start=T`
line, then one value per line). `--small` writes the version committed in
benches/synthetic/small (replayed by tests/rules_synthetic.rs in CI); without it, the full set
(about 3 million points, kept out of the repository: regenerate it, the seed is fixed).

Each series is one sampling step (10 s, 1 min, 5 min, 1 h), one rhythm, one noise level and
one anomaly kind:

- rhythm `daily`: a daily cycle (+-40%, low at night) and a weekly one (weekends lower), on a
  slowly wandering level; rhythm `flat`: the wandering level alone (no season: a series the
  seasonal rules must not judge by time of day).
- noise `quiet` (2% Gaussian), `moderate` (8%), `bursty` (log-normal 20%, plus bursts of
  1.3-2x lasting 1-4 samples on 0.5% of the samples).
- anomaly kinds, several per series in its second week, 16 h or more apart (so an alert of one
  has resolved before the next): `spike` (3x, 5x, 10x the level for 1, 2, 3, 6 or 12 samples),
  `shift_up` (1.5x to 3x for 6, 12 or 24 samples), `shift_down` (to 40%, 30%, 20% or 10% of the
  level for 6, 12 or 24 samples), `decline` (a linear fall to 30% over 6 hours, at least 12
  samples, held for 2 hours, at least 6 samples), and `none` (anomaly-free).

The base rhythm and the wandering level come from GutenTAG's base oscillations
(`timeeval-gutentag`, `gutenTAG.api.bo.sine` and `random_walk`). GutenTAG's anomalies are
additive offsets or single-point extrema; multiplicative spikes lasting several samples, drops
to a share of the level and bursty multiplicative noise are not among them, so those are made
here with numpy, on top of GutenTAG's base.
"""
import argparse
import json
import os
from datetime import datetime, timedelta, timezone

import numpy as np
from gutenTAG.api.bo import random_walk, sine

STEPS = {"10s": 10, "1m": 60, "5m": 300, "1h": 3600}
START = datetime(2026, 1, 5, tzinfo=timezone.utc)  # a Monday
DAY = 86400


def base_level(rng, n, step, rhythm):
    """The clean level (no noise, no anomaly) of a series: rhythm x wandering level."""
    level = 1.0 + random_walk(rng=rng, length=n, amplitude=0.08, smoothing=0.05)
    if rhythm == "daily":
        per_day = DAY // step
        # GutenTAG's frequency is in cycles per 100 points; its sine is 0 at the first point
        # and peaks a quarter period later: starting it half a day early puts the peak at
        # 18:00 and the trough at 06:00.
        o = per_day // 2
        daily = sine(length=n + o, frequency=100 / per_day, amplitude=0.4)[o:]
        # Weekends lower: a weekly sine that peaks mid-week (the series starts on a Monday).
        weekly = sine(length=n, frequency=100 / (7 * per_day), amplitude=0.12)
        level = level * (1.0 + daily) * (1.0 + weekly)
    return np.maximum(level, 0.05)


def noisy(rng, level, noise):
    n = len(level)
    if noise == "quiet":
        return level * (1 + rng.normal(0, 0.02, n))
    if noise == "moderate":
        return level * (1 + rng.normal(0, 0.08, n))
    x = level * rng.lognormal(0, 0.2, n)
    starts = np.nonzero(rng.random(n) < 0.005)[0]
    for s in starts:
        x[s:s + rng.integers(1, 5)] *= rng.uniform(1.3, 2.0)
    return x


SHAPES = {
    "spike": [(3, 1), (3, 2), (5, 3), (10, 6), (3, 12), (5, 2), (10, 1), (3, 6), (5, 12)],
    "shift_up": [(1.5, 6), (2, 12), (3, 24), (2, 6), (1.5, 24), (3, 12)],
    "shift_down": [(0.4, 6), (0.3, 12), (0.2, 24), (0.1, 6), (0.4, 24), (0.3, 6)],
    "decline": [(0.3, None)] * 5,
}


def inject(rng, x, level, step, kind, t0, count=None):
    """Anomalies of `kind` from `t0` seconds on, 16 h or more apart, at varied hours; returns
    them and the time after the last one's quiet gap."""
    n = len(x)
    anomalies = []
    decline_len = max(12, int(6 * 3600 // step))
    hold = max(6, int(2 * 3600 // step))
    shapes = SHAPES[kind][:count]
    t = t0
    for k, (m, l) in enumerate(shapes):
        s = int(t // step)
        length = l or decline_len + hold
        if s + length >= n:
            break
        e = s + length
        if kind == "decline":
            x[s:e] *= np.concatenate([np.linspace(1.0, m, decline_len), np.full(hold, m)])
        elif kind == "spike":
            # A spike is m x the clean level (whatever the noise did there), with a little
            # noise of its own.
            x[s:e] = level[s:e] * m * (1 + rng.normal(0, 0.03, e - s))
        else:
            x[s:e] *= m
        anomalies.append(dict(kind=kind, start=s, end=e - 1, magnitude=m, length=e - s))
        # The next one 16 to 24 hours after this one ends: at another time of day.
        t = e * step + (16 + k * 5 % 9) * 3600
    return anomalies, t


def plan(small):
    """(step, rhythm, noise, kind, days) of every series."""
    out = []
    for step in STEPS:
        if small:
            days = {"10s": 7, "1m": 8, "5m": 14, "1h": 21}[step]
            out.append((step, "daily", "moderate", "mixed", days))
            if step != "10s":
                out.append((step, "daily", "moderate", "none", days))
            continue
        days = {"10s": 8, "1m": 14, "5m": 21, "1h": 35}[step]
        for noise in ("quiet", "moderate", "bursty"):
            for kind in ("spike", "shift_up", "shift_down", "decline", "none"):
                out.append((step, "daily", noise, kind, days))
        for kind in ("spike", "shift_down", "none"):
            out.append((step, "flat", "moderate", kind, days))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--seed", type=int, default=18)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    labels = {}
    for j, (step_name, rhythm, noise, kind, days) in enumerate(plan(a.small)):
        rng = np.random.default_rng([a.seed, j])
        step = STEPS[step_name]
        n = days * DAY // step
        level = base_level(rng, n, step, rhythm) * float(rng.uniform(50, 500))
        x = noisy(rng, level, noise)
        # Anomalies from the middle of the series, and never before 4.5 days (the rules learn
        # first).
        t0 = max(4.5 * DAY, days * DAY / 2)
        if kind == "mixed":
            anomalies, t = inject(rng, x, level, step, "spike", t0, 3)
            anomalies += inject(rng, x, level, step, "shift_down", t, 3)[0]
        elif kind == "none":
            anomalies = []
        else:
            anomalies = inject(rng, x, level, step, kind, t0)[0]
        name = f"syn/{step_name}/{rhythm}-{noise}/{kind}"
        fname = name.replace("/", "_") + ".txt"
        with open(os.path.join(a.out, fname), "w") as f:
            f.write(f"# step={step} start={START.strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
            f.write("\n".join(f"{v:.4g}" for v in np.maximum(x, 0)))
            f.write("\n")
        labels[name] = dict(file=fname, step=step, rhythm=rhythm, noise=noise, kind=kind,
                            points=int(n), judged_from=int(4 * DAY // step),
                            anomalies=anomalies)
    with open(os.path.join(a.out, "labels.json"), "w") as f:
        json.dump(labels, f, indent=1, default=float)
        f.write("\n")
    print(f"{len(labels)} series, {sum(l['points'] for l in labels.values())} points in {a.out}")


if __name__ == "__main__":
    main()

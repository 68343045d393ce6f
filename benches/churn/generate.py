#!/usr/bin/env python3
"""A labelled set of customer usage for the churn rule (issue 18: "churn on customer usage").

    benches/churn/generate.py OUT [--seed 1] [--customers 200] [--days 182]

Writes OUT/feed.csv (`series,timestamp,value`: bytes per hour, what `usage_bytes` is per
step, for `bandwatch backtest --input`) and OUT/labels.json. Each customer is one series of
hourly usage over `--days` days from 2026-01-05 (a Monday), drawn for the seed:

- a profile: `business` (weekends at 30-70 % of weekdays, daytime traffic), `residential`
  (weekends at 100-120 %, evening peak) or `hosting` (flat, little rhythm);
- a level (10 GB to 10 TB a day), a trend over the span (-15 % to +30 %), a wandering level
  (a random walk in log, 1-3 % a day), day-to-day noise (`steady` 4 %, `moderate` 10 %,
  `volatile` 22 %, log-normal) and hour-to-hour noise (10 %);
- shared by every customer of the seed (the calendar, not the customer): a holiday fortnight
  (business customers at 45-75 % of their level for 7-14 days, residential at 90-110 %,
  hosting unchanged) and three public holidays (business at 35-50 % for a day);
- on 30 % of the customers, churn from day 70 to day 150, labelled: `step` (to 20-60 % of the
  level from one day to the next: most traffic moved elsewhere), `decline` (a linear fall to
  20-50 % over 14 to 56 days), `leave` (to 1-3 %: gone, keep-alive traffic left);
- on the others, things that are not churn (labelled, so false alarms can be told apart):
  `outage` (1-3 days at zero: the link was down; or, half of the time, no data: the poller
  was down), `surge` (5-25 days at 1.8-3x: a migration or a backup project, then back),
  `dip` (7-14 days at 50-70 %, then back: a slow month; ambiguous, neither found nor false).

Usage is bytes, never negative; unknown hours are left out of the feed (a gap, not zero).
Standard library only (CI runs it: `tests/churn_evaluate.rs`); the same seed writes the same
set on every machine.
"""
import argparse
import json
import math
import os
import random
from datetime import datetime, timedelta, timezone

START = datetime(2026, 1, 5, tzinfo=timezone.utc)  # a Monday
NOISE = {"steady": 0.04, "moderate": 0.10, "volatile": 0.22}


def pick(rng, weights):
    """One key of `weights` (key -> probability)."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def customer(rng, days, calendar):
    """(hourly usage with None for unknown hours, label dict) of one customer."""
    profile = pick(rng, {"business": 0.5, "residential": 0.3, "hosting": 0.2})
    noise = pick(rng, {"steady": 0.3, "moderate": 0.45, "volatile": 0.25})
    level = 10 ** rng.uniform(10, 13) / 24  # bytes an hour
    hours = days * 24
    # The shape of a day (by hour) and of a week (by day).
    if profile == "business":
        weekend = rng.uniform(0.3, 0.7)
        daily = [0.35 + 0.65 * max(0.0, math.sin((h - 7) / 11 * math.pi)) for h in range(24)]
    elif profile == "residential":
        weekend = rng.uniform(1.0, 1.2)
        daily = [0.45 + 0.55 * max(0.0, math.sin((h - 12) / 12 * math.pi)) for h in range(24)]
    else:
        weekend = 1.0
        daily = [0.9 + 0.1 * math.sin((h - 6) / 24 * 2 * math.pi) for h in range(24)]
    growth = rng.uniform(-0.15, 0.30)
    step = rng.uniform(0.01, 0.03)
    walk, w = [], 0.0
    for _ in range(days):
        w += rng.gauss(0, step)
        walk.append(math.exp(w))
    day_noise = [math.exp(rng.gauss(0, NOISE[noise])) for _ in range(days)]
    # Per day: the calendar's share for this profile, and the customer's own events.
    share = [1.0] * days
    for a, b, business, residential in calendar:
        s = {"business": business, "residential": residential, "hosting": 1.0}[profile]
        for d in range(a, min(b, days)):
            share[d] *= s
    known = [True] * days
    label = dict(profile=profile, noise=noise, churn=None, events=[])
    if rng.random() < 0.3:
        kind = pick(rng, {"step": 0.4, "decline": 0.4, "leave": 0.2})
        start = rng.randint(70, 150)
        if kind == "step":
            final, ramp = rng.uniform(0.2, 0.6), 0
        elif kind == "decline":
            final, ramp = rng.uniform(0.2, 0.5), rng.randint(14, 56)
        else:
            final, ramp = rng.uniform(0.01, 0.03), 0
        churn = (start, ramp, final)
        label["churn"] = dict(kind=kind, start=start, ramp=ramp, final=round(final, 3))
    else:
        churn = None
        t = rng.randint(36, 59)
        while t < days - 10:
            kind = pick(rng, {"outage": 0.3, "surge": 0.2, "dip": 0.2, "none": 0.3})
            length = 0
            if kind == "outage":
                length = rng.randint(1, 3)
                if rng.random() < 0.5:
                    for d in range(t, t + length):
                        share[d] = 0.0
                else:
                    kind = "no_data"
                    for d in range(t, t + length):
                        known[d] = False
            elif kind == "surge":
                length, m = rng.randint(5, 25), rng.uniform(1.8, 3.0)
                for d in range(t, min(t + length, days)):
                    share[d] *= m
            elif kind == "dip":
                length, m = rng.randint(7, 14), rng.uniform(0.5, 0.7)
                for d in range(t, min(t + length, days)):
                    share[d] *= m
            if length:
                label["events"].append(dict(kind=kind, start=t, end=t + length))
            t += length + rng.randint(20, 49)
    usage = []
    for i in range(hours):
        d, h = divmod(i, 24)
        if not known[d]:
            usage.append(None)
            continue
        x = level * daily[h] * (weekend if d % 7 >= 5 else 1.0) * (1 + growth * i / hours)
        x *= walk[d] * day_noise[d] * share[d] * math.exp(rng.gauss(0, 0.10))
        if churn:
            start, ramp, final = churn
            s = start * 24
            if i >= s + ramp * 24:
                x *= final
            elif i >= s:
                x *= 1 + (final - 1) * (i - s) / (ramp * 24)
        usage.append(x)
    return usage, label


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--customers", type=int, default=200)
    ap.add_argument("--days", type=int, default=182)
    a = ap.parse_args()
    rng = random.Random(f"{a.seed}/calendar")
    # The calendar: a holiday fortnight from a day between 100 and 149, three public holidays.
    hol = rng.randint(100, 149)
    calendar = [(hol, hol + rng.randint(7, 14), rng.uniform(0.45, 0.75), rng.uniform(0.9, 1.1))]
    for d in rng.sample(range(40, a.days - 7), 3):
        calendar.append((d, d + 1, rng.uniform(0.35, 0.5), 1.0))
    os.makedirs(a.out, exist_ok=True)
    labels = dict(
        start=START.isoformat(),
        days=a.days,
        calendar=[dict(start=s, end=e, business=round(b, 3), residential=round(r, 3))
                  for s, e, b, r in calendar],
        customers={},
    )
    with open(os.path.join(a.out, "feed.csv"), "w") as f:
        f.write("series,timestamp,value\n")
        for c in range(a.customers):
            crng = random.Random(f"{a.seed}/{c}")
            usage, label = customer(crng, a.days, calendar)
            name = f"c{c:03d}"
            labels["customers"][name] = label
            for i, v in enumerate(usage):
                if v is None:
                    continue
                # Stamped at the end of the hour it counts, as a poller stamps its interval.
                t = START + timedelta(hours=i + 1)
                f.write(f"{name},{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{v:.0f}\n")
    with open(os.path.join(a.out, "labels.json"), "w") as f:
        json.dump(labels, f, indent=1)
    churn = sum(1 for c in labels["customers"].values() if c["churn"])
    print(f"{a.customers} customers ({churn} churn), {a.days} days, in {a.out}")


if __name__ == "__main__":
    main()

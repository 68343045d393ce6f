#!/usr/bin/env python3
"""Scores churn rules on the labelled customer usage `generate.py` writes (issue 18).

    benches/churn/evaluate.py SET [SET ...] [--rules alert-rules/business.toml]
                              [--bandwatch BIN] [--json FILE]

Every churn rule of the rule file (a drop with `window`) is replayed as a rule on imported
series (scope `series`, metric `value`: the feed's values are bytes per hour, as `usage_bytes`
is per step; `match`, routes and revenue floors left out) through `bandwatch backtest
--input`, the daemon's evaluator, and scored per rule, pooled over the sets:

- a churn (usage down to 20-60 % of its level and staying there, or gone) is found by an onset
  from its first day to 42 days after it (sales hears within six weeks); the delay is in days
  from its first day; an onset later than that is late, neither found nor false. The targets
  are the churns to half the level or less (a rule that fires at 40 % down cannot be asked to
  find every fall to 55 % through day-to-day noise); all churns are counted as well;
- any other onset is a false alarm, counted per customer-year of judged time (from the day the
  rule can first compare, `recent` + `reference` windows in, to a churn's first day or the
  end), and put down to what came before it: the holiday fortnight or a public holiday (an
  onset up to `recent` after it ended), an outage at zero, a surge (up to `recent` +
  `reference` after it ended, the time it takes to leave the reference), or nothing labelled;
  an onset during a `dip` or up to `recent` after it is neither (a slow month is for a human
  to judge).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import tomllib
from collections import defaultdict
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAY = 86400
FOUND_WITHIN = 42  # days
TARGET = 0.5  # a churn to this share of the level or less is a target


def days(s):
    units = {"d": DAY, "h": 3600, "w": 7 * DAY}
    return int(s[:-1]) * units[s[-1]] / DAY


def churn_rules(path, out_dir):
    """The churn rules of `path` as rules on series, written to `out_dir`; their specs."""
    rules = [r for r in tomllib.load(open(path, "rb"))["rule"] if "window" in r]
    lines, specs = [], {}
    for r in rules:
        r = {k: v for k, v in r.items()
             if k not in ("match", "notify", "description", "min_revenue_at_risk", "repeat",
                          "repeat_backoff", "repeat_max", "inhibited_by")}
        r["scope"], r["metric"], r["notify"] = "series", "value", []
        specs[r["name"]] = r
        lines.append("[[rule]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in r.items()]
        lines.append("")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "rules.toml"), "w") as f:
        f.write("\n".join(lines))
    return specs


def replay(bandwatch, rules_dir, feed):
    with open(feed) as f:
        p = subprocess.run([bandwatch, "-c", "/dev/null", "backtest", "--rules", rules_dir,
                            "--input", "-", "--format", "csv"], stdin=f, capture_output=True,
                           text=True)
    if p.returncode != 0:
        sys.exit(f"bandwatch backtest failed on {feed}: {p.stderr.strip()}")
    onsets = []
    for line in p.stdout.splitlines()[1:]:
        series, ts, _kind, rule = line.split(",")[:4]
        onsets.append((series, rule, datetime.fromisoformat(ts.replace("Z", "+00:00"))))
    return onsets


def score(sets, specs, bandwatch, work):
    rows = {name: dict(targets=0, found=0, churns=0, churns_found=0, delays=[], late=0, fa=0,
                       years=0.0,
                       causes=defaultdict(int), by_kind=defaultdict(lambda: [0, 0]),
                       missed=[])
            for name in specs}
    for n, s in enumerate(sets):
        labels = json.load(open(os.path.join(s, "labels.json")))
        start = datetime.fromisoformat(labels["start"])
        span = labels["days"]
        onsets = replay(bandwatch, work, os.path.join(s, "feed.csv"))
        by = defaultdict(list)
        for series, rule, t in onsets:
            by[(series, rule)].append((t - start).total_seconds() / DAY)
        for name, spec in specs.items():
            row = rows[name]
            recent = days(spec["recent"])
            judged_from = recent + days(spec["reference"])
            for cname, c in labels["customers"].items():
                mine = sorted(by.get((cname, name), []))
                churn = c["churn"]
                end = churn["start"] if churn else span
                row["years"] += max(0.0, end - judged_from) / 365
                if churn:
                    row["churns"] += 1
                    row["churns_found"] += any(
                        churn["start"] <= d <= churn["start"] + FOUND_WITHIN for d in mine)
                if churn and churn["final"] <= TARGET:
                    row["targets"] += 1
                    row["by_kind"][churn["kind"]][1] += 1
                    hits = [d for d in mine if churn["start"] <= d <= churn["start"] + FOUND_WITHIN]
                    if hits:
                        row["found"] += 1
                        row["by_kind"][churn["kind"]][0] += 1
                        row["delays"].append(hits[0] - churn["start"])
                    else:
                        row["missed"].append(f"{os.path.basename(s)}/{cname} {churn['kind']} "
                                             f"to {churn['final']}")
                for d in mine:
                    if churn and d >= churn["start"]:
                        row["late"] += d > churn["start"] + FOUND_WITHIN
                        continue
                    cause = "nothing labelled"
                    for e in c["events"]:
                        if e["kind"] == "dip" and e["start"] <= d <= e["end"] + recent:
                            cause = None
                        elif e["kind"] in ("outage", "no_data") and e["start"] <= d <= e["end"] + recent:
                            cause = e["kind"]
                        elif e["kind"] == "surge" and e["end"] <= d <= e["end"] + judged_from:
                            cause = "after a surge"
                    for h in labels["calendar"]:
                        if h["start"] <= d <= h["end"] + recent and cause == "nothing labelled":
                            cause = "holiday" if h["end"] - h["start"] > 1 else "public holiday"
                    if cause is None:
                        continue
                    row["fa"] += 1
                    row["causes"][cause] += 1
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--rules", default=os.path.join(ROOT, "alert-rules", "business.toml"))
    ap.add_argument("--bandwatch", default=os.path.join(ROOT, "target", "release", "bandwatch"))
    ap.add_argument("--json", default=None, metavar="FILE")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bw-churn-")
    specs = churn_rules(a.rules, work)
    if not specs:
        sys.exit(f"{a.rules}: no churn rule (a drop with `window`)")
    try:
        rows = score(a.sets, specs, a.bandwatch, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{a.rules} on {len(a.sets)} set(s)\n")
    print("| rule | target churns found (to <= 50 %) | by kind | all churns found | median delay "
          "(days) | false alarms / customer-year | put down to |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    out = {}
    for name, r in rows.items():
        med = statistics.median(r["delays"]) if r["delays"] else None
        kinds = ", ".join(f"{k} {f}/{n}" for k, (f, n) in sorted(r["by_kind"].items()))
        causes = ", ".join(f"{k} {v}" for k, v in sorted(r["causes"].items(), key=lambda kv: -kv[1]))
        rate = r["fa"] / max(r["years"], 1e-9)
        print(f"| {name} | {r['found']}/{r['targets']} | {kinds} | "
              f"{r['churns_found']}/{r['churns']} | "
              f"{'-' if med is None else f'{med:.1f}'} | {r['fa']} ({rate:.2f} in "
              f"{r['years']:.0f} years) | {causes or '-'} |")
        out[name] = dict(targets=r["targets"], found=r["found"], churns=r["churns"],
                         churns_found=r["churns_found"], median_delay_days=med,
                         false_alarms=r["fa"], customer_years=r["years"],
                         false_alarms_per_customer_year=rate, causes=dict(r["causes"]),
                         by_kind={k: dict(found=f, targets=n) for k, (f, n) in r["by_kind"].items()},
                         late=r["late"], missed=r["missed"])
    for name, r in rows.items():
        if r["missed"]:
            print(f"\n{name} missed: " + ", ".join(r["missed"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()

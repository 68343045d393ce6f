#!/usr/bin/env python3
"""Replays a synthetic set (made by generate.py) through `bandwatch backtest` and scores it.

    benches/synthetic/evaluate.py SET_DIR [SET_DIR...] [--rules DIR] [--bandwatch BIN]
                                  [--plots DIR] [--only REGEX] [--by-rule]
                                  [--as-series alert-rules/traffic.toml]

Several SET_DIRs (seeds of generate.py) are replayed one after the other and scored together, so
a figure can be pooled over held-out seeds (plots are drawn from the first set only).

Prints, per anomaly kind and per sampling step: recall, false alarms per 30 days and the
median delay in samples, plus the recall of the issue's targets (spikes of 3x or more lasting
2 samples or more; drops to 40% or less lasting 6 samples or more) and the false alarms of the
anomaly-free series per noise level. With --plots, one PNG per kind: the moderate-noise series
of each step around its anomalies, labelled windows shaded, alert onsets marked.

Scoring: an onset inside a labelled anomaly (its first to its last sample) detects it, with
the delay in samples from its first sample; an onset in the 3 samples after an anomaly's end
is late (neither a detection nor a false alarm); any other onset is a false alarm. False
alarms per 30 days count the judged time only (from day 4 of each series, when the rules have
learnt enough to fire at all). `--rules` defaults to benches/nab (the frozen NAB rule file,
the one detector of this project that is scored everywhere).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta, timezone

LATE = 3
STEP_ORDER = ["10s", "1m", "5m", "1h"]


def load(set_dir, only=None):
    labels = json.load(open(os.path.join(set_dir, "labels.json")))
    if only:
        labels = {k: v for k, v in labels.items() if re.search(only, k)}
    feed = ["series,timestamp,value\n"]
    starts = {}
    for name, lab in labels.items():
        with open(os.path.join(set_dir, lab["file"])) as f:
            head = f.readline().split()
            meta = dict(kv.split("=") for kv in head[1:])
            start = datetime.fromisoformat(meta["start"].replace("Z", "+00:00"))
            step = int(meta["step"])
            starts[name] = (start, step)
            for i, line in enumerate(f):
                t = start + timedelta(seconds=i * step)
                feed.append(f"{name},{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{line.strip()}\n")
    return labels, "".join(feed), starts


def as_series(path, out_dir):
    """The spike and drop rules of a default rule file (alert-rules/*.toml, on ports and
    product lines) as rules on imported series: scope `series`, metric `value`, min_delta 0;
    `match`, routes, repeats and inhibitions left out."""
    import tomllib
    rules = []
    for r in tomllib.load(open(path, "rb"))["rule"]:
        if r["kind"] not in ("spike", "drop") or "window" in r:
            continue
        r = {k: v for k, v in r.items()
             if k not in ("match", "notify", "repeat", "repeat_backoff", "repeat_max", "description",
                          "inhibited_by")}
        r["scope"], r["metric"], r["notify"] = "series", "value", []
        # min_delta is the absolute floor that keeps a quiet port quiet; the synthetic levels
        # (50 to 500) have no absolute scale, so it is left out: the relative margins are scored.
        r["min_delta"] = 0
        rules.append(r)
    lines = []
    for r in rules:
        lines.append("[[rule]]")
        for k, v in r.items():
            lines.append(f"{k} = {json.dumps(v)}")
        lines.append("")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "rules.toml"), "w") as f:
        f.write("\n".join(lines))
    return out_dir


def replay(bandwatch, rules, feed):
    p = subprocess.run([bandwatch, "-c", "/dev/null", "backtest", "--rules", rules, "--input", "-",
                        "--format", "csv"], input=feed.encode(), capture_output=True)
    if p.returncode != 0:
        sys.exit(p.stderr.decode())
    onsets = defaultdict(list)
    for line in p.stdout.decode().splitlines()[1:]:
        cols = line.split(",")
        onsets[cols[0]].append((cols[1], cols[3]))
    return onsets


def score(labels, onsets, starts):
    """Per series: detections (anomaly, delay, rule), misses, false alarms, judged days."""
    out = {}
    for name, lab in labels.items():
        start, step = starts[name]
        idx = []
        for t, rule in onsets.get(name, []):
            ti = datetime.fromisoformat(t.replace("Z", "+00:00"))
            idx.append((round((ti - start).total_seconds() / step), rule))
        found, fas, late = {}, [], []
        for i, rule in idx:
            hit = None
            for k, an in enumerate(lab["anomalies"]):
                if an["start"] <= i <= an["end"]:
                    hit = ("in", k)
                elif an["end"] < i <= an["end"] + LATE:
                    hit = hit or ("late", k)
            if hit and hit[0] == "in":
                if hit[1] not in found:
                    found[hit[1]] = (i - lab["anomalies"][hit[1]]["start"], rule)
            elif hit:
                late.append(i)
            elif i >= lab["judged_from"]:
                fas.append((i, rule))
        days = (lab["points"] - lab["judged_from"]) * step / 86400
        out[name] = dict(found=found, fas=fas, days=days, idx=idx)
    return out


def fmt_rate(num, den):
    return f"{num}/{den}" + (f" ({num / den:.2f})" if den else "")


def report(labels, res):
    rows = defaultdict(lambda: dict(n=0, hit=0, delays=[], fa=0, days=0.0, tn=0, thit=0))
    noise_rows = defaultdict(lambda: dict(fa=0, days=0.0))
    step_name = {10: "10s", 60: "1m", 300: "5m", 3600: "1h"}
    for name, lab in labels.items():
        r = res[name]
        st = step_name[lab["step"]]
        for k, an in enumerate(lab["anomalies"]):
            row = rows[(an["kind"], st)]
            row["n"] += 1
            target_ = target(an)
            row["tn"] += target_
            if k in r["found"]:
                row["hit"] += 1
                row["thit"] += target_
                row["delays"].append(r["found"][k][0])
        kind = lab["kind"]
        kinds = {an["kind"] for an in lab["anomalies"]} or {"none"}
        for kd in kinds:
            rows[(kd, st)]["fa"] += len(r["fas"]) / len(kinds)
            rows[(kd, st)]["days"] += r["days"] / len(kinds)
        if kind == "none":
            nr = noise_rows[(lab["rhythm"] + "-" + lab["noise"], st)]
            nr["fa"] += len(r["fas"])
            nr["days"] += r["days"]
    print("| kind | step | recall | target recall | false alarms / 30 days | median delay (samples) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in ("spike", "shift_up", "shift_down", "decline", "none"):
        for st in STEP_ORDER:
            row = rows.get((kind, st))
            if not row:
                continue
            fa = row["fa"] / row["days"] * 30 if row["days"] else float("nan")
            med = statistics.median(row["delays"]) if row["delays"] else "-"
            rec = fmt_rate(row["hit"], row["n"]) if row["n"] else "-"
            trec = fmt_rate(row["thit"], row["tn"]) if row["tn"] else "-"
            print(f"| {kind} | {st} | {rec} | {trec} | {fa:.2f} | {med} |")
    print()
    print("| anomaly-free series | step | false alarms / 30 days |")
    print("| --- | --- | --- |")
    for (noise, st), nr in sorted(noise_rows.items(), key=lambda x: (x[0][0], STEP_ORDER.index(x[0][1]))):
        print(f"| {noise} | {st} | {nr['fa']} in {nr['days']:.0f} days: {nr['fa'] / nr['days'] * 30:.2f} |")
    by_rule = defaultdict(int)
    for r in res.values():
        for _, rule in r["fas"]:
            by_rule[rule] += 1
    print()
    print("false alarms by rule:", dict(sorted(by_rule.items(), key=lambda x: -x[1])))


def target(an):
    """Whether an anomaly is one of the issue's targets."""
    return (an["kind"] == "spike" and an["magnitude"] >= 3 and an["length"] >= 2) or (
        an["kind"] in ("shift_down", "decline") and an["magnitude"] <= 0.4 and an["length"] >= 6)


def by_rule(labels, onsets, starts):
    """Per rule alone: target recall of spikes and of drops, median spike delay and false
    alarms per 30 days on the anomaly-free series, per step."""
    step_name = {10: "10s", 60: "1m", 300: "5m", 3600: "1h"}
    rules = sorted({r for v in onsets.values() for _, r in v})
    print("| rule | step | spikes (target) | drops (target) | spike delay | false alarms / 30 days (anomaly-free) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for rule in rules:
        only = {k: [(t, r) for t, r in v if r == rule] for k, v in onsets.items()}
        res = score(labels, only, starts)
        for st in STEP_ORDER:
            sp, dr, delays, fa, days = [0, 0], [0, 0], [], 0, 0.0
            for name, lab in labels.items():
                if step_name[lab["step"]] != st:
                    continue
                r = res[name]
                for k, an in enumerate(lab["anomalies"]):
                    if not target(an):
                        continue
                    c = sp if an["kind"] == "spike" else dr
                    c[1] += 1
                    if k in r["found"]:
                        c[0] += 1
                        if an["kind"] == "spike":
                            delays.append(r["found"][k][0])
                if lab["kind"] == "none":
                    fa += len(r["fas"])
                    days += r["days"]
            med = statistics.median(delays) if delays else "-"
            far = f"{fa} in {days:.0f} d ({fa / days * 30:.2f})" if days else "-"
            print(f"| {rule} | {st} | {fmt_rate(*sp)} | {fmt_rate(*dr)} | {med} | {far} |")


def plots(labels, res, starts, set_dir, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(out, exist_ok=True)
    kinds = sorted({lab["kind"] for lab in labels.values()})
    for kind in kinds:
        names = [n for n, lab in labels.items() if lab["kind"] == kind
                 and lab["noise"] in ("moderate",) and lab["rhythm"] == "daily"]
        names.sort(key=lambda n: STEP_ORDER.index(labels[n]["step"] and
                                                   {10: "10s", 60: "1m", 300: "5m", 3600: "1h"}[labels[n]["step"]]))
        if not names:
            continue
        fig, axes = plt.subplots(len(names), 1, figsize=(12, 2.6 * len(names)), squeeze=False)
        for ax, name in zip(axes[:, 0], names):
            lab = labels[name]
            with open(os.path.join(set_dir, lab["file"])) as f:
                f.readline()
                ys = [float(l) for l in f]
            lo = lab["judged_from"]
            xs = range(lo, len(ys))
            ax.plot(list(xs), ys[lo:], lw=0.5, color="#555")
            for an in lab["anomalies"]:
                ax.axvspan(an["start"] - 0.5, an["end"] + 0.5, color="#f4a", alpha=0.25)
            r = res[name]
            for i, rule in r["idx"]:
                if i >= lo:
                    bad = any(i == fi for fi, _ in r["fas"])
                    ax.axvline(i, color="#d00" if bad else "#080", lw=1)
            ax.set_title(f"{name}: {len(r['found'])}/{len(lab['anomalies'])} found, "
                         f"{len(r['fas'])} false alarms (green: onset, red: false alarm, "
                         f"pink: labelled)", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_xlabel("sample", fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"{kind}.png"), dpi=80)
        plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("set_dir", nargs="+")
    ap.add_argument("--rules", default="benches/nab")
    ap.add_argument("--bandwatch", default=os.environ.get("BANDWATCH", "target/release/bandwatch"))
    ap.add_argument("--plots")
    ap.add_argument("--only", help="a regex: only the series whose names match it")
    ap.add_argument("--by-rule", action="store_true",
                    help="also score every rule alone: target recall of spikes and drops, "
                         "spike delay and false alarms on the anomaly-free series, per step")
    ap.add_argument("--as-series", metavar="RULES.toml",
                    help="replay the spike and drop rules of a default rule file (alert-rules/) "
                         "as rules on series (min_delta 0) instead of --rules")
    a = ap.parse_args()
    rules = a.rules
    if a.as_series:
        import tempfile
        rules = as_series(a.as_series, tempfile.mkdtemp(prefix="bw-syn-"))
    labels, onsets, starts = {}, {}, {}
    for k, set_dir in enumerate(a.set_dir):
        lab, feed, st = load(set_dir, a.only)
        on = replay(a.bandwatch, rules, feed)
        # With several sets, series names are prefixed with their set's folder name.
        tag = (os.path.basename(os.path.normpath(set_dir)) + ":") if len(a.set_dir) > 1 else ""
        for name, v in lab.items():
            v = dict(v, file=os.path.join(os.path.abspath(set_dir), v["file"]))
            labels[tag + name] = v
            starts[tag + name] = st[name]
            if name in on:
                onsets[tag + name] = on[name]
        if k == 0:
            first = {tag + n for n in lab}
    res = score(labels, onsets, starts)
    report(labels, res)
    if a.by_rule:
        print()
        by_rule(labels, onsets, starts)
    if a.plots:
        only = {n: labels[n] for n in first}
        plots(only, res, starts, a.set_dir[0], a.plots)


if __name__ == "__main__":
    main()

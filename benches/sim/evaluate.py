#!/usr/bin/env python3
"""The default rules on the simulator's own traffic, through a user's path (issue 18).

    benches/sim/evaluate.py [--seeds 1-4] [--steps 1m,5m,1h] [--rules alert-rules]
                            [--bandwatch BIN] [--work DIR] [--json FILE]   (KEEP=1: keep the stores)

Per seed and poll interval: a configuration of 4 switches x 6 uplinks (each its own product
line) polled at that interval, a scenario file with the traffic's shape drawn for the seed (the simulator's model: a
daily and weekly rhythm, a smooth wobble, minute-to-minute jitter and short bursts, from calm
ports to bursty ones) and labelled events, `bandwatch backfill --days 21 --step S --scenario
--end T` into a new SQLite store (T fixed per seed: every run is the same), then `bandwatch
backtest` of the last 7 days of that stored history
with the rule folder (default: the shipped `alert-rules/`). Nothing here is the GutenTAG set
(`../synthetic/`) or NAB: another generator, the product's own, read back from its store.

Events, from day 15 on, 16 hours or more apart at varied hours, aligned to the poll interval:
a third of the ports get spikes (3x, 5x or 10x for 1, 2, 3, 6 or 12 samples), a third drops
(to 10-40 % for 6, 12 or 24 samples), a third nothing. Targets as in issue 18: spikes of 3x or
more lasting 2 samples or more; drops to 40 % or less lasting 6 samples or more.

Scoring, per rule on the entities of its scope (`uplink-attack` on `port:SW/P`,
`product-line-attack` and `product-line-collapse` on `product_line:SW-P`): an onset after an
event's start and no later than its end detects it (delay: samples after its first anomalous
sample); an onset in the 3 samples after its end is late, neither found nor false (on a
product line, whose points are the store's 60 s slots on the minute, an event ends at the end
of the slot it ends in, and is late for 3 samples or a slot, whichever is longer); an onset
on a kind of event the rule is not for, or outside every event, is a false alarm. False
alarms are per 30 days of judged time (the 7 days, every entity of the rule's scope), and on
the ports with no event apart.
"""
import argparse
import csv
import io
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = {"10s": 10, "1m": 60, "5m": 300, "1h": 3600}
DAYS, JUDGED_FROM = 21, 14
END = int(datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp())
SWITCHES, PORTS = 4, 6
LATE = 3
SPIKES = [(3, 1), (3, 2), (5, 3), (10, 6), (3, 12), (5, 2), (10, 1), (3, 6), (5, 12)]
DROPS = [(40, 6), (30, 12), (20, 24), (10, 6), (40, 24), (30, 6)]
RULES = {  # rule -> (scope, event kind it is for)
    "uplink-attack": ("port", "spike"),
    "product-line-attack": ("product_line", "spike"),
    "product-line-collapse": ("product_line", "drop"),
}


def port_names():
    for s in range(1, SWITCHES + 1):
        for p in range(1, PORTS + 1):
            yield f"edge-{s}", f"xe{p}"


def config(data_dir, step):
    c = [
        f'[daemon]\ndata_dir = "{data_dir}"\nrules_dir = "rules"\ninterval = "{step}s"\n',
        '[snmp.default]\nversion = "2c"\ncommunity = "${BW_SIM_COMMUNITY:-public}"\n',
        '[[site]]\nname = "lab"\n',
        '[[route]]\nname = "ops"\nemail = ["noc@example.net"]\n',
        '[[route]]\nname = "sales"\nemail = ["sales@example.net"]\n',
    ]
    for sw, p in port_names():
        c.append(f'[[product_line]]\nname = "{sw}-{p}"\n')
    for n in range(1, SWITCHES + 1):
        c.append(f'[[switch]]\nname = "edge-{n}"\nsite = "lab"\naddress = "127.0.0.1:{16100 + n}"\n')
    for sw, p in port_names():
        c.append(f'[[port]]\nswitch = "{sw}"\nname = "{p}"\nrole = "uplink"\n'
                 f'product_line = "{sw}-{p}"\n')
    return "\n".join(c)


def plan(seed, step):
    """The scenario's traffic and its events: (text, [event dict])."""
    rng = random.Random(seed * 1000 + step)
    daily, weekly = rng.uniform(0.2, 0.45), rng.uniform(0.05, 0.15)
    noise, jitter = rng.uniform(0.02, 0.08), rng.uniform(0.05, 0.2)
    bursts, size = rng.uniform(2, 12), rng.uniform(0.2, 1.0)
    text = [
        "[traffic]",
        'speed = "10Gbps"',
        f'base = "{rng.uniform(0.8, 2.0):.2f}Gbps"',
        "out_ratio = 0.4",
        f"daily = {daily:.3f}",
        f"weekly = {weekly:.3f}",
        f"noise = {noise:.3f}",
        f"jitter = {jitter:.3f}",
        f"bursts_per_day = {bursts:.1f}",
        f"burst_size = {size:.2f}",
        "wall_clock = true",
        "spread = 0.5",
        "",
    ]
    events = []
    ports = list(port_names())
    rng.shuffle(ports)
    for n, (sw, p) in enumerate(ports):
        kind = ("spike", "drop", "none")[n % 3]
        if kind == "none":
            continue
        shapes = list(SPIKES if kind == "spike" else DROPS)
        rng.shuffle(shapes)
        t = (JUDGED_FROM + 1) * 86400 + rng.randrange(0, 86400)
        for m, length in shapes:
            start = t // step * step
            end = start + length * step
            if end + 4 * 3600 > DAYS * 86400:
                break
            events.append(dict(kind=kind, switch=sw, port=p, start=start, end=end,
                               magnitude=m, length=length))
            text += ["[[event]]", f'at = "{start}s"', f'kind = "{kind}"']
            text.append(f"factor = {m}.0" if kind == "spike" else f"percent = {m}.0")
            text += [f'duration = "{end - start}s"', f'switches = ["{sw}"]', f'ports = ["{p}"]', ""]
            t = end + rng.randrange(16 * 3600, 24 * 3600)
    shape = dict(daily=daily, weekly=weekly, noise=noise, jitter=jitter, bursts=bursts, size=size)
    return "\n".join(text), events, shape


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def target(e):
    if e["kind"] == "spike":
        return e["magnitude"] >= 3 and e["length"] >= 2
    return e["magnitude"] <= 40 and e["length"] >= 6


def run(bw, seed, step_name, rules, work):
    step = STEPS[step_name]
    d = os.path.join(work, f"s{seed}-{step_name}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "rules"))
    for f in os.listdir(rules):
        if f.endswith(".toml"):
            shutil.copy(os.path.join(rules, f), os.path.join(d, "rules", f))
    with open(os.path.join(d, "bandwatch.toml"), "w") as f:
        f.write(config("data", step))
    text, events, shape = plan(seed, step)
    with open(os.path.join(d, "scenario.toml"), "w") as f:
        f.write(text)
    env = dict(os.environ, RUST_LOG="warn")
    # The history ends at a fixed time per seed (so a run is the same on every day, and two
    # builds compare on the same traffic), at a different second of the minute and hour of
    # the day for each seed (the polls' phase against the store's minute slots, the events'
    # against the daily rhythm).
    end = END + seed * (7 * 3600 + 13 * 60 + 17)
    first = end - DAYS * 86400
    subprocess.run([bw, "-c", "bandwatch.toml", "backfill", "--days", str(DAYS), "--step",
                    f"{step}s", "--scenario", "scenario.toml", "--end", iso(end)], cwd=d,
                   env=env, check=True, stdout=subprocess.DEVNULL)
    frm = iso(first + JUDGED_FROM * 86400)
    out = subprocess.run([bw, "-c", "bandwatch.toml", "backtest", "--from", frm, "--to",
                          iso(end), "--format", "csv"], cwd=d, env=env, check=True,
                         capture_output=True, text=True).stdout
    onsets = []
    for row in csv.DictReader(io.StringIO(out)):
        t = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")).timestamp()
        onsets.append((row["series"], row["rule"], t - first))
    if not os.environ.get("KEEP"):
        shutil.rmtree(os.path.join(d, "data"), ignore_errors=True)
    return events, onsets, shape, (DAYS - JUDGED_FROM), first


def score(results, step):
    """Per rule: target found / targets, all found / all, median delay, false alarms / 30 d,
    false alarms on the ports with no event."""
    out = {}
    for rule, (scope, kind) in RULES.items():
        row = dict(t=0, th=0, n=0, h=0, delays=[], fa=0, fa_quiet=0, days=0.0, quiet_days=0.0,
                   missed=[])
        for seed, (events, onsets, _, days, first) in results:
            # A product line's points are the store's 60 s slots (on the UTC minute): an event
            # ends, for it, at the end of the slot it ends in, and it is late for a slot or
            # for LATE polls, whichever is longer.
            if scope == "port":
                ends, late = (lambda x: x), LATE * step
            else:
                ends = lambda x, f=first: math.ceil((f + x) / 60) * 60 - f  # noqa: E731
                late = LATE * max(step, 60)
            by_entity = defaultdict(list)
            for e in events:
                name = (f"port:{e['switch']}/{e['port']}" if scope == "port"
                        else f"product_line:{e['switch']}-{e['port']}")
                by_entity[name].append(e)
            row["days"] += days * SWITCHES * PORTS
            quiet = SWITCHES * PORTS - len(by_entity)
            row["quiet_days"] += days * quiet
            mine = [(s, t) for s, r, t in onsets if r == rule]
            for e in (e for es in by_entity.values() for e in es if e["kind"] == kind):
                row["n"] += 1
                row["t"] += target(e)
            for name, es in by_entity.items():
                for e in es:
                    if e["kind"] != kind:
                        continue
                    hits = [t for s, t in mine if s == name and e["start"] < t <= ends(e["end"])]
                    if not hits and target(e):
                        row["missed"].append((e["magnitude"], e["length"], seed))
                    if hits:
                        row["h"] += 1
                        row["th"] += target(e)
                        delay = max(0, math.ceil((min(hits) - e["start"]) / step) - 1)
                        if target(e) and kind == "spike":
                            row["delays"].append(delay)
            for s, t in mine:
                es = by_entity.get(s, [])
                own = [e for e in es
                       if e["kind"] == kind and e["start"] < t <= ends(e["end"]) + late]
                if not own:
                    row["fa"] += 1
                    row["fa_quiet"] += not es
        out[rule] = row
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1-4", help="N or N-M")
    ap.add_argument("--steps", default="1m,5m,1h")
    ap.add_argument("--rules", default=os.path.join(ROOT, "alert-rules"))
    ap.add_argument("--bandwatch", default=os.path.join(ROOT, "target/release/bandwatch"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None, metavar="FILE",
                    help="also write the figures as JSON: {step: {rule: figures}}")
    a = ap.parse_args()
    lo, _, hi = a.seeds.partition("-")
    lo, hi = int(lo), int(hi or lo)
    work = a.work or tempfile.mkdtemp(prefix="bw-sim-")
    print(f"rules {a.rules}, seeds {lo}-{hi}, {SWITCHES} x {PORTS} uplinks, {DAYS} days, "
          f"the last {DAYS - JUDGED_FROM} judged")
    print()
    missed, shapes, figures = {}, {}, {}
    print("| rule | step | target found | all found | median spike delay (samples) | "
          "false alarms / 30 d (per entity) | on ports with no event |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for step_name in a.steps.split(","):
        step = STEPS[step_name]
        results = [(s, run(a.bandwatch, s, step_name, a.rules, work)) for s in range(lo, hi + 1)]
        for seed, (_, _, shape, _, _) in results:
            shapes[(step_name, seed)] = shape
        for rule, r in score(results, step).items():
            if r["missed"]:
                missed[(rule, step_name)] = r["missed"]
            med = statistics.median(r["delays"]) if r["delays"] else "-"
            figures.setdefault(step_name, {})[rule] = dict(
                targets=r["t"], targets_found=r["th"], events=r["n"], found=r["h"],
                median_spike_delay=None if med == "-" else med, false_alarms=r["fa"],
                false_alarms_per_30d=r["fa"] / r["days"] * 30, judged_days=r["days"],
                false_alarms_no_event=r["fa_quiet"])
            print(f"| {rule} | {step_name} | {r['th']}/{r['t']} | {r['h']}/{r['n']} | {med} | "
                  f"{r['fa']} ({r['fa'] / r['days'] * 30:.2f}) | "
                  f"{r['fa_quiet']} ({r['fa_quiet'] / max(r['quiet_days'], 1e-9) * 30:.2f}) |")
        sys.stdout.flush()
    if missed:
        print()
        print("Target events missed (rule, step: magnitude x samples on seed), and the seeds' "
              "traffic:")
        for (rule, step_name), m in missed.items():
            print(f"- {rule}, {step_name}: " + ", ".join(f"{x}x{n} s{sd}" for x, n, sd in sorted(m)))
        for (step_name, seed), sh in sorted(shapes.items()):
            print(f"- seed {seed} at {step_name}: " + ", ".join(f"{k} {v:.2f}" for k, v in sh.items()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=1)
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

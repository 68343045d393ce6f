#!/usr/bin/env python3
"""Choosing rule parameters by k-fold cross-validation over NAB files (successor of tune.py).

    benches/nab/cv.py measure RULES.toml [--folds 3] [--hourly DIR]
        scores one rule file on every fold and on the whole corpus (in-sample for any file
        whose values were chosen looking at these files); with --hourly, also on a NAB-shaped
        corpus of series that are not NAB's (benches/synthetic/to_nab.py), the stand-in for
        the held-out hourly set.
    benches/nab/cv.py protocol START.toml OUT_DIR [--folds 3] [--budget N] [--rounds N]
        the selection protocol: for each fold, a coordinate search from START on the OTHER
        folds only; that fold is then scored with the parameters so chosen (out-of-fold).
        Last, the same search on every fold gives the file to freeze (OUT_DIR/rules.toml),
        whose score on the corpus is in-sample and printed beside the out-of-fold figure.

    benches/nab/cv.py select START.toml OUT_DIR --grid GRID.toml [--folds 3]
        nested selection among a few whole alternatives (a rule added or not, a gate on or
        off), not a coordinate search: GRID.toml adds rules to START (`[[rule]]`) and names
        axes (`[[axis]]`: a rule, a key, the values tried; `""` or 0 leaves the key out, or
        the rule with key `enabled`); every combination is replayed once on the corpus, and
        each fold is scored with the combination whose WORST other fold is best (their sum
        breaks ties; their `normal` files at or below 0.84 false alarms per 30 days). The
        combination best on every fold is written to OUT_DIR/rules.toml (in-sample).
        With --synthetic SET_DIR... (benches/synthetic/generate.py's training seeds) a
        combination is admissible only if on those sets it finds, at every sampling step, at
        least START's target anomalies of each kind and (--synthetic-keep all, the default)
        raises no step's false alarms on the anomaly-free series over START's: each fold takes
        the best admissible combination (checked best first, the cheapest step first).

Folds are stratified and deterministic: the files of each stratum (NAB's `normal`,
`spike_network`, `drop_usage` subsets, then every other file) are dealt round-robin in sorted
order, so every fold has anomaly-free files, network spikes and usage drops.

A change (one parameter of one rule, one candidate value) is kept only when it raises the
WORST training fold's NAB standard score (each training fold scored on its own), not the sum,
and (`--accept pareto`, the default) lowers no training fold by more than `--tolerance` points
(0.25): a value that buys one group of files at another's cost is refused, even when the
fold it costs is not the worst one. `--accept worst` keeps the older rule (the worst fold
alone). A change that takes the training `normal` files above 0.84 false alarms per 30 days
is refused too. Candidate values are a few neighbours of the current one (no value is fitted
finer than the list).

The headline is the out-of-fold score: the flags of every file come from the parameters chosen
without its fold, and the corpus (and each slice) is scored from them with NAB's arithmetic
(nab_score.py's own functions). Test folds are never read by the search that scores them.
"""
import argparse
import copy
import csv
import importlib.util
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import tomllib

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["measure", "protocol", "select"])
ap.add_argument("rules")
ap.add_argument("out", nargs="?")
ap.add_argument("--bandwatch", default=os.environ.get("BANDWATCH", "target/release/bandwatch"))
ap.add_argument("--nab", default=os.environ.get("NAB", "/work/shared/datasets/nab"))
ap.add_argument("--scorer", default=os.environ.get("SCORER", "/work/shared/tools/nab_score.py"))
ap.add_argument("--folds", type=int, default=3)
ap.add_argument("--grid", help="select: the rules added and the axes (TOML)")
ap.add_argument("--rounds", type=int, default=1)
ap.add_argument("--budget", type=int, default=120, help="replays per search, at most")
ap.add_argument("--accept", choices=["pareto", "worst"], default="pareto",
                help="pareto: raise the worst training fold and lower none by more than "
                     "--tolerance; worst: raise the worst training fold")
ap.add_argument("--tolerance", type=float, default=0.25,
                help="with --accept pareto: the most a training fold may fall, in NAB points")
ap.add_argument("--synthetic", nargs="+", metavar="SET_DIR",
                help="select: synthetic training sets (benches/synthetic/generate.py); a "
                     "combination is admissible only if, on them, it finds at every step at least "
                     "as many target anomalies of each kind as START and (--synthetic-keep all) "
                     "raises no false alarm on the anomaly-free series over START's")
ap.add_argument("--synthetic-kinds", default="shift_down,decline,none",
                help="with --synthetic: the series kinds replayed (`none`: anomaly-free)")
ap.add_argument("--synthetic-keep", choices=["targets", "all"], default="all",
                help="with --synthetic: what a combination must keep at every step, START's "
                     "target anomalies found per kind (`targets`) or those and START's false "
                     "alarms on the anomaly-free series (`all`, the default)")
ap.add_argument("--synthetic-cache", metavar="FILE",
                help="with --synthetic: start from the synthetic figures an earlier run wrote "
                     "(OUT/synthetic-cache.json; keyed by rule text, step and sets, not by "
                     "binary: only with a build that judges those rule files the same)")
ap.add_argument("--hourly", metavar="DIR",
                help="measure: also score the rule file on this NAB-shaped corpus of series that are "
                     "not NAB's (benches/synthetic/to_nab.py), beside the folds: a stand-in for the "
                     "held-out hourly set, not used to choose anything")
ap.add_argument("--keys", default="factor,quantile,deviation,clear_for,smooth,smooth_points,"
                "history,season_strength,level_points,for_points,season_points,burst_factor",
                help="comma list of the keys searched")
a = ap.parse_args()

spec = importlib.util.spec_from_file_location("nab_score", a.scorer)
ns = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ns)
CM = ns.PROFILES["standard"]


def load_dir(d):
    """A NAB-shaped directory: its corpus, each series' row by timestamp, its feed (bytes)."""
    corpus = ns.load_corpus(d, None)
    pos = {k: {x: i for i, x in enumerate(v["t"])} for k, v in corpus.items()}
    feed = subprocess.run(["zcat", f"{d}/feed_all.csv.gz"], capture_output=True,
                          check=True).stdout
    return corpus, pos, feed


CORPUS, POS, FEED = load_dir(a.nab)
FEED_ROWS = FEED.decode().splitlines(keepends=True)


def listed(path):
    return {l.strip() for l in open(path) if l.strip() and not l.startswith("#")}


SLICES = {s: listed(f"{a.nab}/subsets/{s}.txt") for s in ("spike_network", "drop_usage", "normal")}


def make_folds(k):
    """Stratified round-robin: each fold gets its share of every stratum."""
    folds = [set() for _ in range(k)]
    taken = set()
    i = 0
    for stratum in ("normal", "spike_network", "drop_usage", None):
        files = sorted(SLICES[stratum] - taken) if stratum else sorted(set(CORPUS) - taken)
        for f in files:
            folds[i % k].add(f)
            i += 1
        taken |= set(files)
    return folds


FOLDS = make_folds(a.folds)


def feed_for(files):
    keys = {"nab/" + f[:-4] for f in files}
    out = [FEED_ROWS[0]]
    out += [r for r in FEED_ROWS[1:] if r.split(",", 1)[0] in keys]
    return "".join(out).encode()


def replay(text, feed):
    d = tempfile.mkdtemp(prefix="bw-cv-")
    try:
        with open(f"{d}/rules.toml", "w") as f:
            f.write(text)
        p = subprocess.run(
            [a.bandwatch, "-c", "/dev/null", "backtest", "--rules", d, "--input", "-", "--format", "csv"],
            input=feed, capture_output=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr.decode()[-2000:])
            return None
        return p.stdout.decode()
    finally:
        shutil.rmtree(d)


def flags_of(alerts, files, corpus=None, pos=None):
    corpus, pos = corpus or CORPUS, pos or POS
    flags = {k: [0.0] * len(corpus[k]["t"]) for k in files}
    for r in csv.DictReader(io.StringIO(alerts)):
        k = ns.series_key(r["series"], corpus)
        if k in flags:
            i = pos[k].get(ns.ts(r["timestamp"]))
            if i is not None:
                flags[k][i] = 1.0
    return flags


def nab_score(flags, keys, corpus=None):
    """NAB standard score, recall and false alarms per 30 days of `keys` from their flags."""
    corpus = corpus or CORPUS
    keys = sorted(keys)
    if not keys:
        return None
    pts = {k: ns.sweep(corpus[k], flags[k], CM) for k in keys}
    raw, null = ns.score_at(pts, CM, 1.0), ns.score_at(pts, CM, float("inf"))
    windows = sum(len(corpus[k]["wins"]) for k in keys)
    ev = ns.event_metrics({k: corpus[k] for k in keys}, {k: flags[k] for k in keys}, 1.0)
    nab = 100 * (raw - null) / (windows - null) if windows else float("nan")
    return dict(nab=nab, fa=ev["fa_per_30d"], recall=ev["recall"], found=ev["detected"],
                windows=ev["windows"])


def report(flags, files):
    res = {"full": nab_score(flags, files)}
    for s, keys in SLICES.items():
        res[s] = nab_score(flags, set(files) & keys)
    return res


def show(res):
    out = []
    for k, v in res.items():
        if v is None:
            continue
        if k == "normal":
            out.append(f"normal={v['fa']:.2f}FA/30d")
        else:
            out.append(f"{k}={v['nab']:.2f} (recall {v['found']}/{v['windows']}, {v['fa']:.2f}FA/30d)")
    return "  ".join(out)


def emit(rules):
    out = []
    for r in rules:
        out.append("[[rule]]")
        for k, v in r.items():
            if isinstance(v, bool):
                s = "true" if v else "false"
            elif isinstance(v, (str, list)):
                s = json.dumps(v)
            else:
                s = repr(v)
            out.append(f"{k} = {s}")
        out.append("")
    return "\n".join(out)


def candidates(key, v):
    """A few neighbours of the current value; None when the key is not searched."""
    if key == "factor":
        # Above 1 (a factor multiplies or divides the baseline): near 1, steps of 0.01 and 0.02.
        out = {round(v * m, 3) for m in (0.9, 0.95, 1.05, 1.1)} | {round(v + d, 3) for d in (-0.02, -0.01, 0.01, 0.02)}
        near = sorted(out - {v}, key=lambda c: abs(c - v))
        return sorted(c for c in near[:4] if c > 1.0)
    if key == "quantile":
        ladder = [0.0005, 0.001, 0.003, 0.01, 0.03, 0.05] if v < 0.5 else \
            [0.95, 0.98, 0.99, 0.995, 0.999, 0.9995]
        i = min(range(len(ladder)), key=lambda j: abs(ladder[j] - v))
        return [x for x in ladder[max(0, i - 1):i + 2] if x != v]
    if key == "deviation":
        return sorted({round(v * m, 2) for m in (0.67, 0.8, 1.25, 1.5)} - {v})
    ladders = {
        "history": ["7d", "14d", "21d", "28d"],
        "clear_for": ["2h", "4h", "6h", "8h", "12h"],
        "smooth": ["30m", "1h", "2h", "6h", "12h", "18h"],
        "smooth_points": [3, 5, 7, 12],
        "season_strength": [0.1, 0.2, 0.3, 0.4],
        # None: the key left out (no level; confirmation by `for` alone).
        "level_points": [None, 12, 24, 36, 72],
        "for_points": [None, 2, 3, 4],
        "season_points": [None, 3, 5],
        "burst_factor": [None, 1.2, 1.5, 2.0],
    }
    ladder = ladders.get(key)
    if ladder is None or v not in ladder:
        return ladder
    i = ladder.index(v)
    return [x for x in ladder[max(0, i - 1):i + 2] if x != v]


OPTIONAL = {"deviation": 1, "level_points": None, "for_points": None, "season_points": None,
            "burst_factor": None}


def applies(r, k):
    """Whether key `k` may be searched on rule `r` (present, or optional for its kind)."""
    if k in r:
        return True
    if k not in OPTIONAL or r.get("kind") not in ("spike", "drop"):
        return False
    if k in ("level_points", "season_points"):
        return r.get("baseline", "seasonal") == "seasonal" and r.get("compare") != "spread"
    if k == "burst_factor":
        return r.get("compare") != "spread"
    return True


def accepted(best, r):
    """Whether result `r` (worst, per-fold, normal FA) improves on `best` under the rule."""
    if r[0] <= best[0] + 0.05:
        return False
    if a.accept == "pareto":
        return all(new >= old - a.tolerance for new, old in zip(r[1], best[1]))
    return True


def search(start, train_folds, label):
    """Coordinate search on `train_folds` (lists of files); returns the rules kept."""
    train = sorted(set().union(*train_folds))
    feed = feed_for(train)
    normal = set(train) & SLICES["normal"]
    cache = {}

    def evaluate(rules):
        text = emit(rules)
        if text not in cache:
            alerts = replay(text, feed)
            if alerts is None:
                cache[text] = None
            else:
                flags = flags_of(alerts, train)
                per = [nab_score(flags, f)["nab"] for f in train_folds]
                fa = nab_score(flags, normal)["fa"] if normal else 0.0
                cache[text] = (min(per), per, fa)
        return cache[text]

    cur = copy.deepcopy(start)
    best = evaluate(cur)
    print(f"[{label}] start worst={best[0]:.2f} folds={[round(x, 2) for x in best[1]]} "
          f"normal={best[2]:.2f}FA", flush=True)
    keys = a.keys.split(",")
    params = [(i, k) for i, r in enumerate(cur) for k in keys if applies(r, k)]
    spent = 1
    tried = {}
    for rnd in range(a.rounds):
        improved = False
        random.Random(rnd).shuffle(params)
        for i, k in params:
            v = cur[i].get(k, OPTIONAL.get(k))
            for c in candidates(k, v) or []:
                if spent >= a.budget:
                    break
                t = copy.deepcopy(cur)
                if c is None:
                    t[i].pop(k, None)
                else:
                    t[i][k] = c
                r = evaluate(t)
                spent += 1
                tried[k] = tried.get(k, 0) + 1
                if r is None or (r[2] > 0.84 and r[2] > best[2]):
                    continue
                if accepted(best, r):
                    print(f"[{label}] {cur[i]['name']}.{k} {v} -> {c}: worst {best[0]:.2f} -> "
                          f"{r[0]:.2f} folds={[round(x, 2) for x in r[1]]} normal={r[2]:.2f}FA",
                          flush=True)
                    best, cur, v = r, t, c
                    improved = True
        if not improved or spent >= a.budget:
            break
    print(f"[{label}] end worst={best[0]:.2f} after {spent} replays; candidates tried per key: "
          f"{dict(sorted(tried.items()))}", flush=True)
    return cur


def combinations(start, grid):
    """Every combination of the grid's axes applied to START plus the grid's rules, with a
    label; inhibitions name every other rule kept (one incident, one onset)."""
    import itertools
    base = copy.deepcopy(start) + copy.deepcopy(grid.get("rule", []))
    axes = grid.get("axis", [])
    for values in itertools.product(*[ax["values"] for ax in axes]):
        rules = copy.deepcopy(base)
        label = []
        for ax, v in zip(axes, values):
            r = next((x for x in rules if x["name"] == ax["rule"]), None)
            if r is None:
                continue
            off = v in ("", 0, False)
            label.append(f"{ax.get('name', ax['key'])}={'-' if off else v}")
            if ax["key"] == "enabled":
                if off:
                    rules.remove(r)
            elif off:
                r.pop(ax["key"], None)
            else:
                r[ax["key"]] = v
        names = [r["name"] for r in rules]
        for r in rules:
            r["inhibited_by"] = [n for n in names if n != r["name"]]
            # `deviation_cap` acts only where the gate finds no rhythm: without a gate the
            # combination is the same as without the cap (and bandwatch refuses the pair).
            # The same for the keys that only say how the gate or the cap works.
            if "season_strength" not in r:
                r.pop("deviation_cap", None)
                r.pop("strength_points", None)
            if "deviation_cap" not in r:
                r.pop("deviation_cap_below", None)
        yield " ".join(label), rules


SYN_STEPS = ["1h", "5m", "1m", "10s"]  # cheapest first: a failing step ends the check early
SYN_CACHE = {}


def syn_step(text, step):
    """Target anomalies found per kind and the anomaly-free series' false alarms (and judged
    days) at one sampling step, pooled over the --synthetic sets (evaluate.py's scoring)."""
    import hashlib
    key = hashlib.sha1(f"{a.synthetic} {a.synthetic_kinds} {step}\n{text}".encode()).hexdigest()
    if key in SYN_CACHE:
        return SYN_CACHE[key]
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "synthetic"))
    import evaluate as ev
    kinds = a.synthetic_kinds.split(",")
    only = f"^syn/{step}/[^/]+/({'|'.join(kinds)})$"
    d = tempfile.mkdtemp(prefix="bw-cv-syn-")
    out = {k: 0 for k in kinds if k != "none"} | {"targets": 0, "fa": 0, "days": 0.0}
    try:
        with open(f"{d}/rules.toml", "w") as f:
            f.write(text)
        for sd in a.synthetic:
            labels, feed, starts = ev.load(sd, only)
            res = ev.score(labels, ev.replay(a.bandwatch, d, feed), starts)
            for name, lab in labels.items():
                r = res[name]
                for k, an in enumerate(lab["anomalies"]):
                    if ev.target(an):
                        out["targets"] += 1
                        out[an["kind"]] = out.get(an["kind"], 0) + (k in r["found"])
                if lab["kind"] == "none":
                    out["fa"] += len(r["fas"])
                    out["days"] += r["days"]
    finally:
        shutil.rmtree(d)
    SYN_CACHE[key] = out
    if a.out:
        with open(f"{a.out}/synthetic-cache.json", "w") as f:
            json.dump(SYN_CACHE, f)
    return out


def syn_admissible(text, reference, label):
    """Whether a combination keeps, on the synthetic training sets, every step's target
    anomalies of each kind and its anomaly-free false alarms at least as good as START's."""
    if not a.synthetic:
        return True
    for step in SYN_STEPS:
        ref, got = syn_step(reference, step), syn_step(text, step)
        kinds = [k for k in ref if k not in ("targets", "fa", "days")]
        lost = [f"{k} {ref[k]}->{got[k]}" for k in kinds if got[k] < ref[k]]
        if a.synthetic_keep == "all" and got["fa"] > ref["fa"]:
            lost.append(f"false alarms {ref['fa']}->{got['fa']}")
        print(f"    synthetic {step:>3} {label}: " + ", ".join(
            f"{k} {got[k]}" for k in kinds) + f", false alarms {got['fa']} in {got['days']:.0f} d"
            + (f"  NOT ADMISSIBLE ({'; '.join(lost)})" if lost else ""), flush=True)
        if lost:
            return False
    return True


def select(start, files):
    grid = tomllib.load(open(a.grid, "rb"))
    feed = feed_for(files)
    tried = []
    seen = set()
    for label, rules in combinations(start, grid):
        if emit(rules) in seen:
            continue
        seen.add(emit(rules))
        alerts = replay(emit(rules), feed)
        if alerts is None:
            continue
        flags = flags_of(alerts, files)
        per = [nab_score(flags, f)["nab"] for f in FOLDS]
        fa = [nab_score(flags, f & SLICES["normal"])["fa"] for f in FOLDS]
        tried.append((label, rules, flags, per, fa))
        print(f"  {label:40s} folds={[round(x, 2) for x in per]}", flush=True)

    reference = emit(start)
    if a.synthetic_cache:
        SYN_CACHE.update(json.load(open(a.synthetic_cache)))
    if a.synthetic:
        print("synthetic training sets, START:", flush=True)
        syn_admissible(reference, reference, "START")

    def best(train):
        ok = [t for t in tried if max(t[4][j] for j in train) <= 0.84] or tried
        ranked = sorted(ok, key=lambda t: (min(t[3][j] for j in train),
                                           sum(t[3][j] for j in train)), reverse=True)
        # The best on NAB's training folds among those that cost the synthetic set nothing
        # (checked lazily, best first); START itself always qualifies.
        for t in ranked:
            if syn_admissible(emit(t[1]), reference, t[0]):
                return t
        return ranked[0]

    oof = {}
    for i, f in enumerate(FOLDS):
        train = [j for j in range(len(FOLDS)) if j != i]
        label, rules, flags, per, _ = best(train)
        with open(f"{a.out}/fold{i}.toml", "w") as out:
            out.write(emit(rules))
        print(f"fold {i} held out: chose {label} (training folds "
              f"{[round(per[j], 2) for j in train]})\n  fold {i} out-of-fold: "
              f"{show(report(flags, f))}", flush=True)
        oof.update({k: flags[k] for k in f})
    print(f"OUT-OF-FOLD (each fold scored with the combination chosen without it):\n  "
          f"{show(report(oof, files))}", flush=True)
    label, rules, flags, _, _ = best(list(range(len(FOLDS))))
    with open(f"{a.out}/rules.toml", "w") as out:
        out.write(emit(rules))
    print(f"IN-SAMPLE (chosen on every fold: {label}, {a.out}/rules.toml):\n  "
          f"{show(report(flags, files))}", flush=True)


def main():
    files = sorted(CORPUS)
    for i, f in enumerate(FOLDS):
        kinds = {s: len(f & SLICES[s]) for s in SLICES}
        print(f"fold {i}: {len(f)} files, {sum(len(CORPUS[k]['wins']) for k in f)} windows, {kinds}")
    rules = tomllib.load(open(a.rules, "rb"))["rule"]
    if a.mode == "measure":
        alerts = replay(emit(rules), feed_for(files))
        flags = flags_of(alerts, files)
        for i, f in enumerate(FOLDS):
            print(f"fold {i}: {show(report(flags, f))}")
        print(f"all:    {show(report(flags, files))}")
        if a.hourly:
            hcorpus, hpos, hfeed = load_dir(a.hourly)
            hflags = flags_of(replay(emit(rules), hfeed), sorted(hcorpus), hcorpus, hpos)
            r = nab_score(hflags, sorted(hcorpus), hcorpus)
            print(f"hourly: {a.hourly} {r['nab']:.2f} (recall {r['found']}/{r['windows']}, "
                  f"{r['fa']:.2f}FA/30d)")
        return
    os.makedirs(a.out, exist_ok=True)
    if a.mode == "select":
        return select(rules, files)
    oof = {}
    for i, f in enumerate(FOLDS):
        chosen = search(rules, [g for j, g in enumerate(FOLDS) if j != i], f"fold {i} held out")
        with open(f"{a.out}/fold{i}.toml", "w") as out:
            out.write(emit(chosen))
        alerts = replay(emit(chosen), feed_for(f))
        flags = flags_of(alerts, f)
        print(f"fold {i} out-of-fold: {show(report(flags, f))}", flush=True)
        oof.update(flags)
    print(f"OUT-OF-FOLD (each fold scored with parameters chosen without it):\n  "
          f"{show(report(oof, files))}", flush=True)
    final = search(rules, FOLDS, "all folds")
    with open(f"{a.out}/rules.toml", "w") as out:
        out.write(emit(final))
    flags = flags_of(replay(emit(final), feed_for(files)), files)
    print(f"IN-SAMPLE (the file chosen on every fold, {a.out}/rules.toml):\n  "
          f"{show(report(flags, files))}", flush=True)
    for i, f in enumerate(FOLDS):
        print(f"  fold {i} in-sample: {show(report(flags, f))}")


main()

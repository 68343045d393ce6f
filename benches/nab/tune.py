#!/usr/bin/env python3
"""Coordinate search over the parameters of one NAB rule file (how rules.toml was tuned).

    benches/nab/tune.py RULES.toml OUT_DIR [--bandwatch BIN] [--rounds N] [--workers N]
                        [--train FILES.txt] [--test FILES.txt] [--halves A.txt B.txt]
                        [--objective targets|score]

Every candidate rule file is replayed over the whole corpus by `bandwatch backtest --input`
(the daemon's evaluator) and scored with the NAB scorer's own arithmetic (imported from
nab_score.py). One parameter at a time, each of a few candidate values is tried; a change is
kept when it raises the objective: the NAB standard score of the training files plus that of
their `spike_network` files, with penalties when `normal` has more than 0.84 false alarms per
30 days or `drop_usage` scores below 81 (the targets of issue 5). The result is one rule file
for every series, as NAB's detectors have one setting for all files; the labels are read only
to score a candidate, never by bandwatch.

`--halves A.txt B.txt` (two lists that split the corpus) keeps a change only when it lowers the
score of neither half: each half checks the other, so a value that fits one half's files at the
other's cost is refused. `--objective score` keeps the NAB score of the training files alone.
`--train` restricts the objective to the files listed (the others are still replayed, never
scored); `--test` prints the score of the files listed for the start and the result, so that
a search on one half of the corpus can be checked on the other (see README.md). The best
file so far is kept in OUT_DIR/rules.toml; the log goes to standard output.
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
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor

ap = argparse.ArgumentParser()
ap.add_argument("rules")
ap.add_argument("out")
ap.add_argument("--bandwatch", default="target/release/bandwatch")
ap.add_argument("--nab", default=os.environ.get("NAB", "/work/shared/datasets/nab"))
ap.add_argument("--scorer", default=os.environ.get("SCORER", "/work/shared/tools/nab_score.py"))
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--train", help="score only these files (one NAB path per line)")
ap.add_argument("--test", help="report these files' score at the start and the end")
ap.add_argument("--halves", nargs=2, metavar="FILES.txt",
                help="keep a change only when it lowers neither half's score (each half checks the other)")
ap.add_argument("--objective", choices=["targets", "score"], default="targets",
                help="targets (default): the score plus the spike_network score, with the penalties; "
                     "score: the NAB score of the training files alone")
a = ap.parse_args()

spec = importlib.util.spec_from_file_location("nab_score", a.scorer)
ns = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ns)
CM = ns.PROFILES["standard"]
CORPUS = ns.load_corpus(a.nab, None)
POS = {k: {x: i for i, x in enumerate(v["t"])} for k, v in CORPUS.items()}
FEED = subprocess.run(["zcat", f"{a.nab}/feed_all.csv.gz"], capture_output=True, check=True).stdout


def listed(path):
    return {l.strip() for l in open(path) if l.strip() and not l.startswith("#")}


def slices(files):
    files = set(files)
    out = {"all": sorted(files)}
    for name in ("spike_network", "drop_usage", "normal"):
        out[name] = sorted(files & listed(f"{a.nab}/subsets/{name}.txt"))
    return out


TRAIN = slices(listed(a.train) if a.train else CORPUS)
if a.halves:
    TRAIN["half_a"], TRAIN["half_b"] = (sorted(listed(h)) for h in a.halves)
TEST = slices(listed(a.test)) if a.test else None


def replay(text):
    d = tempfile.mkdtemp(prefix="bw-tune-")
    try:
        with open(f"{d}/rules.toml", "w") as f:
            f.write(text)
        p = subprocess.run(
            [a.bandwatch, "-c", "/dev/null", "backtest", "--rules", d, "--input", "-", "--format", "csv"],
            input=FEED, capture_output=True)
        if p.returncode != 0:
            return None
        return p.stdout.decode()
    finally:
        shutil.rmtree(d)


def score(alerts, parts):
    flags = {k: [0.0] * len(v["t"]) for k, v in CORPUS.items()}
    for r in csv.DictReader(io.StringIO(alerts)):
        k = ns.series_key(r["series"], CORPUS)
        i = POS[k].get(ns.ts(r["timestamp"])) if k else None
        if i is not None:
            flags[k][i] = 1.0
    res = {}
    for name, keys in parts.items():
        if not keys:
            continue
        pts = {k: ns.sweep(CORPUS[k], flags[k], CM) for k in keys}
        raw, null = ns.score_at(pts, CM, 1.0), ns.score_at(pts, CM, float("inf"))
        windows = sum(len(CORPUS[k]["wins"]) for k in keys)
        ev = ns.event_metrics({k: CORPUS[k] for k in keys}, {k: flags[k] for k in keys}, 1.0)
        nab = 100 * (raw - null) / (windows - null) if windows else float("nan")
        res[name] = dict(nab=nab, fa=ev["fa_per_30d"], recall=ev["recall"])
    return res


def objective(res):
    if a.objective == "score":
        return res["all"]["nab"]
    j = res["all"]["nab"] + res.get("spike_network", {"nab": 0})["nab"]
    if "normal" in res and res["normal"]["fa"] > 0.84:
        j -= 2 + 10 * (res["normal"]["fa"] - 0.84)
    if "drop_usage" in res and res["drop_usage"]["nab"] < 81:
        j -= 81 - res["drop_usage"]["nab"]
    return j


def show(res):
    return " ".join(
        f"{k}={v['fa']:.2f}FA" if k == "normal" else f"{k}={v['nab']:.2f}" for k, v in res.items())


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


CACHE = {}


def evaluate(rules):
    text = emit(rules)
    if text not in CACHE:
        alerts = replay(text)
        if alerts is None:
            CACHE[text] = (-1e9, None, None)
        else:
            res = score(alerts, TRAIN)
            CACHE[text] = (objective(res), res, alerts)
    return CACHE[text]


def candidates(key, v):
    """A few values around the current one; None when the key is not searched."""
    if key == "factor":
        if v < 1.2:
            return [1.01, 1.02, 1.03, 1.05, 1.08, 1.1, 1.15, 1.2]
        return sorted({round(v * m, 3) for m in (0.8, 0.9, 0.95, 1.05, 1.1, 1.25)})
    if key == "quantile":
        if v > 0.5:
            return [0.98, 0.99, 0.995, 0.997, 0.998, 0.999, 0.9995]
        return [0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.03]
    if key == "deviation":
        if v <= 3:
            return [0.25, 0.5, 1, 1.5, 2, 2.5, 3]
        return sorted({round(v * m, 2) for m in (0.5, 0.7, 0.85, 1.15, 1.3, 1.5)})
    return {
        "history": ["5d", "7d", "10d", "14d", "21d", "28d"],
        "warmup": ["1d", "36h", "2d", "60h", "3d", "4d"],
        "clear_for": ["2h", "3h", "4h", "5h", "6h", "7h", "8h", "10h", "12h"],
        "smooth": ["10m", "15m", "20m", "30m", "45m", "1h", "2h", "3h", "4h", "6h", "8h", "12h",
                   "18h", "24h"],
        "min_periods": [1, 2, 3, 4, 5],
        "unprecedented": [True, False],
        "after_gap": ["evaluate", "skip"],
        "bucket": ["5m", "10m", "15m", "30m", "1h", "2h"],
        "for": ["0s", "5m", "10m", "15m"],
    }.get(key)


# Keys searched even when a rule leaves them out (with the value they default to).
OPTIONAL = {"deviation": 1, "unprecedented": False, "for": "0s", "warmup": "3d"}
KEYS = ["factor", "quantile", "deviation", "history", "warmup", "clear_for", "smooth",
        "min_periods", "unprecedented", "after_gap", "bucket", "for"]

os.makedirs(a.out, exist_ok=True)
cur = tomllib.load(open(a.rules, "rb"))["rule"]
best, res, alerts = evaluate(cur)
start_alerts = alerts
print("start", f"{best:.3f}", show(res), flush=True)
params = [(i, k) for i, r in enumerate(cur) for k in KEYS
          if k in r or (k in OPTIONAL and r.get("kind") in ("spike", "drop"))]
for rnd in range(a.rounds):
    improved = False
    random.Random(rnd).shuffle(params)
    for i, k in params:
        v = cur[i].get(k, OPTIONAL.get(k))
        trials = []
        for c in candidates(k, v) or []:
            if c != v:
                t = copy.deepcopy(cur)
                t[i][k] = c
                trials.append((c, t))
        with ThreadPoolExecutor(a.workers) as ex:
            results = list(ex.map(lambda ct: (ct[0], ct[1]) + evaluate(ct[1]), trials))
        for c, t, j, r, al in results:
            # With --halves, a change that helps one half at the other's cost is fitting files,
            # not anomalies: refused.
            if a.halves and r and any(r[h]["nab"] < res[h]["nab"] - 0.05 for h in ("half_a", "half_b")):
                continue
            if j > best + 0.02:
                best, res, cur, alerts = j, r, t, al
                improved = True
                print(f"round {rnd}: {cur[i]['name']}.{k} {v} -> {c}: {best:.3f} {show(res)}",
                      flush=True)
                with open(f"{a.out}/rules.toml", "w") as f:
                    f.write(emit(cur))
    if not improved:
        break
print("end", f"{best:.3f}", show(res), flush=True)
if TEST:
    print("test files, start:", show(score(start_alerts, TEST)))
    print("test files, end:  ", show(score(alerts, TEST)))

#!/usr/bin/env python3
"""Optuna (Debian's python3-optuna) tuning an rflow search file: the peer rflow's own search is
measured against.

Optuna's TPESampler and SuccessiveHalvingPruner (its asynchronous successive halving) propose and
stop the trials; every trial is trained and scored by `rflow auto trial`, which trains the same
trial directory rung by rung and scores it with the same objective and noise as `rflow auto search`
would — so the two searches differ only in the tuner. The search's [[space]], [asha] rungs and
[objective] come from the search file; the budget is wall-clock time, as `minutes` is in rflow.

Usage: optuna_search.py SEARCH.toml --dir DIR [--seed N] [--minutes M] [--trials N] [--rflow PATH]
Prints one JSON object: best value, its settings, trials run, pruned, failed, wall seconds, and the
best value against time.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import tomllib

import optuna

HERE = os.path.dirname(os.path.abspath(__file__))


def rungs(asha):
    lo, hi, eta = asha.get("min_steps", 100), asha.get("max_steps", 2700), asha.get("eta", 3)
    out, r = [], lo
    while r < hi:
        out.append(r)
        r *= eta
    return out, hi


def suggest(trial, p):
    key = p["key"]
    if "choices" in p:
        return trial.suggest_categorical(key, [c if isinstance(c, str) else json.dumps(c) for c in p["choices"]])
    if p.get("kind") == "int":
        return trial.suggest_int(key, int(p["low"]), int(p["high"]))
    return trial.suggest_float(key, float(p["low"]), float(p["high"]), log=bool(p.get("log", False)))


def make_objective(args, search, log):
    steps, max_steps = rungs(search.get("asha", {}))

    def objective(trial):
        params = {p["key"]: suggest(trial, p) for p in search["space"]}
        cmd = [args.rflow, "auto", "trial", args.search, "--number", str(trial.number), "--params", json.dumps(params),
               "--set", "dir=" + args.dir, "--set", "seed=%d" % args.seed]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        value, reached = float("nan"), 0
        try:
            for line in proc.stdout:
                rung = json.loads(line)
                value, reached = (float("nan") if rung["value"] is None else rung["value"]), rung["steps"]
                if reached >= max_steps:
                    break
                trial.report(value, reached)
                if trial.should_prune():
                    break
                proc.stdin.write("continue\n")
                proc.stdin.flush()
        finally:
            proc.stdin.close()
            rc = proc.wait()
        log.append({"trial": trial.number, "steps": reached, "value": value, "t": time.time() - START, "params": params})
        if rc != 0 or reached == 0:
            raise RuntimeError("rflow auto trial failed (exit %d)" % rc)
        if reached < max_steps:
            raise optuna.TrialPruned()
        return value

    return objective, steps


START = time.time()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("search")
    ap.add_argument("--dir", required=True, help="where the trials' run directories go (rflow's `dir`)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=0, help="start no trial after this long (0: --trials only)")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--rflow", default=os.path.join(HERE, "..", "..", "build", "rflow"))
    args = ap.parse_args()
    with open(args.search, "rb") as f:
        search = tomllib.load(f)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    log = []
    objective, steps = make_objective(args, search, log)
    # The pruner's rungs are rflow's: min_resource = the first rung, the same reduction factor.
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=steps[0], reduction_factor=search.get("asha", {}).get("eta", 3),
                                                    min_early_stopping_rate=0)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=args.seed), pruner=pruner)
    study.optimize(objective, n_trials=args.trials, timeout=60 * args.minutes if args.minutes > 0 else None, catch=(RuntimeError,))
    states = [t.state for t in study.trials]
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = min(done, key=lambda t: t.value) if done else None
    best_so_far, b = [], float("inf")
    for e in log:
        if e["steps"] >= rungs(search.get("asha", {}))[1] and e["value"] == e["value"] and e["value"] < b:
            b = e["value"]
            best_so_far.append({"t": round(e["t"], 1), "value": b})
    print(json.dumps({
        "tuner": "optuna %s TPE + SuccessiveHalving" % optuna.__version__, "seed": args.seed,
        "best": best.value if best else None, "best_params": best.params if best else None,
        "trials": len(states), "complete": len(done),
        "pruned": sum(s == optuna.trial.TrialState.PRUNED for s in states),
        "failed": sum(s == optuna.trial.TrialState.FAIL for s in states),
        "wall_s": round(time.time() - START, 1), "best_so_far": best_so_far}))


if __name__ == "__main__":
    sys.exit(main())

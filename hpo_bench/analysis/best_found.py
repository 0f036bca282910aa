"""Best-found loss: incumbent traces over the budget, final best per run, regret and normalised scores.

Only COMPLETE trials at full fidelity count towards the incumbent: a halving rung's loss on 1/9 of the
trees is not comparable with a full fit, although its cost is counted in the budget.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

RUN_COLUMNS = ["task", "model", "optimizer", "tuned", "seed"]


def _full(trials: pd.DataFrame) -> pd.Series:
    return (trials["state"] == "COMPLETE") & np.isclose(trials["fidelity"], 1.0)


def run_best(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its best full-fidelity loss (NaN if it has none), trials and failures."""
    runs = trials[RUN_COLUMNS + ["metric"]].drop_duplicates(RUN_COLUMNS)
    best = trials[_full(trials)].groupby(RUN_COLUMNS, as_index=False).agg(best_loss=("loss", "min"))
    counts = trials.assign(failed=trials["state"] != "COMPLETE").groupby(RUN_COLUMNS, as_index=False).agg(
        n_trials=("trial_number", "size"), n_failed=("failed", "sum"), used_evals=("fidelity", "sum"))
    return runs.merge(best, on=RUN_COLUMNS, how="left").merge(counts, on=RUN_COLUMNS, how="left")


def _quantile(q: float):
    def f(s: pd.Series) -> float:
        return float(s.quantile(q))

    f.__name__ = f"q{int(q * 100)}"
    return f


def best_found_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per task x model x optimizer x tuned: median, quartiles and IQR of the best-found loss over seeds."""
    per_run = run_best(trials)
    grouped = per_run.groupby(["task", "model", "optimizer", "tuned", "metric"], sort=True)
    table = grouped.agg(
        median=("best_loss", "median"),
        q25=("best_loss", _quantile(0.25)),
        q75=("best_loss", _quantile(0.75)),
        best=("best_loss", "min"),
        worst=("best_loss", "max"),
        n_seeds=("seed", "nunique"),
        n_runs_without_result=("best_loss", lambda s: int(s.isna().sum())),
        n_trials=("n_trials", "sum"),
        n_failed=("n_failed", "sum"),
    ).reset_index()
    table.insert(table.columns.get_loc("q75") + 1, "iqr", table["q75"] - table["q25"])
    return table


def incumbent_traces(trials: pd.DataFrame) -> pd.DataFrame:
    """The incumbent of every run after each whole unit of budget (full-fidelity evaluations).

    Row (run, budget_evals = b) holds the best full-fidelity loss among the trials whose cumulative
    cost is at most b; NaN while there is none yet. b runs from 1 to the run's budget rounded up.
    """
    rows = []
    for key, run in trials.sort_values("trial_number").groupby(RUN_COLUMNS, sort=True):
        cost = run["fidelity"].cumsum().to_numpy()
        loss = np.where(_full(run).to_numpy(), run["loss"].to_numpy(dtype=float), np.nan)
        running = np.fmin.accumulate(np.where(np.isnan(loss), np.inf, loss))
        running[np.isinf(running)] = np.nan
        metric = run["metric"].iloc[0]
        for b in range(1, math.ceil(cost[-1] - 1e-9) + 1):
            upto = np.searchsorted(cost, b + 1e-9, side="right")  # trials with cumulative cost <= b
            rows.append((*key, metric, b, running[upto - 1] if upto else np.nan))
    return pd.DataFrame(rows, columns=RUN_COLUMNS + ["metric", "budget_evals", "best_loss"])


def reference_losses(trials: pd.DataFrame, frozen: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per task x model: the best and worst full-fidelity loss seen, the yardsticks of regret.

    With `frozen` (a table of task, model, best_loss, worst_loss from an earlier analysis), those values
    are used instead, so scores do not move when optimizers are added to a store.
    """
    full = trials[_full(trials)]
    ref = full.groupby(["task", "model"], as_index=False).agg(best_loss=("loss", "min"), worst_loss=("loss", "max"))
    if frozen is not None:
        frozen = frozen[["task", "model", "best_loss", "worst_loss"]]
        ref = pd.concat([frozen, ref[~ref.set_index(["task", "model"]).index.isin(
            frozen.set_index(["task", "model"]).index)]], ignore_index=True)
        ref["source"] = np.where(ref.index < len(frozen), "frozen", "store")
    else:
        ref["source"] = "store"
    return ref


def regret_traces(traces: pd.DataFrame, reference: pd.DataFrame, baseline: str = "random") -> pd.DataFrame:
    """Adds regret, normalised regret and Bayesmark's normalised score to incumbent traces.

    - regret = best - reference best of the task and model;
    - normalised regret = regret / (reference worst - reference best), in [0, 1] for the store's own
      reference (0: the best seen; 1: the worst loss any trial had);
    - score = 100 * (1 - regret / (mean incumbent of `baseline` runs at the same budget - reference
      best)), Bayesmark's normalised score: 100 is the best seen, 0 is as good as random search on
      average, negative is worse. NaN where the experiment has no `baseline` optimizer.
    """
    out = traces.merge(reference[["task", "model", "best_loss", "worst_loss"]].rename(
        columns={"best_loss": "ref_best", "worst_loss": "ref_worst"}), on=["task", "model"], how="left")
    out["regret"] = out["best_loss"] - out["ref_best"]
    span = (out["ref_worst"] - out["ref_best"]).where(lambda s: s > 0)
    out["normalized_regret"] = out["regret"] / span
    base = traces[traces["optimizer"] == baseline].groupby(
        ["task", "model", "tuned", "budget_evals"], as_index=False).agg(baseline_mean=("best_loss", "mean"))
    out = out.merge(base, on=["task", "model", "tuned", "budget_evals"], how="left")
    gap = (out["baseline_mean"] - out["ref_best"]).where(lambda s: s > 0)
    out["score"] = 100.0 * (1.0 - out["regret"] / gap)
    return out.drop(columns=["baseline_mean"])

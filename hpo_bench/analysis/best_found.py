"""Best-found loss: incumbent traces over the budget, final best per run, regret and normalised scores.

Only COMPLETE trials at full fidelity count towards the incumbent: a halving rung's loss on 1/9 of the
trees is not comparable with a full fit, although its cost is counted in the budget.

Every number is a validation loss (the mean over the inner CV folds the optimizer was scored on) unless
its column says test: the held-out test score of the same incumbent, refitted on the outer training part
(experiments with test = "holdout"). `metric_view` chooses the metric: the incumbent of a run is the
first trial with the lowest `select_loss`, which is the reported metric for non-adaptive optimizers
(grid, random, Sobol: their trials never depend on the losses) and the optimised metric for the others.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.errors import HpoBenchError

RUN_COLUMNS = ["task", "model", "optimizer", "tuned", "seed"]
FACTOR_COLUMNS = ["split_rep", "model_rep", "optimizer_rep"]
# Stores made before runs recorded whether their optimizer adapts to the losses: the built-in strategies
# that do not (analysis never imports the optimizers, so it cannot ask them).
_NON_ADAPTIVE_TYPES = ("grid", "random", "sobol")


def is_adaptive(trials: pd.DataFrame) -> pd.Series:
    """Per trial: did its run's optimizer adapt to the losses (as stored per run, else by its type)?"""
    if "adaptive" in trials and trials["adaptive"].notna().all():
        return trials["adaptive"].astype(bool)
    return ~trials["optimizer_type"].isin(_NON_ADAPTIVE_TYPES)


def _full(trials: pd.DataFrame) -> pd.Series:
    return (trials["state"] == "COMPLETE") & np.isclose(trials["fidelity"], 1.0)


def _metric_values(column: pd.Series, metric: str, reduce) -> pd.Series:
    def value(text: object) -> float:
        if not isinstance(text, str):
            return np.nan
        found = json.loads(text).get(metric)
        return np.nan if found is None or (isinstance(found, list) and not found) else float(reduce(found))

    return column.map(value).astype(float)


def metric_view(trials: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Trials with `loss` (validation), `test_loss` and `select_loss` under `metric` (default: the optimised one).

    `metric` becomes the trials' metric column and `selected_by` says which metric chose the incumbent.
    Raises HpoBenchError if the metric was not recorded (a store made before every metric was).
    """
    if "select_loss" in trials and (metric is None or (trials["metric"] == metric).all()):
        return trials  # already a view under this metric (the report makes one and passes it to analyze)
    optimised = trials["metric"]
    metric = metric or str(optimised.iloc[0])
    out = trials.copy()
    same = (optimised == metric).to_numpy()
    loss = out["loss"].astype(float)
    if not same.all():
        recorded = (_metric_values(out["fold_metrics"], metric, np.mean) if "fold_metrics" in out
                    else pd.Series(np.nan, index=out.index))
        missing = ~same & (out["state"] == "COMPLETE").to_numpy() & recorded.isna().to_numpy()
        if missing.any():
            raise HpoBenchError(f"metric {metric!r}: not recorded for {int(missing.sum())} complete trials of this "
                                f"store (optimised: {sorted(optimised.unique())}); stores made before hpo-bench "
                                "recorded every metric per fold hold the optimised one only")
        loss = loss.where(same, recorded)
    chosen_by_optimised = is_adaptive(out).to_numpy() & ~same
    out["select_loss"] = np.where(chosen_by_optimised, out["loss"].astype(float), loss)
    out["selected_by"] = np.where(chosen_by_optimised, optimised, metric)
    out["loss"] = loss
    out["metric"] = metric
    if "test_metrics" in out:
        test = _metric_values(out["test_metrics"], metric, lambda v: v)
        out["test_loss"] = test.where(out["test_state"] == "COMPLETE")
    else:
        out["test_loss"] = np.nan
    return out


def _select(trials: pd.DataFrame) -> pd.Series:
    return trials["select_loss"] if "select_loss" in trials else trials["loss"]


def run_best(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its incumbent's validation loss (NaN if it has none) and test loss, trials, failures.

    The incumbent is the first full-fidelity trial with the lowest selection loss (see `metric_view`).
    """
    extra = [c for c in ["metric", "selected_by", *FACTOR_COLUMNS] if c in trials]
    runs = trials[RUN_COLUMNS + extra].drop_duplicates(RUN_COLUMNS)
    full = trials[_full(trials)].assign(_select=_select(trials))
    full = full[full["_select"].notna()].sort_values("trial_number", kind="stable")
    first = full.loc[full.groupby(RUN_COLUMNS, sort=False)["_select"].idxmin()]
    test = first["test_loss"] if "test_loss" in first else np.nan
    best = first[RUN_COLUMNS].assign(best_loss=first["loss"].to_numpy(dtype=float), best_test_loss=test)
    counts = trials.assign(failed=trials["state"] != "COMPLETE").groupby(RUN_COLUMNS, as_index=False).agg(
        n_trials=("trial_number", "size"), n_failed=("failed", "sum"), used_evals=("fidelity", "sum"))
    return runs.merge(best, on=RUN_COLUMNS, how="left").merge(counts, on=RUN_COLUMNS, how="left")


def _quantile(q: float):
    def f(s: pd.Series) -> float:
        return float(s.quantile(q))

    f.__name__ = f"q{int(q * 100)}"
    return f


def best_found_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per task x model x optimizer x tuned: median, quartiles and IQR of the best-found loss over seeds.

    median .. worst are validation losses (inner CV); with a held-out test, test_median, test_q25,
    test_q75 and n_seeds_test are the same incumbents' test losses.
    """
    per_run = run_best(trials)
    keys = ["task", "model", "optimizer", "tuned", "metric"] + (["selected_by"] if "selected_by" in per_run else [])
    grouped = per_run.groupby(keys, sort=True)
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
    if per_run["best_test_loss"].notna().any():
        test = grouped.agg(test_median=("best_test_loss", "median"), test_q25=("best_test_loss", _quantile(0.25)),
                           test_q75=("best_test_loss", _quantile(0.75)),
                           n_seeds_test=("best_test_loss", "count")).reset_index()
        table = table.merge(test, on=keys, how="left")
    return table


def incumbent_traces(trials: pd.DataFrame) -> pd.DataFrame:
    """The incumbent of every run after each whole unit of budget (full-fidelity evaluations).

    Row (run, budget_evals = b) holds the validation loss (best_loss) and the test loss (test_loss) of
    the incumbent among the trials whose cumulative cost is at most b; NaN while there is none yet.
    The incumbent changes when a trial's selection loss is strictly below every earlier one. b runs from
    1 to the run's budget rounded up.
    """
    # One pass over whole columns, then numpy per run: the same values as a loop over the runs' frames,
    # which took a second of the quickstart's report (it is made once per recorded metric).
    ordered = trials.sort_values("trial_number", kind="stable")
    select = np.where(_full(ordered).to_numpy(), _select(ordered).to_numpy(dtype=float), np.nan)
    fidelity = ordered["fidelity"].to_numpy(dtype=float)
    loss = np.append(ordered["loss"].to_numpy(dtype=float), np.nan)  # index -1: no incumbent yet
    test = np.append(ordered["test_loss"].to_numpy(dtype=float) if "test_loss" in ordered
                     else np.full(len(ordered), np.nan), np.nan)
    metrics = ordered["metric"].to_numpy()
    columns: dict[str, list] = {name: [] for name in [*RUN_COLUMNS, "metric", "budget_evals", "best_loss",
                                                      "test_loss"]}
    for key, idx in ordered.groupby(RUN_COLUMNS, sort=True).indices.items():
        cost = np.cumsum(fidelity[idx])
        values = select[idx]
        # the incumbent changes when a trial's selection loss is strictly below every earlier one; NaN
        # (failed and partial-fidelity trials) never leads
        before = np.concatenate(([np.inf], np.fmin.accumulate(np.where(np.isnan(values), np.inf, values))[:-1]))
        leads = np.where(values < before, np.arange(len(idx)), -1)
        incumbent = np.maximum.accumulate(leads)
        budgets = np.arange(1, math.ceil(cost[-1] - 1e-9) + 1)
        upto = np.searchsorted(cost, budgets + 1e-9, side="right")  # trials with cumulative cost <= b
        at = np.where(upto > 0, incumbent[np.maximum(upto - 1, 0)], -1)
        at = np.where(at >= 0, idx[np.maximum(at, 0)], -1)  # positions in `ordered`, -1 for none
        for name, value in zip(RUN_COLUMNS, key, strict=True):
            columns[name] += [value] * len(budgets)
        columns["metric"] += [metrics[idx[0]]] * len(budgets)
        columns["budget_evals"] += budgets.tolist()
        columns["best_loss"] += loss[at].tolist()
        columns["test_loss"] += test[at].tolist()
    return pd.DataFrame(columns)


def optimism_table(traces: pd.DataFrame) -> pd.DataFrame:
    """Validation optimism per model x optimizer x tuned and budget: test loss - validation loss.

    Both losses are the same incumbent's: its inner-CV loss, which chose it, and its held-out test loss
    after a refit on the outer training part. Positive values mean the validation loss flattered the
    incumbent; the search's selection on the validation folds makes that expected, more so with budget.
    """
    t = traces[traces["test_loss"].notna() & traces["best_loss"].notna()]
    if t.empty:
        raise NotApplicable('no incumbent has a held-out test score (set test = "holdout")')
    t = t.assign(optimism=t["test_loss"] - t["best_loss"])
    return t.groupby(["model", "optimizer", "tuned", "metric", "budget_evals"], as_index=False).agg(
        validation_mean=("best_loss", "mean"), test_mean=("test_loss", "mean"), optimism_mean=("optimism", "mean"),
        optimism_median=("optimism", "median"), optimism_q25=("optimism", _quantile(0.25)),
        optimism_q75=("optimism", _quantile(0.75)), n_runs=("optimism", "size"), n_tasks=("task", "nunique"),
        n_seeds=("seed", "nunique"))


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


def regret_traces(traces: pd.DataFrame, reference: pd.DataFrame, baseline: str = "random",
                  at: str = "budget_evals") -> pd.DataFrame:
    """Adds regret, normalised regret and Bayesmark's normalised score to incumbent traces.

    `at`: the traces' budget column, "budget_evals" (incumbent_traces) or "seconds" (anytime.time_traces).

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
        ["task", "model", "tuned", at], as_index=False).agg(baseline_mean=("best_loss", "mean"))
    out = out.merge(base, on=["task", "model", "tuned", at], how="left")
    gap = (out["baseline_mean"] - out["ref_best"]).where(lambda s: s > 0)
    out["score"] = 100.0 * (1.0 - out["regret"] / gap)
    return out.drop(columns=["baseline_mean"])

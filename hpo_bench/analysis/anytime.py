"""The incumbent over recorded time: anytime curves for comparisons under equal time, not equal evaluations.

A trial's time is what a time budget charges for it (hpo_bench.trial.charged_seconds): its fit and
predict times over all folds plus the optimizer's own ask and tell time, as recorded. Cumulated in trial
order, that is a run's time axis; it leaves out the harness (processes, the store) and how many workers
ran at once, so runs from sittings on different machines or with different worker counts compare. The
incumbent is chosen as in best_found (full-fidelity COMPLETE trials, by `select_loss`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hpo_bench.analysis.best_found import RUN_COLUMNS, _full, _select
from hpo_bench.analysis.not_applicable import NotApplicable

TIME_POINTS = 40  # log-spaced times per trace: enough for a smooth median curve, a small CSV


def trial_seconds(trials: pd.DataFrame) -> pd.Series:
    """Per trial, the recorded seconds a time budget charges (trial.charged_seconds, on the table)."""
    return (trials["fit_time_s"].fillna(0.0) + trials["predict_time_s"].fillna(0.0)
            + trials["optimizer_time_s"].fillna(0.0))


def time_traces(trials: pd.DataFrame, n_points: int = TIME_POINTS) -> pd.DataFrame:
    """The incumbent of every run at `n_points` log-spaced times shared by all runs.

    Row (run, seconds = t): the validation loss (best_loss) and test loss (test_loss, NaN without a
    held-out test) of the incumbent among the trials whose cumulative recorded time is at most t; NaN
    while there is none. The times run from the shortest first trial of any run to the longest run. A
    run that ended before t (its evaluation budget spent) keeps its last incumbent: under equal time it
    has nothing more to show. Raises NotApplicable for trials without a recorded optimizer time (stores
    made before time budgets), whose time axis would leave the optimizers' own time out.
    """
    if "optimizer_time_s" not in trials or trials["optimizer_time_s"].isna().any():
        raise NotApplicable("the store records no optimizer time for some trials (made before time budgets), "
                            "so their time axis would leave the optimizers' own ask and tell time out")
    trials = trials.sort_values("trial_number", kind="stable")
    trials = trials.assign(_seconds=trial_seconds(trials).to_numpy())
    runs = list(trials.groupby(RUN_COLUMNS, sort=True))
    cumulative = {key: run["_seconds"].cumsum().to_numpy() for key, run in runs}
    first = min((c[0] for c in cumulative.values() if c[0] > 0), default=None)
    last = max(c[-1] for c in cumulative.values())
    if first is None or last <= first:
        raise NotApplicable("no run recorded any time")
    grid = np.geomspace(first, last, n_points)
    with_test = "test_loss" in trials
    rows = []
    for key, run in runs:
        select = np.where(_full(run).to_numpy(), _select(run).to_numpy(dtype=float), np.nan)
        # The index of the incumbent after each trial, -1 before the first: a running argmin that keeps
        # the first of equal losses (NaN never leads).
        best = np.fmin.accumulate(np.where(np.isnan(select), np.inf, select))
        improved = np.r_[select[0] < np.inf, best[1:] < best[:-1]] & ~np.isnan(select)
        incumbent = np.maximum.accumulate(np.where(improved, np.arange(len(run)), -1))
        loss = run["loss"].to_numpy(dtype=float)
        test = run["test_loss"].to_numpy(dtype=float) if with_test else np.full(len(run), np.nan)
        upto = np.searchsorted(cumulative[key], grid * (1 + 1e-12), side="right")  # trials done by each time
        at = np.where(upto > 0, incumbent[np.maximum(upto - 1, 0)], -1)
        found = at >= 0
        rows.append(pd.DataFrame({
            **dict(zip(RUN_COLUMNS, key, strict=True)), "metric": run["metric"].iloc[0], "seconds": grid,
            "best_loss": np.where(found, loss[np.maximum(at, 0)], np.nan),
            "test_loss": np.where(found, test[np.maximum(at, 0)], np.nan)}))
    return pd.concat(rows, ignore_index=True)

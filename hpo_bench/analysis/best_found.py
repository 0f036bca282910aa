"""Best-found loss: the best full-fidelity loss of each run, summarised over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

RUN_COLUMNS = ["task", "model", "optimizer", "seed"]


def run_best(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per run: the lowest loss among its COMPLETE full-fidelity trials (NaN if it has none).

    Lower-fidelity losses (halving rungs) are left out: they are not comparable with full fits.
    """
    runs = trials[RUN_COLUMNS + ["metric"]].drop_duplicates(RUN_COLUMNS)
    ok = trials[(trials["state"] == "COMPLETE") & np.isclose(trials["fidelity"], 1.0)]
    best = ok.groupby(RUN_COLUMNS, as_index=False).agg(best_loss=("loss", "min"))
    counts = trials.assign(failed=trials["state"] != "COMPLETE").groupby(RUN_COLUMNS, as_index=False).agg(
        n_trials=("trial_number", "size"), n_failed=("failed", "sum"))
    return runs.merge(best, on=RUN_COLUMNS, how="left").merge(counts, on=RUN_COLUMNS, how="left")


def best_found_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per task x model x optimizer: median, quartiles and IQR of the best-found loss over seeds."""
    per_run = run_best(trials)
    grouped = per_run.groupby(["task", "model", "optimizer", "metric"], sort=True)
    table = grouped.agg(
        median=("best_loss", "median"),
        q25=("best_loss", lambda s: s.quantile(0.25)),
        q75=("best_loss", lambda s: s.quantile(0.75)),
        best=("best_loss", "min"),
        worst=("best_loss", "max"),
        n_seeds=("seed", "nunique"),
        n_runs_without_result=("best_loss", lambda s: int(s.isna().sum())),
        n_trials=("n_trials", "sum"),
        n_failed=("n_failed", "sum"),
    ).reset_index()
    table.insert(table.columns.get_loc("q75") + 1, "iqr", table["q75"] - table["q25"])
    return table

"""Cost per configuration and dataset of a pilot store (benchmarks/tunability-probst2019-pilot.toml):
wall seconds of each evaluation (submitted to finished: its CV folds, fits and predictions), per model x task.
Reads a store or its pack (the committed one: results/tunability-probst2019-pilot/).

    python benchmarks/pilot_cost.py results/tunability-probst2019-pilot
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pandas as pd


def cost(path: str) -> pd.DataFrame:
    if Path(path).is_dir():  # a pack: the store's tables as Parquet
        trials = pd.read_parquet(Path(path) / "trials.parquet").merge(
            pd.read_parquet(Path(path) / "runs.parquet")[["run_id", "task", "model"]], on="run_id")
    else:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        trials = pd.read_sql("SELECT r.task, r.model, t.* FROM trials t JOIN runs r USING (run_id)", db)
    trials["wall_s"] = trials["finished_at"] - trials["submitted_at"]
    return (trials.groupby(["model", "task"])
            .agg(n=("wall_s", "size"), n_timeout=("state", lambda s: int((s == "TIMEOUT").sum())),
                 median_s=("wall_s", "median"), max_s=("wall_s", "max"), fit_s=("fit_time_s", "median"))
            .round(1).reset_index())


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    print(cost(sys.argv[1]).to_string(index=False))

"""Robustness across seeds: spread and tail of the best-found loss, and how often A beats B."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from hpo_bench.analysis.best_found import run_best
from hpo_bench.analysis.not_applicable import NotApplicable

GROUP = ["task", "model", "optimizer", "tuned"]


def cvar(values: np.ndarray, alpha: float = 0.1) -> float:
    """Mean of the worst ceil(alpha * n) values (losses: the largest), the conditional value at risk."""
    values = np.sort(np.asarray(values, dtype=float))[::-1]
    return float(values[: max(1, math.ceil(alpha * len(values)))].mean())


def robustness_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per task x model x optimizer x tuned: spread of the best-found loss over optimizer seeds."""
    best = run_best(trials).dropna(subset=["best_loss"])
    rows = []
    for key, group in best.groupby(GROUP, sort=True):
        v = group["best_loss"].to_numpy(dtype=float)
        rows.append({**dict(zip(GROUP, key, strict=True)), "n_seeds": len(v), "mean": v.mean(),
                     "std": v.std(ddof=1) if len(v) > 1 else np.nan,
                     "iqr": np.quantile(v, 0.75) - np.quantile(v, 0.25), "best": v.min(), "worst": v.max(),
                     "cvar10": cvar(v, 0.1)})
    return pd.DataFrame(rows)


def beat_probabilities(trials: pd.DataFrame) -> pd.DataFrame:
    """P(A beats B): over tasks, the share of seed pairs (a, b) where A's best loss is lower (ties 1/2).

    Each task x model counts once (mean over tasks), so a task with more seeds does not weigh more.
    """
    best = run_best(trials)
    best = best[best["tuned"] == "all"].dropna(subset=["best_loss"])
    optimizers = sorted(best["optimizer"].unique())
    if len(optimizers) < 2:
        raise NotApplicable("fewer than two optimizers")
    rows = []
    for a, b in itertools.permutations(optimizers, 2):
        shares = []
        for _, group in best.groupby(["task", "model"]):
            la = group.loc[group["optimizer"] == a, "best_loss"].to_numpy()
            lb = group.loc[group["optimizer"] == b, "best_loss"].to_numpy()
            if len(la) and len(lb):
                diff = la[:, None] - lb[None, :]
                shares.append(np.mean(diff < 0) + 0.5 * np.mean(diff == 0))
        if shares:
            rows.append({"optimizer": a, "versus": b, "p_beats": float(np.mean(shares)), "n_tasks": len(shares)})
    return pd.DataFrame(rows)

"""Comparing optimizers: average rank over the budget, Friedman + Nemenyi, pairwise Wilcoxon with Holm.

Blocks are task x model x seed: each optimizer's run of the same repetition on the same task and model
(common random numbers: the same CV splits and model seeds) forms one block. Lower loss ranks first,
ties share the average rank.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from hpo_bench.analysis.best_found import run_best
from hpo_bench.analysis.not_applicable import NotApplicable

BLOCK = ["task", "model", "seed"]


def rank_traces(traces: pd.DataFrame) -> pd.DataFrame:
    """Average rank of each optimizer at each budget step, over blocks that have every optimizer."""
    full = traces[traces["tuned"] == "all"].dropna(subset=["best_loss"])
    optimizers = full["optimizer"].nunique()
    if optimizers < 2:
        raise NotApplicable("fewer than two optimizers")
    complete = full.groupby(BLOCK + ["budget_evals"])["optimizer"].transform("nunique") == optimizers
    full = full[complete].copy()
    full["rank"] = full.groupby(BLOCK + ["budget_evals"])["best_loss"].rank(method="average")
    return full.groupby(["optimizer", "budget_evals"], as_index=False).agg(
        mean_rank=("rank", "mean"), n_blocks=("rank", "size"))


def final_matrix(trials: pd.DataFrame) -> pd.DataFrame:
    """Blocks x optimizers of the final best-found loss (fully tuned runs; blocks missing one dropped)."""
    best = run_best(trials)
    best = best[best["tuned"] == "all"]
    matrix = best.pivot_table(index=BLOCK, columns="optimizer", values="best_loss", aggfunc="first")
    return matrix.dropna()


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (written here: scipy.stats offers only Benjamini-Hochberg)."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks: q_alpha * sqrt(k (k + 1) / (6 n)) (Demsar 2006)."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n)))


def statistical_tests(trials: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Friedman over all optimizers, the Nemenyi CD, and pairwise Wilcoxon signed-rank tests (Holm)."""
    matrix = final_matrix(trials)
    k, n = matrix.shape[1], matrix.shape[0]
    if k < 2 or n < 2:
        raise NotApplicable(f"{k} optimizer(s) on {n} complete block(s): need at least 2 of each")
    ranks = matrix.rank(axis=1, method="average").mean()
    rows = []
    if k >= 3:
        stat, p = stats.friedmanchisquare(*[matrix[c].to_numpy() for c in matrix.columns])
        rows.append({"test": "friedman", "a": "all", "b": "", "statistic": stat, "p_value": p, "p_holm": np.nan,
                     "n_blocks": n, "critical_difference": nemenyi_cd(k, n, alpha)})
    pairs = list(itertools.combinations(matrix.columns, 2))
    raw = []
    for a, b in pairs:
        diff = matrix[a] - matrix[b]
        if np.allclose(diff, 0):
            raw.append((np.nan, 1.0))
            continue
        result = stats.wilcoxon(matrix[a], matrix[b], zero_method="zsplit")
        raw.append((result.statistic, result.pvalue))
    adjusted = holm([p for _, p in raw])
    for (a, b), (stat, p), p_adj in zip(pairs, raw, adjusted, strict=True):
        rows.append({"test": "wilcoxon", "a": a, "b": b, "statistic": stat, "p_value": p, "p_holm": p_adj,
                     "n_blocks": n, "critical_difference": np.nan,
                     "mean_rank_a": ranks[a], "mean_rank_b": ranks[b],
                     "median_diff": float((matrix[a] - matrix[b]).median())})
    return pd.DataFrame(rows)

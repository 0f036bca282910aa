"""Which seed moves the best-found loss: a variance decomposition over crossed seed factors.

A run's best-found loss changes when the data split, the model's random seed or the optimizer's seed
changes. Bouthillier et al. (2021), "Accounting for Variance in Machine Learning Benchmarks" (MLSys 2021),
treat these as separate sources of variation of a benchmark (data sampling, model initialisation,
hyperparameter-optimisation seed) and measure the variance each one induces. Reseeding only the optimizer
measures one source and says nothing about the others, so a comparison that ignores them can be overconfident.

They vary one source at a time. Here an experiment crosses the three factors in a full factorial design
(split_rep x model_rep x optimizer_rep, each combination run once), so one experiment estimates every
component at once. For each task x model x optimizer x tuned cell we fit a random-effects ANOVA with
main effects only,

    y_ijl = mu + A_i + B_j + C_l + E_ijl,   A ~ N(0, s2_A), B ~ N(0, s2_B), C ~ N(0, s2_C), E ~ N(0, s2_E),

with the interactions pooled into the residual (there is no replication to separate them), and estimate the
variance components by the method of moments: with a, b, c levels and N = a*b*c runs, E[MS_A] = s2_E + b*c*s2_A
and E[MS_E] = s2_E, so s2_A = (MS_A - MS_E) / (b*c), likewise for B and C, and s2_E = MS_E. These estimates
are unbiased under the additive model; when interactions exist the residual absorbs them and the main
components are approximate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hpo_bench.analysis.not_applicable import NotApplicable

CELL = ["task", "model", "optimizer", "tuned"]
# Seed factor column -> component name in the output.
FACTORS = {"split_rep": "split", "model_rep": "model seed", "optimizer_rep": "optimizer seed"}
RESIDUAL = "residual"
COMPONENTS = [*FACTORS.values(), RESIDUAL]
METHOD = "random-effects ANOVA, main effects, method of moments (Bouthillier et al. 2021 sources of variation)"
NEEDS = 'needs seed_design = "crossed" (split_rep, model_rep and optimizer_rep, at least one with >= 2 levels)'
COLUMNS = [*CELL, "component", "variance", "variance_raw", "share", "std", "n_levels", "n_runs", "method"]


def variance_decomposition(per_run: pd.DataFrame, value: str = "best_loss") -> pd.DataFrame:
    """Per task x model x optimizer x tuned cell and component: the variance of `value` it accounts for.

    `per_run` has one row per run with the columns task, model, optimizer, tuned, split_rep, model_rep,
    optimizer_rep and `value`. Rows whose `value` (or a seed factor) is NaN are dropped first; a cell that
    is then not a complete balanced factorial (every combination of its levels exactly once) is left out,
    and so is a cell where no factor varies.

    Components are "split", "model seed", "optimizer seed" and "residual". A factor with a single level in a
    cell is not in that cell's model: its variance is NaN and the formulas use the varied factors only (one
    varied factor is one-way ANOVA). With one varied factor and no replication the residual has no degrees
    of freedom (df_E = 0): it is NaN, and the factor's variance is MS / (product of the other levels), which
    then also contains the residual.

    Method-of-moments estimates can come out negative (a factor whose mean square is below the residual's);
    `variance` sets those to 0, `variance_raw` keeps the unclipped value. `share` is the variance over the
    sum of the cell's non-NaN variances (NaN if that sum is 0), `std` its square root, `n_levels` the
    factor's levels in the cell (for the residual, df_E), `n_runs` the cell's rows.

    Raises NotApplicable if the table has no seed factor columns, if no cell varies any factor, or if no
    cell that does is a complete balanced factorial.
    """
    missing = [c for c in FACTORS if c not in per_run.columns]
    if missing:
        raise NotApplicable(f"the runs have no {', '.join(missing)} column(s); the variance decomposition {NEEDS}")
    factors = list(FACTORS)
    data = per_run.dropna(subset=[value, *factors]).reset_index(drop=True)
    if data.empty:
        raise NotApplicable(f"no run has both a {value} and recorded seed factors; the variance decomposition {NEEDS}")

    cell = data.groupby(CELL, dropna=False, sort=True).ngroup()
    by_cell = data.groupby(cell)
    cells = data.assign(_cell=cell).drop_duplicates("_cell").set_index("_cell")[CELL].sort_index()
    n = by_cell.size().to_numpy()
    levels = {f: by_cell[f].nunique().to_numpy() for f in factors}

    varied = np.logical_or.reduce([levels[f] >= 2 for f in factors])
    if not varied.any():
        raise NotApplicable(f"no cell varies split_rep, model_rep or optimizer_rep; the variance decomposition {NEEDS}")
    # Complete and balanced: no combination twice and as many rows as combinations, hence every one once.
    duplicates = data.duplicated([*CELL, *factors]).groupby(cell).sum().to_numpy()
    complete = (duplicates == 0) & (n == np.prod([levels[f] for f in factors], axis=0))
    keep = varied & complete
    if not keep.any():
        raise NotApplicable("no cell that varies a seed factor is a complete balanced factorial of split_rep x "
                            f"model_rep x optimizer_rep after dropping runs without a {value}; the variance "
                            f"decomposition {NEEDS}")

    # Balanced main effects are orthogonal: each effect is its group mean minus the grand mean, and the
    # residual what is left. Summing squares over rows weights each group mean by its size (b*c for A).
    # A single-level factor's group mean is the grand mean, so it drops out of the model by itself.
    y = data[value].astype(float)
    grand = by_cell[value].transform("mean")
    residual = y - grand
    ss = {}
    for f in factors:
        effect = data.groupby([cell, data[f]])[value].transform("mean") - grand
        residual = residual - effect
        ss[f] = (effect**2).groupby(cell).sum().to_numpy()
    ss_e = (residual**2).groupby(cell).sum().to_numpy()  # from the residuals, not SS_T - sum SS: no cancellation

    df_e = n - 1 - sum(levels[f] - 1 for f in factors)
    with np.errstate(divide="ignore", invalid="ignore"):
        ms_e = np.where(df_e > 0, ss_e / np.maximum(df_e, 1), np.nan)
        parts = []
        for f, name in FACTORS.items():
            ms = ss[f] / (levels[f] - 1)
            # df_E = 0: nothing to subtract, the factor's mean square also holds the residual.
            raw = (ms - np.where(df_e > 0, ms_e, 0.0)) / (n / levels[f])
            parts.append((name, np.where(levels[f] >= 2, raw, np.nan), levels[f]))
        parts.append((RESIDUAL, ms_e, df_e))

    rows = [cells.assign(component=name, variance_raw=raw, n_levels=n_levels, n_runs=n, _order=i)[keep]
            for i, (name, raw, n_levels) in enumerate(parts)]
    out = pd.concat(rows).rename_axis("_cell").sort_values(["_cell", "_order"], kind="stable")
    out["variance"] = out["variance_raw"].clip(lower=0.0)
    total = out.groupby(level="_cell")["variance"].transform("sum")  # sum skips NaN components
    out["share"] = out["variance"] / total.where(total > 0)
    out["std"] = np.sqrt(out["variance"])
    out["method"] = METHOD
    out[["n_levels", "n_runs"]] = out[["n_levels", "n_runs"]].astype(int)
    return out[COLUMNS].reset_index(drop=True)


def variance_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per model x optimizer x tuned x component: mean share and mean std over tasks.

    `table` is the output of `variance_decomposition`. Means skip tasks where the component is NaN (a
    factor the task's experiment did not vary); n_tasks counts the tasks where it was estimated.
    """
    order = {name: i for i, name in enumerate(COMPONENTS)}
    keys = ["model", "optimizer", "tuned", "_order", "component"]
    grouped = table.assign(_order=table["component"].map(order)).groupby(keys, dropna=False, sort=True)
    out = grouped.agg(mean_share=("share", "mean"), mean_std=("std", "mean"), n_tasks=("variance", "count"))
    return out.reset_index().drop(columns="_order")

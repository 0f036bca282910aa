"""Where the optimizers sampled, beside where the good configurations are: exploration against exploitation.

Per model, over its fully tuned runs (tasks and seeds pooled), every suggestion (a trial an optimizer
asked for, in any state and at any fidelity; the default trial is nobody's suggestion) is placed at its
unit-cube coordinate in the space stored with the runs, and counted in N_BINS equal bins per parameter
(one bin per choice of a categorical and per integer of a narrow linear Int; the unit cube is each
parameter's own scale, log for log ones).
"early" suggestions were asked while the run had spent less than half of what it spent in all (in
full-fidelity evaluations, as the scheduler counts the budget), "late" the others. "good" is the same
for everyone: the best GOOD_SHARE of each task's complete full-fidelity trials, of every optimizer,
pooled over tasks. A share is per optimizer, phase and parameter: it sums to 1 over the bins, over the
suggestions in which the parameter is active.

It applies where at least two optimizers ran fully tuned on a model: one optimizer's sampling is read
against another's (a tunability study's random design samples uniformly by construction).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.space import Categorical, Int, SearchSpace

N_BINS = 20
GOOD_SHARE = 0.10
GOOD = "all optimizers"  # the optimizer column of the "good" rows


def suggestion_density(trials: pd.DataFrame, spaces: Mapping[str, SearchSpace]) -> pd.DataFrame:
    """Rows: model, optimizer, hyperparameter, phase (early, late, good), bin with its unit-cube edges and
    the parameter's values there (the choice of a categorical), share and count; see the module docstring."""
    full = trials[(trials["tuned"] == "all") & (trials["source"] == "optimizer")]
    models = [m for m, g in full.groupby("model") if g["optimizer"].nunique() >= 2 and m in spaces]
    if not models:
        ran = "; ".join(f"{m}: {', '.join(sorted(g['optimizer'].unique()))}" for m, g in full.groupby("model"))
        raise NotApplicable(f"no model was tuned by two optimizers or more ({ran or 'no fully tuned run'}): "
                            "there is no other optimizer's sampling to read one against")
    tables = []
    for model in models:
        space, mine = spaces[model], full[full["model"] == model].copy()
        mine["phase"] = np.where(_spent_before(mine) < 0.5, "early", "late")
        done = mine[(mine["state"] == "COMPLETE") & np.isclose(mine["fidelity"], 1.0)]
        cut = done.groupby("task")["loss"].transform(lambda s: s.quantile(GOOD_SHARE))
        good = done[done["loss"] <= cut].assign(phase="good", optimizer=GOOD)
        both = pd.concat([mine, good], ignore_index=True)
        units = np.array([space.encode(json.loads(c)) for c in both["config"]])
        for i, param in enumerate(space):
            tables.append(_counts(model, param, both, units[:, i]))
    return pd.concat(tables, ignore_index=True)


def _spent_before(trials: pd.DataFrame) -> pd.Series:
    """Per trial: the share of its run's total spending (fidelity) spent before it was asked."""
    ordered = trials.sort_values(["run_id", "trial_number"])
    spent = ordered.groupby("run_id")["fidelity"].cumsum() - ordered["fidelity"]
    total = ordered.groupby("run_id")["fidelity"].transform("sum")
    return (spent / total).reindex(trials.index)


def _counts(model: str, param, trials: pd.DataFrame, unit: np.ndarray) -> pd.DataFrame:
    if isinstance(param, Categorical):
        n_bins = len(param.choices)
    elif isinstance(param, Int) and not param.log and param.high - param.low < N_BINS:
        n_bins = param.high - param.low + 1  # one bin per integer (equal cells on the unit cube), no empty ones
    else:
        n_bins = N_BINS
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    rows = []
    for (optimizer, phase), index in trials.groupby(["optimizer", "phase"]).indices.items():
        u = unit[index]
        u = u[~np.isnan(u)]  # inactive in those suggestions
        counts = np.histogram(u, bins=edges)[0]
        for b in range(n_bins):
            low, high = edges[b], edges[b + 1]
            if isinstance(param, Categorical):
                where = {"choice": str(param.choices[b]), "value_low": np.nan, "value_high": np.nan}
            else:
                # The values inside the bin (an Int's cell edge belongs to the next integer).
                where = {"choice": None, "value_low": param.from_unit(low + 1e-9),
                         "value_high": param.from_unit(high - 1e-9)}
            rows.append({"model": model, "optimizer": optimizer, "hyperparameter": param.name, "phase": phase,
                         "bin": b, "unit_low": low, "unit_high": high, **where, "count": int(counts[b]),
                         "share": counts[b] / len(u) if len(u) else np.nan, "n": len(u)})
    return pd.DataFrame(rows)


__all__ = ["GOOD", "GOOD_SHARE", "N_BINS", "suggestion_density"]

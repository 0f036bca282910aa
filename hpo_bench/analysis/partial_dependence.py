"""What each hyperparameter does, seen through the per-dataset surrogates: partial dependence, ICE, pairs.

The surrogates are those of surrogate.py (one per model family and kept dataset, fitted on the random
design); nothing here is measured, every number is a surrogate's prediction of the validation loss.

Partial dependence (Friedman 2001) of hyperparameter i at value v on dataset j: the mean of f_j over
N_CONFIGS random configurations with i set to v, the others as drawn. The configurations are one sample
of unit-cube points from the space stored with the runs (seeded, shared by every dataset and value), so
curves differ only by the surrogate. Setting i moves its unit coordinate; where i is a parent, the point
is decoded again, so a child (xgboost's max_depth under booster = "gbtree") takes its own sampled value
wherever the new value makes it active, never a placeholder. A conditional parameter's curve is averaged
over the configurations where it is active only (`n_configs` says over how many).

Values: N_VALUES evenly spaced points on the parameter's own scale (log-spaced for log parameters, every
integer of a narrow Int range once), every choice of a categorical.

Across datasets. Loss levels differ between datasets by more than any hyperparameter moves them, so each
dataset's curve is centred first (`centred`: its prediction minus its own mean over the values, which on
the parameter's scale is the mean under the space's sampling distribution). The summary gives the mean
of the centred curves with a 95% percentile bootstrap CI over datasets (the datasets resampled together
for every value, so the band is that of a curve) and their quartiles, and the mean uncentred loss.

ICE (individual conditional expectation, Goldstein et al. 2015): for one dataset, the first N_ICE of the
sampled configurations, each with i moved over its values. Default dataset: the kept one whose surrogate
has the highest out-of-fold R^2 (where its curves are most trustworthy).

Pairs: for the N_PAIRS pairs of the largest joint gain in `surrogate_pairs` (against the package default),
the two-dimensional partial dependence on a 16 x 16 grid (every choice of a categorical) over the first
N_PAIR_CONFIGS sampled configurations, centred per dataset and averaged over datasets.

Marks for the figures (`surrogate_marks`): the package default, the family's named defaults and the
optimal default, each placed as the surrogates place it (clipped to the range: xgboost's reg_alpha = 0
sits at the low end of its log range; a symbolic value such as elastic net's lambda = "1/n" at its value
on each dataset, the median over datasets drawn), with a note where the placing moved it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from hpo_bench.analysis.surrogate import N_VALUES_PER_PAIR, _encode, _Model, predict_groups
from hpo_bench.analysis.tunability import N_BOOTSTRAP
from hpo_bench.seeding import derive_rng
from hpo_bench.space import Categorical

N_CONFIGS = 300
N_VALUES = 25
N_ICE = 50
N_PAIRS = 3
N_PAIR_CONFIGS = 100


def partial_dependence_tables(fitted: dict, tables: dict[str, pd.DataFrame], seed: int = 0,
                              ice_task: str | None = None) -> dict[str, pd.DataFrame]:
    """Tables surrogate_partial_dependence (per dataset), surrogate_partial_dependence_summary,
    surrogate_ice, surrogate_partial_dependence_pairs and surrogate_marks (see the module docstring).

    `fitted`: `fit_surrogates`' result; `tables`: surrogate_tunability's (optimal_defaults, surrogate_pairs).
    `ice_task`: the dataset of the ICE curves (default: per family, the kept one of the highest R^2); a
    family that kept no surrogate on it has no ICE rows.
    """
    per_task, summary, ice, pairs, marks = [], [], [], [], []
    quality = fitted["quality"]
    for model_name, surrogates in sorted(fitted["surrogates"].items()):
        model = fitted["models"][model_name]
        units = derive_rng("surrogate-partial-dependence", model_name, seed).random((N_CONFIGS, len(model.space)))
        kept = quality[(quality["model"] == model_name) & quality["kept"]]
        chosen = ice_task if ice_task is not None else kept.loc[kept["r2"].idxmax(), "task"]
        curves, ice_rows = _curves(model, surrogates, units, chosen)
        per_task.append(curves)
        summary.append(_summary(curves, seed))
        ice.append(ice_rows)
        all_pairs = tables.get("surrogate_pairs")
        if all_pairs is not None and not all_pairs.empty:  # empty: every family has a single hyperparameter
            top = all_pairs[(all_pairs["model"] == model_name) & (all_pairs["reference"] == "package")]
            for row in top.sort_values("joint_gain", ascending=False, kind="stable").head(N_PAIRS).itertuples():
                pairs.append(_pair(model, surrogates, units[:N_PAIR_CONFIGS], row.first, row.second, row.joint_gain))
        optimal = tables["optimal_defaults"]
        optimal = optimal[(optimal["model"] == model_name) & (optimal["kind"] == "optimal")]
        marks.append(_marks(model, surrogates, json.loads(optimal["config"].iloc[0])))
    out = {"surrogate_partial_dependence": pd.concat(per_task, ignore_index=True),
           "surrogate_partial_dependence_summary": pd.concat(summary, ignore_index=True),
           "surrogate_ice": pd.concat(ice, ignore_index=True),
           "surrogate_marks": pd.concat(marks, ignore_index=True)}
    if pairs:
        out["surrogate_partial_dependence_pairs"] = pd.concat(pairs, ignore_index=True)
    return out


def _moved(model: _Model, units: np.ndarray, base: np.ndarray,
           changes: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The sample with `changes` set, encoded as the surrogates read it, and which sample each row came
    from: only the configurations in which every changed parameter is active (see the module docstring).

    `base`: the sample's encoding (-1 for inactive). Moving a parameter that conditions no other changes
    nothing else, so its column is set in place; moving a parent decodes the points again, as what is
    active below it follows its new value.
    """
    space = model.space
    parents = {p.condition.parent for p in space if p.condition is not None}
    columns = [space.names.index(name) for name in changes]
    if parents.isdisjoint(changes):
        rows = np.flatnonzero((base[:, columns] >= 0).all(axis=1))
        X = base[rows].copy()
        for name, column in zip(changes, columns, strict=True):
            X[:, column] = space[name].to_unit(changes[name])
        return X, rows
    points = units.copy()
    for name, column in zip(changes, columns, strict=True):
        points[:, column] = space[name].to_unit(changes[name])
    configs = [space.decode(point) for point in points]
    rows = np.array([k for k, c in enumerate(configs) if all(name in c for name in changes)], dtype=int)
    return _encode(space, [configs[k] for k in rows]) if len(rows) else np.empty((0, len(space))), rows


def _predict_all(surrogates: dict, groups: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """task -> each group's predictions: one predict call per dataset for every group at once."""
    return {task: predict_groups(surrogate, groups) for task, (surrogate, _) in sorted(surrogates.items())}


def _curves(model: _Model, surrogates: dict, units: np.ndarray, ice_task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per dataset, hyperparameter and value: the mean prediction over the sample; ICE rows of `ice_task`."""
    base = _encode(model.space, [model.space.decode(u) for u in units])
    keys, groups, samples = [], [], []
    for name in model.space.names:
        for v in model.space[name].grid(N_VALUES):
            X, sample = _moved(model, units, base, {name: v})
            if len(X):  # a child never active in the sample has no curve
                keys.append((name, v))
                groups.append(X)
                samples.append(sample)
    rows, ice = [], []
    names = np.array([name for name, _ in keys])
    for task, predicted in _predict_all(surrogates, groups).items():
        means = np.array([p.mean() for p in predicted])
        for name in dict.fromkeys(names):
            mine = np.flatnonzero(names == name)
            centre = means[mine].mean()
            for i in mine:
                rows.append({"model": model.name, "hyperparameter": name, "value": keys[i][1], "task": task,
                             "predicted_loss": means[i], "centred": means[i] - centre, "n_configs": len(groups[i])})
        if task == ice_task:
            for (name, v), p, sample in zip(keys, predicted, samples, strict=True):
                ice += [{"model": model.name, "task": task, "hyperparameter": name, "value": v,
                         "configuration": int(k), "predicted_loss": y}
                        for k, y in zip(sample, p, strict=True) if k < N_ICE]
    return pd.DataFrame(rows), pd.DataFrame(ice, columns=["model", "task", "hyperparameter", "value",
                                                          "configuration", "predicted_loss"])


def _summary(curves: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Mean over datasets of the centred curves, its bootstrap CI (datasets resampled per curve), quartiles."""
    rng = np.random.default_rng(seed)
    rows = []
    for (model, name), g in curves.groupby(["model", "hyperparameter"], sort=False):
        tasks = list(dict.fromkeys(g["task"]))
        n, k = len(tasks), len(g) // len(tasks)  # rows come task by task, the values in the grid's order
        centred = g["centred"].to_numpy(dtype=float).reshape(n, k)
        loss = g["predicted_loss"].to_numpy(dtype=float).reshape(n, k)
        means = centred[rng.integers(0, n, size=(N_BOOTSTRAP, n))].mean(axis=1) if n > 1 else np.full((1, k), np.nan)
        first = g.iloc[:k]
        for i, (v, n_configs) in enumerate(zip(first["value"], first["n_configs"], strict=True)):
            rows.append({"model": model, "hyperparameter": name, "value": v, "mean": centred[:, i].mean(),
                         "ci_low": np.quantile(means[:, i], 0.025), "ci_high": np.quantile(means[:, i], 0.975),
                         "q25": np.quantile(centred[:, i], 0.25), "q75": np.quantile(centred[:, i], 0.75),
                         "mean_loss": loss[:, i].mean(), "n_datasets": n, "n_configs": int(n_configs)})
    return pd.DataFrame(rows)


def _pair(model: _Model, surrogates: dict, units: np.ndarray, first: str, second: str,
          joint_gain: float) -> pd.DataFrame:
    """Two-dimensional partial dependence of (first, second) on their grid, centred per dataset, the mean
    over datasets; a cell where the pair is never active together is NaN."""
    base = _encode(model.space, [model.space.decode(u) for u in units])
    grid = [(a, b) for a in model.space[first].grid(N_VALUES_PER_PAIR)
            for b in model.space[second].grid(N_VALUES_PER_PAIR)]
    moved = [_moved(model, units, base, {first: a, second: b})[0] for a, b in grid]
    predicted = _predict_all(surrogates, moved)
    surfaces = np.array([[p.mean() if len(p) else np.nan for p in per_task] for per_task in predicted.values()])
    centred = surfaces - np.nanmean(surfaces, axis=1, keepdims=True)
    return pd.DataFrame({"model": model.name, "first": first, "second": second,
                         # object columns: concatenated with other pairs' numbers, a column of booleans
                         # would become 1 and 0, which no longer name the choices (True, False)
                         "first_value": pd.Series([a for a, _ in grid], dtype=object),
                         "second_value": pd.Series([b for _, b in grid], dtype=object),
                         "mean": centred.mean(axis=0), "mean_loss": surfaces.mean(axis=0),
                         "n_datasets": len(surfaces), "n_configs": [len(c) for c in moved],
                         "joint_gain": joint_gain})


def _marks(model: _Model, surrogates: dict, optimal: dict) -> pd.DataFrame:
    """Where the defaults sit on each hyperparameter's axis, as the surrogates place them."""
    shapes = [shape for _, shape in surrogates.values()]
    defaults = {"package": model.package_default(), **model.named_defaults(), "optimal": optimal}
    rows = []
    for kind, config in defaults.items():
        for param in model.space:
            if param.name not in config:
                continue  # inactive in that default (xgboost's gblinear has no max_depth)
            stated = config[param.name]
            placed = [model.concrete(config, shape)[param.name] for shape in shapes]
            if isinstance(param, Categorical):
                value, note = stated, ""
            else:
                placed = [param.from_unit(param.to_unit(v)) for v in placed]  # the range clips, as encoding does
                value = float(np.median(placed))
                note = _note(stated, placed, param.low)
            rows.append({"model": model.name, "hyperparameter": param.name, "kind": kind, "value": value,
                         "stated": str(stated), "note": note})
    return pd.DataFrame(rows)


def _note(stated: Any, placed: list[float], low: float) -> str:
    """Why a mark is not drawn at the value the default states, or ''."""
    if isinstance(stated, str) or stated is None:
        spread = f"{min(placed):.3g} to {max(placed):.3g} over datasets, median drawn" if len(set(placed)) > 1 \
            else f"{placed[0]:.3g}"
        return f"{stated} stands for {spread}"
    if float(stated) < low:
        return f"{stated:g} is below the range: placed at its low end {low:g}, as the surrogates see it"
    if any(not np.isclose(v, float(stated)) for v in placed):
        return f"{stated:g} placed at {placed[0]:g}"
    return ""


def ice_task_problem(fitted: dict, task: str) -> str | None:
    """Why `task` cannot be the dataset of ICE curves, or None."""
    kept = {t for per_task in fitted["surrogates"].values() for t in per_task}
    if task not in kept:
        return f"ice task {task!r}: no kept surrogate on it (kept: {', '.join(sorted(kept))})"
    return None


__all__ = ["N_CONFIGS", "N_ICE", "N_PAIRS", "N_VALUES", "ice_task_problem",
           "partial_dependence_tables"]

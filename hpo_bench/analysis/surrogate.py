"""Surrogate-based tunability, Probst, Boulesteix & Bischl's own method, and data-driven defaults.

Per model family and dataset, a random forest regressor learns loss from configuration on the fully
tuned random-search trials (the unit-cube encoding, -1 for inactive parameters). On the surrogates:
- the optimal default is the candidate configuration with the lowest mean predicted loss across
  datasets; its cross-validated version is learned on 4/5 of the datasets and scored on the other 1/5;
- d_j = f_j(default) - min_c f_j(c) and d_ij the same with candidates that vary only i from the default,
  both against the package default and against the optimal default.
Candidates are every configuration evaluated in those runs plus random draws from the space. Each
surrogate's R^2 and Kendall tau on held-out trials say how far to trust it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.stats import kendalltau
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, train_test_split

from hpo_bench.analysis.tunability import NotApplicable, bootstrap_ci
from hpo_bench.models import DataShape, ModelFamily, get_model
from hpo_bench.seeding import derive_rng
from hpo_bench.space import SearchSpace, config_key

N_RANDOM_CANDIDATES = 2000
N_VALUES_PER_PARAMETER = 64
MIN_TRIALS = 20


def _encode(space: SearchSpace, configs: list[dict]) -> np.ndarray:
    return np.nan_to_num(np.array([space.encode(c) for c in configs]), nan=-1.0)


def _one_at_a_time(model: ModelFamily, base: dict, name: str) -> list[dict]:
    """`base` with parameter `name` moved over its range (the others held), inactive ones dropped."""
    param = model.space[name]
    values = param.grid(N_VALUES_PER_PARAMETER)
    return [model.space.active_only({**model.space.default(), **base, name: v}) for v in values]


def fit_surrogates(trials: pd.DataFrame, tasks: pd.DataFrame, seed: int = 0) -> dict:
    """Fit one surrogate per model x task on fully tuned random-search trials (any optimizer if none)."""
    full = trials[(trials["tuned"] == "all") & (trials["state"] == "COMPLETE") & np.isclose(trials["fidelity"], 1)]
    if (full["optimizer_type"] == "random").any():
        full = full[full["optimizer_type"] == "random"]
    fitted: dict = {}
    quality = []
    for (model_name, task), group in full.groupby(["model", "task"], sort=True):
        if len(group) < MIN_TRIALS:
            continue
        model = get_model(model_name)
        n_features = int(tasks.set_index("task").loc[task, "n_features"]) if task in set(tasks["task"]) else 1
        shape = DataShape(n_samples=0, n_features=n_features, n_classes=0)
        configs = [model.concrete(json.loads(c), shape) for c in group["config"]]
        X, y = _encode(model.space, configs), group["loss"].to_numpy(dtype=float)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=seed)
        check = RandomForestRegressor(n_estimators=200, random_state=seed, n_jobs=1).fit(X_train, y_train)
        predicted = check.predict(X_test)
        quality.append({"model": model_name, "task": task, "n_trials": len(y), "r2": r2_score(y_test, predicted),
                        "kendall_tau": kendalltau(y_test, predicted).statistic})
        surrogate = RandomForestRegressor(n_estimators=200, random_state=seed, n_jobs=1).fit(X, y)
        fitted.setdefault(model_name, {})[task] = (surrogate, shape, configs)
    if not fitted:
        raise NotApplicable(f"no model x task has {MIN_TRIALS} complete fully tuned trials to fit a surrogate on")
    return {"surrogates": fitted, "quality": pd.DataFrame(quality)}


def surrogate_tunability(trials: pd.DataFrame, tasks: pd.DataFrame, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Tables: surrogate quality, optimal defaults, and tunability against package and optimal defaults."""
    fitted = fit_surrogates(trials, tasks, seed)
    rows, defaults = [], []
    rng = np.random.default_rng(seed)
    for model_name, per_task in fitted["surrogates"].items():
        model_rows, default_rows = _model_tunability(get_model(model_name), per_task, seed, rng)
        rows += model_rows
        defaults += default_rows
    return {"surrogate_quality": fitted["quality"], "optimal_defaults": pd.DataFrame(defaults),
            "surrogate_tunability": pd.DataFrame(rows)}


def _model_tunability(model: ModelFamily, per_task: dict, seed: int,
                      rng: np.random.Generator) -> tuple[list[dict], list[dict]]:
    task_names = sorted(per_task)
    pool = {config_key(c): c for _, _, configs in per_task.values() for c in configs}
    draws = derive_rng("surrogate-candidates", model.name, seed)
    pool.update({config_key(c): c for c in (model.space.sample(draws) for _ in range(N_RANDOM_CANDIDATES))})
    candidates = list(pool.values())
    predicted = np.array([per_task[t][0].predict(_encode(model.space, candidates)) for t in task_names])

    def predict(task: str, configs: list[dict]) -> np.ndarray:
        surrogate, shape, _ = per_task[task]
        return surrogate.predict(_encode(model.space, [model.concrete(c, shape) for c in configs]))

    optimal = candidates[int(np.argmin(predicted.mean(axis=0)))]
    defaults = [{"model": model.name, "kind": "optimal", "config": json.dumps(optimal, sort_keys=True),
                 "n_datasets": len(task_names)}]
    references = {"package": {t: model.package_default() for t in task_names},
                  "optimal": {t: optimal for t in task_names}}
    if len(task_names) >= 5:
        references["optimal_cv"] = {}
        for train, test in KFold(5, shuffle=True, random_state=seed).split(task_names):
            learned = candidates[int(np.argmin(predicted[train].mean(axis=0)))]
            references["optimal_cv"].update({task_names[i]: learned for i in test})
    rows = []
    for ref_name, base_of in references.items():
        per_dataset = []
        for j, task in enumerate(task_names):
            base = base_of[task]
            f_base = predict(task, [base])[0]
            row = {"task": task, "all": f_base - min(predicted[j].min(), f_base)}
            for name in model.space.names:
                row[name] = f_base - min(predict(task, _one_at_a_time(model, base, name)).min(), f_base)
            per_dataset.append(row)
        frame = pd.DataFrame(per_dataset)
        for tuned in ["all", *model.space.names]:
            values = frame[tuned].to_numpy(dtype=float)
            relative = values / np.where(frame["all"] > 0, frame["all"], np.nan)
            low, high = bootstrap_ci(values, rng)
            rows.append({"model": model.name, "reference": ref_name, "tuned": tuned, "mean": np.mean(values),
                         "median": np.median(values), "std": np.std(values, ddof=1) if len(values) > 1 else np.nan,
                         "ci_low": low, "ci_high": high,
                         "relative_mean": np.nanmean(relative) if np.isfinite(relative).any() else np.nan,
                         "relative_n_datasets": int(np.isfinite(relative).sum()), "n_datasets": len(task_names)})
    return rows, defaults

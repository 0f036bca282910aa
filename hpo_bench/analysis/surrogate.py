"""Surrogate-based tunability: Probst, Boulesteix & Bischl's (2019) protocol, and data-driven defaults.

The design. Per model family and dataset, the configurations that a non-adaptive optimizer (random
search, Sobol, grid) drew in the fully tuned runs, without the default trial: a design that does not
depend on the losses. The default is left out because a surrogate fitted on it predicts the default
well and everything else worse, which put the "optimal default" exactly on it.

The surrogate. A random forest regression of loss on the configuration (the unit-cube encoding, -1 for
inactive parameters), as the authors' (PhilippPro/tunability main.R line 110: mlr's regr.ranger with
ranger's defaults), fitted on the whole design; its out-of-fold R^2 and Kendall tau (5 folds) are reported
per dataset. A forest predicts averages of the losses it was fitted on, so it cannot leave their range;
gradient-boosted trees, which an earlier version chose when they cross-validated better, extrapolated
(1-AUC of -0.16 predicted for xgboost on monks-3, issue 35) and are no longer used. Every prediction is
still clipped to [min, max] of the dataset's observed design losses, and the share clipped is reported
per dataset (`share_clipped` in surrogate_quality: 0 for a forest, by construction).
Configurations of the design that ran into the experiment's time_limit_s (state TIMEOUT) or failed are not
in it: the surrogate sees the losses that were measured, as the authors' saw the bot's finished runs only
(the bot's jobs had time and memory limits); surrogate_quality counts them per dataset (`n_timeout`).
A dataset is left out of a family's tables, with the reason, when
- its design has fewer than MIN_TRIALS complete configurations, or fewer than MIN_TRIALS_PER_PARAMETER
  per hyperparameter of the stored space (Loeppky, Sacks & Welch 2009, "Choosing the sample size of a
  computer experiment": n = 10 d as the working rule for fitting an emulator of d inputs; below it, a
  learner cross-validated on the design mostly measures its own noise: the quickstart's 36
  configurations of XGBoost's 10 hyperparameters gave an "R^2" and a predicted 1-AUC of -0.04);
- the package default already scores 1-AUC (regression: 1-R^2) below MIN_DEFAULT_AUC_LOSS (nothing
  left to tune).
The surrogate's fit is not a rule: the paper kept its datasets by the number of bot runs, not by how well
a surrogate fitted (issue 35: an R^2 >= 0.5 rule dropped monks-2, the shared dataset the paper finds most
tunable for rpart and xgboost). Each dataset's R^2 stands beside its numbers, and `summarise` adds rows
over the datasets with R^2 >= MIN_R2 beside those over all of them (column `datasets`).
These thresholds are fixed here, before any study was analysed, and apply to every store alike.

On the kept surrogates f_j, with N_CANDIDATES random configurations c from the space (the one stored with
the runs, also for encoding; the paper: 100,000 configurations):
- the optimal default: argmin_c of the mean of f_j(c) over datasets; optimal_cv: the same learned on 4/5
  of the datasets and scored on the other 1/5 (5 folds over datasets);
- d_j(ref) = f_j(ref) - min(f_j(ref), min_c f_j(c)): overall tunability against a reference default:
  the package's (Tun.P in the paper's terms for its R defaults, reference "probst2019" here),
  the optimal default (Tun.O) and the cross-validated one (Tun.O-CV);
- d_ij(ref): the same with only hyperparameter i moved over N_VALUES_PER_PARAMETER values from ref;
- the tuning space: quantiles over datasets of each dataset's optimum argmin_c f_j(c).
Summaries over datasets carry percentile bootstrap CIs; every per-dataset value is in
`surrogate_per_dataset` so that other tables can resample datasets.

The reference defaults and the placing of symbolic values ("sqrt") are the family's, which a store does
not record: a model from outside hpo-bench gets no surrogate tables (reading a store imports no code).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict

from hpo_bench.analysis.best_found import _metric_values, is_adaptive
from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.study import builtin_family, outside_reason, task_type_of
from hpo_bench.analysis.tunability import AGAINST, bootstrap_ci, default_losses, runs_default
from hpo_bench.models import DataShape, ModelFamily
from hpo_bench.seeding import derive_rng
from hpo_bench.space import SearchSpace

N_CANDIDATES = 100_000
N_VALUES_PER_PARAMETER = 64
N_VALUES_PER_PAIR = 16  # per parameter of a pair: a 16 x 16 grid
PAIR_REFERENCES = ("package", "optimal")
MIN_TRIALS = 20
MIN_TRIALS_PER_PARAMETER = 10
# The values each loss can take; a surrogate's prediction is clipped to them (1 - R^2 has no upper bound).
METRIC_RANGE = {"1-auc": (0.0, 1.0), "error": (0.0, 1.0), "brier": (0.0, 2.0), "balanced_error": (0.0, 1.0),
                "logloss": (0.0, np.inf), "rmse": (0.0, np.inf), "mae": (0.0, np.inf), "1-r2": (0.0, np.inf)}
# Not a filter (module docstring): the surrogates explaining at least half the loss's variance get a
# summary of their own beside the one over every dataset.
MIN_R2 = 0.5
ALL_DATASETS = "all"
WELL_FITTED = f"R^2 >= {MIN_R2}"
MIN_DEFAULT_AUC_LOSS = 0.001
# The "nothing left to tune" rule's metric per task type, and its column in the quality table. For
# regression 1 - R^2 plays 1 - AUC's part: scale-free, 0 for a perfect model (below 0.001: the default
# explains 99.9% of the variance).
FLOOR_METRIC = {"classification": ("1-auc", "default_auc_loss", "1-AUC"),
                "regression": ("1-r2", "default_r2_loss", "1-R^2")}
LEARNER = "random_forest"


def make_surrogate(seed: int) -> RandomForestRegressor:
    """ranger's regression defaults, as the authors' surrogate (main.R line 110, regr.ranger with no
    settings but the threads): 500 trees, mtry = floor(sqrt(p)), bootstrap of every row, and
    min.node.size = 5, i.e. a node of 5 rows or fewer is not split (ranger's splitNodeInternal stops at
    num_samples_node <= min_node_size), which is scikit-learn's min_samples_split = 6. One thread: the
    machine's cores may be running a study."""
    return RandomForestRegressor(n_estimators=500, max_features="sqrt", min_samples_split=6, random_state=seed,
                                 n_jobs=1)


class _Clipped:
    """A fitted regressor whose predictions are clipped to [low, high], the observed design losses within
    the values the loss can take, counting how many it clipped (see the module docstring)."""

    def __init__(self, regressor: Any, low: float, high: float) -> None:
        self.regressor, self.low, self.high = regressor, low, high
        self.n_predicted = 0
        self.n_clipped = 0

    def predict(self, X: np.ndarray) -> np.ndarray:
        raw = self.regressor.predict(X)
        self.n_predicted += raw.size
        self.n_clipped += int(np.count_nonzero((raw < self.low) | (raw > self.high)))
        return np.clip(raw, self.low, self.high)


@dataclass(frozen=True)
class _Model:
    """A model as the surrogates see it: the space stored with its runs, and from its built-in family what
    a store does not record (the package and named defaults, the placing of symbolic values)."""

    name: str
    space: SearchSpace
    family: ModelFamily

    def package_default(self) -> dict[str, Any]:
        return self.family.package_default()

    def named_defaults(self) -> dict[str, dict[str, Any]]:
        return self.family.named_defaults()

    def concrete(self, config: Mapping[str, Any], shape: DataShape) -> dict[str, Any]:
        return self.family.concrete(config, shape)


def _encode(space: SearchSpace, configs: list[dict]) -> np.ndarray:
    # Inactive in this space means -1 whatever the configuration holds: a run records what it evaluated, such
    # as the default gamma of a polynomial svm where the probst2019 space has gamma for the radial kernel
    # only, and the candidates drawn from the space carry no such value.
    return np.nan_to_num(np.array([space.encode(space.active_only(c)) for c in configs]), nan=-1.0)


def design_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The random design: complete full-fidelity trials of non-adaptive optimizers in fully tuned runs,
    the default trials left out."""
    keep = ((trials["tuned"] == "all") & (trials["source"] == "optimizer") & (trials["state"] == "COMPLETE")
            & np.isclose(trials["fidelity"], 1) & ~is_adaptive(trials))
    return trials[keep]


def _default_floor_losses(trials: pd.DataFrame, metric: str) -> dict[tuple[str, str], float]:
    """(model, task) -> the package default's validation `metric` (median over its default trials)."""
    d = trials[(trials["source"] == "default") & (trials["state"] == "COMPLETE")]
    if d.empty:
        return {}
    if "fold_metrics" in d and d["fold_metrics"].notna().all():
        auc = _metric_values(d["fold_metrics"], metric, np.mean)
    elif (d["metric"] == metric).all():
        auc = d["loss"].astype(float)
    else:
        return {}
    return d.assign(_auc=auc).groupby(["model", "task"])["_auc"].median().to_dict()


def _shapes(tasks: pd.DataFrame) -> dict[str, DataShape]:
    # The shape a symbolic default is placed with: rows and columns of the whole dataset (a fold has fewer
    # rows; elastic net's lambda = 1/n then moves by a factor below 2 on a 2^20-wide log range).
    rows = tasks["n_rows"].fillna(0) if "n_rows" in tasks else pd.Series(0, index=tasks.index)
    columns = tasks["n_features"].fillna(1) if "n_features" in tasks else pd.Series(1, index=tasks.index)
    return {t: DataShape(int(r), int(f), 0) for t, r, f in zip(tasks["task"], rows, columns, strict=True)}


def fit_surrogates(trials: pd.DataFrame, tasks: pd.DataFrame, spaces: Mapping[str, SearchSpace],
                   seed: int = 0) -> dict:
    """One surrogate per model x task on its random design; quality and the reason for every task left out.

    Configurations are encoded in `spaces` (model -> the space its fully tuned runs searched). Models
    from outside hpo-bench get no surrogate (see `outside_reason`); their rows in the quality table say so.
    """
    design = design_trials(trials)
    if design.empty:
        raise NotApplicable("no fully tuned run of a non-adaptive optimizer (random, Sobol, grid) to fit "
                            "surrogates on")
    task_type = task_type_of(tasks)
    models = {m: _Model(m, spaces[m], family) for m in design["model"].unique()
              if (family := builtin_family(m, task_type)) is not None}
    if not models:
        raise NotApplicable("; ".join(outside_reason(m) for m in sorted(design["model"].unique())))
    floor_metric, floor_column, floor_name = FLOOR_METRIC[task_type]
    default_auc = _default_floor_losses(trials, floor_metric)
    shapes = _shapes(tasks)
    # Design configurations stopped at the experiment's time_limit_s: not in the design (a surrogate is fitted
    # on the losses it saw, as the authors' on the bot's finished runs), counted beside it.
    timed_out = trials[(trials["tuned"] == "all") & (trials["source"] == "optimizer") & (trials["state"] == "TIMEOUT")
                       & ~is_adaptive(trials)].groupby(["model", "task"]).size().to_dict()
    fitted: dict = {}
    quality = []
    for (model_name, task), group in design.groupby(["model", "task"], sort=True):
        shape = shapes.get(task, DataShape(0, 1, 0))
        row = {"model": model_name, "task": task, "n_design": len(group),
               "n_timeout": int(timed_out.get((model_name, task), 0)),
               floor_column: default_auc.get((model_name, task), np.nan)}
        if model_name not in models:
            quality.append({**row, "kept": False, "reason": outside_reason(model_name)})
            continue
        model = models[model_name]
        need = max(MIN_TRIALS, MIN_TRIALS_PER_PARAMETER * len(model.space))
        if len(group) < need:
            rule = (f"{MIN_TRIALS}" if need == MIN_TRIALS else
                    f"{need} ({MIN_TRIALS_PER_PARAMETER} per hyperparameter, {len(model.space)} hyperparameters)")
            quality.append({**row, "kept": False, "reason": f"{len(group)} design trials < {rule}"})
            continue
        configs = [model.concrete(json.loads(c), shape) for c in group["config"]]
        X, y = _encode(model.space, configs), group["loss"].to_numpy(dtype=float)
        predicted = cross_val_predict(make_surrogate(seed), X, y, cv=KFold(5, shuffle=True, random_state=seed))
        r2 = r2_score(y, predicted)
        row.update(learner=LEARNER, r2=r2, kendall_tau=kendalltau(y, predicted).statistic,
                   well_fitted=bool(r2 >= MIN_R2), observed_min=float(y.min()), observed_max=float(y.max()))
        reason = None
        if row[floor_column] < MIN_DEFAULT_AUC_LOSS:
            reason = f"package default {floor_name} {row[floor_column]:.2g} < {MIN_DEFAULT_AUC_LOSS}: nothing to tune"
        quality.append({**row, "kept": reason is None, "reason": reason or ""})
        if reason is None:
            low, high = METRIC_RANGE.get(str(group["metric"].iloc[0]), (-np.inf, np.inf))
            surrogate = _Clipped(make_surrogate(seed).fit(X, y), max(low, float(y.min())), min(high, float(y.max())))
            fitted.setdefault(model_name, {})[task] = (surrogate, shape)
    quality_table = pd.DataFrame(quality)
    if not fitted:
        reasons = "; ".join(f"{r['model']} on {r['task']}: {r['reason']}" for r in quality[:3])
        raise NotApplicable(f"no surrogate passed the quality rules ({reasons})")
    return {"surrogates": fitted, "quality": quality_table, "models": models}


def surrogate_tunability(trials: pd.DataFrame, tasks: pd.DataFrame, spaces: Mapping[str, SearchSpace],
                         seed: int = 0, n_candidates: int | None = None,
                         fitted: dict | None = None) -> dict[str, pd.DataFrame]:
    """Tables: surrogate quality, optimal defaults, per-dataset and summarised tunability, tuning space.

    `spaces`: model -> the space its fully tuned runs searched (`Study.spaces`); candidates are drawn from it.
    `fitted`: `fit_surrogates`' result for these arguments, when the caller has it (the partial dependence
    uses the same surrogates; fitting is the slow part).
    """
    n_candidates = N_CANDIDATES if n_candidates is None else n_candidates
    fitted = fitted if fitted is not None else fit_surrogates(trials, tasks, spaces, seed)
    per_dataset, defaults, tuning_spaces, pairs = [], [], [], []
    for model_name, per_task in fitted["surrogates"].items():
        model = fitted["models"][model_name]
        d, default, space = _model_tunability(model, per_task, seed, n_candidates)
        per_dataset.append(d)
        defaults.append(default)
        tuning_spaces.append(space)
        pairs.append(_pairs(model, per_task, d, default))
    per_dataset_table = pd.concat(per_dataset, ignore_index=True)
    quality = _with_clipping(fitted)
    # Each dataset's numbers with its surrogate's out-of-fold R^2 beside them (shown, not a rule; issue 35).
    r2 = quality.set_index(["model", "task"])["r2"] if "r2" in quality else pd.Series(dtype=float)
    per_dataset_table["surrogate_r2"] = [r2.get((m, t), np.nan) for m, t in
                                         zip(per_dataset_table["model"], per_dataset_table["task"], strict=True)]
    well = quality[quality["kept"] & quality["well_fitted"].eq(True)]
    return {"surrogate_quality": quality, "optimal_defaults": pd.concat(defaults, ignore_index=True),
            "surrogate_per_dataset": per_dataset_table,
            "surrogate_tunability": summarise(per_dataset_table, seed,
                                              well_fitted=set(zip(well["model"], well["task"], strict=True))),
            "surrogate_tuning_space": pd.concat(tuning_spaces, ignore_index=True),
            "surrogate_pairs": pd.concat(pairs, ignore_index=True),
            "surrogate_vs_design": _against_design(trials, per_dataset_table)}


def _with_clipping(fitted: dict) -> pd.DataFrame:
    """The quality table with, per kept surrogate, how many of its predictions so far were clipped to the
    observed range and their share (issue 35's acceptance: no prediction outside the observed losses)."""
    quality = fitted["quality"].copy()
    counts = {(m, t): (s.n_predicted, s.n_clipped) for m, per_task in fitted["surrogates"].items()
              for t, (s, _) in per_task.items()}
    pairs = list(zip(quality["model"], quality["task"], strict=True))
    quality["n_predicted"] = [counts[p][0] if p in counts else np.nan for p in pairs]
    quality["share_clipped"] = [counts[p][1] / counts[p][0] if counts.get(p, (0, 0))[0] else np.nan for p in pairs]
    return quality


def _against_design(trials: pd.DataFrame, per_dataset: pd.DataFrame) -> pd.DataFrame:
    """What the study measured beside what the surrogates say, per dataset: the default's loss (its real
    trial, which the surrogates never saw) and the best loss of the design against the surrogate's
    prediction at that same default and at its optimum; d both ways. The default is the one the runs'
    default trials evaluated (column `default`): the R default in a study with defaults = "probst2019",
    else the package default."""
    evaluated = {m: "probst2019" if runs_default(trials, m) == AGAINST["probst2019"] else "package"
                 for m in per_dataset["model"].unique()}
    full = per_dataset[(per_dataset["reference"] == per_dataset["model"].map(evaluated))
                       & (per_dataset["tuned"] == "all")]
    default = default_losses(trials).groupby(["model", "task"])["default_loss"].median().rename("measured_default")
    best = design_trials(trials).groupby(["model", "task"])["loss"].min().rename("measured_best")
    out = full.set_index(["model", "task"])[["f_reference", "f_optimum", "d", "surrogate_r2"]].rename(columns={
        "f_reference": "predicted_default", "f_optimum": "predicted_optimum", "d": "d_surrogate"})
    out = out.join(default).join(best)
    out["d_measured"] = (out["measured_default"] - out["measured_best"]).clip(lower=0)
    out = out.reset_index()
    out["default"] = out["model"].map(evaluated)
    return out[["model", "task", "default", "predicted_default", "measured_default", "predicted_optimum",
                "measured_best", "d_surrogate", "d_measured", "surrogate_r2"]]


def _candidates(model: _Model, seed: int, n: int) -> list[dict]:
    draws = derive_rng("surrogate-candidates", model.name, seed)
    return [model.space.sample(draws) for _ in range(n)]


def _tuned_from(space: SearchSpace, base: dict, moved: dict) -> dict:
    """`base` with the parameters in `moved` set and the others held, inactive ones dropped.

    A moved parameter that is inactive at `base` gets its parent set to the value that makes it active (the
    first of its condition's), as the authors' designs do (PhilippPro/tunability at 9fc4fa84,
    R/calculateTunabilityMeasures.R lines 164-170, "If one parameter is required by another set it to the
    specific value"): tuning svm's degree alone from the radial R default tunes a polynomial kernel's degree;
    dropping it instead would make its d 0 by construction. A parameter made active that `base` lacks takes
    the space's default (degree 3 for a polynomial kernel, the authors' too: line 187)."""
    config = {**{p.name: p.default for p in space}, **base, **moved}
    for name in moved:
        p = space[name]
        while p.condition is not None and p.condition.parent not in moved:  # a moved parent: its values decide
            if not p.condition.holds(config):
                config[p.condition.parent] = p.condition.values[0]
            p = space[p.condition.parent]
    return space.active_only(config)


def _one_at_a_time(model: _Model, base: dict, name: str) -> list[dict]:
    """`base` with parameter `name` moved over its range (the others held), inactive ones dropped."""
    return [_tuned_from(model.space, base, {name: v}) for v in model.space[name].grid(N_VALUES_PER_PARAMETER)]


def predict_groups(surrogate: Any, groups: list[np.ndarray]) -> list[np.ndarray]:
    """Each group's predictions (encoded configurations), from one predict call: a forest pays a fixed cost
    per tree and call, which thousands of small calls multiplied into most of the surrogate tables' time. A
    tree predicts each row on its own, so the values are those of separate calls."""
    if not sum(len(g) for g in groups):
        return [np.array([]) for _ in groups]
    return np.split(surrogate.predict(np.vstack(groups)), np.cumsum([len(g) for g in groups])[:-1])


def _predict_blocks(model: _Model, per_task: dict, blocks: dict[tuple, list[dict]]) -> dict[tuple, np.ndarray]:
    """Each block's predictions (a block: a key whose second element is the task, and its configurations),
    one predict call per task (predict_groups)."""
    out = {}
    for task, (surrogate, shape) in per_task.items():
        keys = [k for k in blocks if k[1] == task]
        groups = [_encode(model.space, [model.concrete(c, shape) for c in blocks[k]]) for k in keys]
        out.update(zip(keys, predict_groups(surrogate, groups), strict=True))
    return out


def _pairs(model: _Model, per_task: dict, per_dataset: pd.DataFrame, defaults: pd.DataFrame) -> pd.DataFrame:
    """d of tuning each pair (i, i') jointly on the surrogates (a grid, the others at the reference), its
    joint gain d_ii' - max(d_i, d_i') and interaction d_ii' - (d_i + d_i'), averaged over datasets."""
    import itertools

    optimal = json.loads(defaults.loc[defaults["kind"] == "optimal", "config"].iloc[0])
    single = per_dataset.set_index(["reference", "task", "tuned"])["d"]
    tasks = list(per_task)
    pairs = list(itertools.combinations(model.space.names, 2))
    blocks = {}
    for ref in PAIR_REFERENCES:
        base = model.package_default() if ref == "package" else optimal
        for first, second in pairs:
            grid = [_tuned_from(model.space, base, {first: a, second: b})
                    for a in model.space[first].grid(N_VALUES_PER_PAIR)
                    for b in model.space[second].grid(N_VALUES_PER_PAIR)]
            blocks.update({(ref, task, first, second): [base, *grid] for task in tasks})

    f_all = _predict_blocks(model, per_task, blocks)
    rows = []
    for ref in PAIR_REFERENCES:
        for first, second in pairs:
            gains = []
            for task in tasks:
                f = f_all[(ref, task, first, second)]
                d_pair = f[0] - min(f.min(), f[0])
                d1, d2 = single[(ref, task, first)], single[(ref, task, second)]
                gains.append((d_pair, d1, d2))
            g = np.array(gains)
            rows.append({"model": model.name, "reference": ref, "first": first, "second": second,
                         "d_pair": g[:, 0].mean(), "d_first": g[:, 1].mean(), "d_second": g[:, 2].mean(),
                         "joint_gain": (g[:, 0] - g[:, 1:].max(axis=1)).mean(),
                         "interaction": (g[:, 0] - g[:, 1:].sum(axis=1)).mean(), "n_datasets": len(g)})
    return pd.DataFrame(rows)


def _references(model: _Model, tasks: list[str], predicted: np.ndarray,
                candidates: list[dict], seed: int) -> dict[str, dict[str, dict]]:
    """Reference default per kind and task: package, the named ones, optimal, optimal_cv."""
    refs = {"package": dict.fromkeys(tasks, model.package_default())}
    for kind, config in model.named_defaults().items():
        refs[kind] = dict.fromkeys(tasks, config)
    refs["optimal"] = dict.fromkeys(tasks, candidates[int(np.argmin(predicted.mean(axis=0)))])
    if len(tasks) >= 5:
        refs["optimal_cv"] = {}
        for train, test in KFold(5, shuffle=True, random_state=seed).split(tasks):
            learned = candidates[int(np.argmin(predicted[train].mean(axis=0)))]
            refs["optimal_cv"].update({tasks[i]: learned for i in test})
    return refs


def _model_tunability(model: _Model, per_task: dict, seed: int,
                      n_candidates: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    tasks = sorted(per_task)
    candidates = _candidates(model, seed, n_candidates)
    encoded = _encode(model.space, candidates)
    predicted = np.array([per_task[t][0].predict(encoded) for t in tasks])
    best = predicted.min(axis=1)

    refs = _references(model, tasks, predicted, candidates, seed)
    grids = {(ref_name, task, name): _one_at_a_time(model, base_of[task], name)
             for ref_name, base_of in refs.items() for task in tasks for name in model.space.names}
    f = _predict_blocks(model, per_task, {(ref_name, task, "all"): [base_of[task]]
                                          for ref_name, base_of in refs.items() for task in tasks} | grids)
    rows = []
    for ref_name in refs:
        for j, task in enumerate(tasks):
            f_base = float(f[(ref_name, task, "all")][0])
            rows.append({"model": model.name, "task": task, "reference": ref_name, "tuned": "all",
                         "d": f_base - min(best[j], f_base), "f_reference": f_base, "f_optimum": best[j]})
            for name in model.space.names:
                f_i = float(f[(ref_name, task, name)].min())
                rows.append({"model": model.name, "task": task, "reference": ref_name, "tuned": name,
                             "d": f_base - min(f_i, f_base), "f_reference": f_base, "f_optimum": min(f_i, f_base)})
    optima = [candidates[int(i)] for i in predicted.argmin(axis=1)]
    return pd.DataFrame(rows), _defaults_table(model, tasks, refs, optima, predicted, n_candidates), \
        _space_quantiles(model, optima)


def _defaults_table(model: _Model, tasks: list[str], refs: dict, optima: list[dict], predicted: np.ndarray,
                    n_candidates: int) -> pd.DataFrame:
    """The configurations the surrogates chose: the optimal default, the cross-validated defaults (per
    task they are scored on) and each dataset's optimum, with the surrogate's predicted loss."""
    rows = [{"model": model.name, "kind": "optimal", "task": None,
             "config": json.dumps(refs["optimal"][tasks[0]], sort_keys=True),
             "predicted_loss": float(predicted.mean(axis=0).min()), "n_datasets": len(tasks),
             "n_candidates": n_candidates}]
    for j, task in enumerate(tasks):
        if "optimal_cv" in refs:
            rows.append({"model": model.name, "kind": "optimal_cv", "task": task,
                         "config": json.dumps(refs["optimal_cv"][task], sort_keys=True), "predicted_loss": np.nan,
                         "n_datasets": np.nan, "n_candidates": n_candidates})  # learned on 4/5 of them
        rows.append({"model": model.name, "kind": "optimum", "task": task,
                     "config": json.dumps(optima[j], sort_keys=True), "predicted_loss": float(predicted[j].min()),
                     "n_datasets": 1, "n_candidates": n_candidates})
    return pd.DataFrame(rows)


def _space_quantiles(model: _Model, optima: list[dict], low: float = 0.05, high: float = 0.95) -> pd.DataFrame:
    """Probst's tuning space on the surrogates: quantiles over datasets of each dataset's optimum."""
    rows = []
    frame = pd.DataFrame(optima)
    for name in model.space.names:
        values = frame[name].dropna() if name in frame else pd.Series(dtype=object)
        if values.empty:
            continue
        if values.map(lambda v: isinstance(v, (bool, str))).any():
            counts = values.astype(str).value_counts()
            rows.append({"model": model.name, "parameter": name, "low": np.nan, "high": np.nan,
                         "most_frequent": counts.index[0], "share": counts.iloc[0] / len(values),
                         "n_datasets": len(values)})
        else:
            numeric = values.astype(float)
            rows.append({"model": model.name, "parameter": name, "low": numeric.quantile(low),
                         "high": numeric.quantile(high), "most_frequent": None, "share": np.nan,
                         "n_datasets": len(values)})
    return pd.DataFrame(rows)


def summarise(per_dataset: pd.DataFrame, seed: int = 0,
              well_fitted: set[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Per model x reference x tuned: mean, median, std and bootstrap CI of d over datasets, relative d.

    Column `datasets` says over which: "all" of them, and, when `well_fitted` (model, task) pairs are
    given, rows over those only (the surrogates with R^2 >= MIN_R2) added after them."""
    rows = _summary_rows(per_dataset, seed, ALL_DATASETS)
    if well_fitted is not None:
        keep = [(m, t) in well_fitted for m, t in zip(per_dataset["model"], per_dataset["task"], strict=True)]
        if any(keep):
            rows += _summary_rows(per_dataset[keep], seed, WELL_FITTED)
    return pd.DataFrame(rows)


def _summary_rows(per_dataset: pd.DataFrame, seed: int, datasets: str) -> list[dict]:
    overall = per_dataset[per_dataset["tuned"] == "all"].set_index(["model", "reference", "task"])["d"]
    rows = []
    for (model, ref), group in per_dataset.groupby(["model", "reference"], sort=False):
        for tuned, part in group.groupby("tuned", sort=False):
            # One bootstrap stream per row (its two subsets of datasets share it): a row's interval does not
            # move with the other families reported.
            rng = derive_rng("surrogate-tunability", seed, model, ref, tuned)
            values = part["d"].to_numpy(dtype=float)
            d_all = overall.loc[[(model, ref, t) for t in part["task"]]].to_numpy(dtype=float)
            relative = values / np.where(d_all > 0, d_all, np.nan)
            low, high = bootstrap_ci(values, rng)
            rows.append({"model": model, "reference": ref, "tuned": tuned, "datasets": datasets,
                         "mean": np.mean(values),
                         "median": np.median(values), "std": np.std(values, ddof=1) if len(values) > 1 else np.nan,
                         "ci_low": low, "ci_high": high,
                         "relative_mean": np.nanmean(relative) if np.isfinite(relative).any() else np.nan,
                         "relative_n_datasets": int(np.isfinite(relative).sum()), "n_datasets": len(values)})
    return rows


CHECK_KINDS = {"optimal": "optimal", "optimal_cv": "optimal_cv", "optimum": None}  # kind -> reference in
# surrogate_per_dataset (None: the dataset's optimum, f_optimum of its "all" row)


def surrogate_vs_real(study: pd.DataFrame, check: pd.DataFrame, optimal_defaults: pd.DataFrame,
                      per_dataset: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every surrogate claim beside its measurement: the configurations the surrogates chose, evaluated for real.

    `study`: the study's trials; `check`: the trials of its check experiment (the R default as the default
    trial, then the listed optimal default, cross-validated defaults and per-dataset optima; see
    benchmarks/probst_check.py); `optimal_defaults` and `per_dataset` the study's surrogate tables. Rows of
    `surrogate_vs_real`: per model, task and configuration kind, the surrogate's predicted validation loss, the
    measured validation loss (the same inner CV as the design) and the held-out test loss. Rows of
    `surrogate_vs_real_tunability`: per model and reference default, d predicted on the surrogates against d
    measured, with the design's best trial (or the measured optimum, if lower) as the tuned side.
    """
    from hpo_bench.space import config_key

    design = design_trials(study)
    best = design.groupby(["model", "task"])["loss"].min()
    done = check[check["state"] == "COMPLETE"]
    measured = {(r.model, r.task, config_key(json.loads(r.config))): (r.loss, r.test_loss)
                for r in done.itertuples()}
    r_default = done[done["source"] == "default"].set_index(["model", "task"])
    all_rows = per_dataset[per_dataset["tuned"] == "all"].set_index(["model", "task", "reference"])
    rows = []
    for d in optimal_defaults.itertuples():
        kind, config = d.kind, json.loads(d.config)
        tasks = sorted(check.loc[check["model"] == d.model, "task"].unique()) if kind == "optimal" else [d.task]
        for task in tasks:
            key = (d.model, task, CHECK_KINDS[kind] or "package")
            if key not in all_rows.index:
                continue  # a dataset the surrogates left out
            predicted = all_rows.loc[key, "f_reference" if CHECK_KINDS[kind] else "f_optimum"]
            loss, test = measured.get((d.model, task, config_key(config)), (np.nan, np.nan))
            rows.append({"model": d.model, "task": task, "kind": kind, "predicted": predicted, "measured": loss,
                         "measured_test": test})
    for (model, task), r in r_default.iterrows():
        key = (model, task, "probst2019")
        if key in all_rows.index:
            rows.append({"model": model, "task": task, "kind": "probst2019",
                         "predicted": all_rows.loc[key, "f_reference"], "measured": r["loss"],
                         "measured_test": r["test_loss"]})
    table = pd.DataFrame(rows)
    if table.empty:
        raise NotApplicable("the check store holds none of the configurations the surrogates chose")
    optimum = table[table["kind"] == "optimum"].set_index(["model", "task"])["measured"]
    tuned = pd.concat([best, optimum], axis=1).min(axis=1)
    d_rows = []
    for (model, kind), g in table[table["kind"] != "optimum"].groupby(["model", "kind"]):
        per_task = per_dataset[(per_dataset["model"] == model) & (per_dataset["reference"] == kind)
                               & (per_dataset["tuned"] == "all")].set_index("task")["d"]
        real = (g.set_index("task")["measured"] - tuned.loc[model].reindex(g["task"]).to_numpy()).clip(lower=0)
        d_rows.append({"model": model, "reference": kind, "d_predicted": per_task.reindex(g["task"]).mean(),
                       "d_measured": real.mean(), "mean_predicted_loss": g["predicted"].mean(),
                       "mean_measured_loss": g["measured"].mean(), "mean_measured_test_loss": g["measured_test"].mean(),
                       "n_datasets": int(real.notna().sum())})
    return {"surrogate_vs_real": table, "surrogate_vs_real_tunability": pd.DataFrame(d_rows)}


__all__ = ["design_trials", "fit_surrogates", "summarise", "surrogate_tunability", "surrogate_vs_real"]

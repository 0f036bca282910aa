"""Hyperparameter importance with Optuna's evaluators (fANOVA and PED-ANOVA), not reimplemented.

The fully tuned trials of each task x model x optimizer are loaded into an in-memory Optuna study with
the distributions of the space stored with their runs, then each evaluator ranks the parameters. Trials whose
configuration lies outside the space (a package default such as xgboost's reg_alpha = 0) are left out:
Optuna's distributions cannot hold them.

Optuna's fANOVA takes time growing faster than the number of trials (measured on xgboost's 9-d space: 5.4 s
for 400 trials, 23 s for 1,000, 82 s for 2,000), so a group of more than MAX_TRIALS trials (a surrogate
benchmark's 100 seeds x 40) is a random sample of that size, seeded by `seed`, for both evaluators (one
`n_trials` per row), and the table says how many of how many.
Every report committed before the cap had at most 783 per group.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.parallel import n_jobs
from hpo_bench.space import Categorical, Float, SearchSpace

MIN_TRIALS = 10
MAX_TRIALS = 800


def _distributions(space: SearchSpace) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for p in space:
        if isinstance(p, Categorical):
            out[p.name] = CategoricalDistribution(p.choices)
        elif isinstance(p, Float):
            out[p.name] = FloatDistribution(p.low, p.high, log=p.log)
        else:
            out[p.name] = IntDistribution(p.low, p.high, log=p.log)
    return out


def study_from_trials(space: SearchSpace, configs: list[dict], losses: list[float]):
    """An in-memory Optuna study holding the given (configuration, loss) pairs as complete trials."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = _distributions(space)
    study = optuna.create_study(direction="minimize")
    for config, loss in zip(configs, losses, strict=True):
        try:
            space.validate(config)
        except Exception:  # noqa: BLE001  (outside the space: see the module docstring)
            continue
        study.add_trial(optuna.trial.create_trial(
            params=dict(config), distributions={k: dists[k] for k in config}, value=float(loss)))
    return study


def _group_importance(space: SearchSpace, configs: list[dict], losses: list[float], seed: int):
    """fANOVA and PED-ANOVA of one group: (scores, n_trials), "constant", or None below MIN_TRIALS."""
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator, get_param_importances

    study = study_from_trials(space, configs, losses)
    if len(study.trials) < MIN_TRIALS:
        return None
    if np.ptp([t.value for t in study.trials]) == 0:
        return "constant"
    scores = {}
    for name, evaluator in (("fanova", FanovaImportanceEvaluator(seed=seed)),
                            ("ped_anova", PedAnovaImportanceEvaluator())):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature warnings from Optuna
            scores[name] = get_param_importances(study, evaluator=evaluator, normalize=True)
    return scores, len(study.trials)


def importance_table(trials: pd.DataFrame, spaces: Mapping[str, SearchSpace], seed: int = 0) -> pd.DataFrame:
    """Per task x model x optimizer x parameter: fANOVA and PED-ANOVA importance (each sums to 1), on
    `n_trials` of the group's `n_available` complete full-fidelity trials (all of them, or a seeded sample of
    MAX_TRIALS: see the module docstring).

    `spaces`: model -> the space its fully tuned runs searched (`Study.spaces`).
    """
    full = trials[(trials["tuned"] == "all") & (trials["state"] == "COMPLETE") & np.isclose(trials["fidelity"], 1)]
    jobs = []
    for (task, model_name, optimizer), group in full.groupby(["task", "model", "optimizer"], sort=True):
        if len(group) < MIN_TRIALS:
            continue
        available = len(group)
        if available > MAX_TRIALS:
            group = group.sample(n=MAX_TRIALS, random_state=seed).sort_index()
        jobs.append(((task, model_name, optimizer, available), spaces[model_name],
                     [json.loads(c) for c in group["config"]], group["loss"].tolist()))
    # The groups are independent and each evaluator is seeded, so the cores share them without changing a
    # number; fANOVA is most of a small report's time (the quickstart: 18 groups, 9 s on one core).
    with warnings.catch_warnings():
        # loky restarts a worker that its idle timeout stopped and warns about it: the results are unchanged
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given")
        results = Parallel(n_jobs=n_jobs(len(jobs)))(
            delayed(_group_importance)(space, configs, losses, seed) for _, space, configs, losses in jobs)
    rows = []
    constant = 0
    for ((task, model_name, optimizer, available), space, _, _), result in zip(jobs, results, strict=True):
        if result is None:
            continue
        if result == "constant":
            constant += 1  # every configuration scored the same: there is no variance to attribute
            continue
        scores, n_trials = result
        for param in space.names:
            rows.append({"task": task, "model": model_name, "optimizer": optimizer, "parameter": param,
                         "fanova": scores["fanova"].get(param, np.nan),
                         "ped_anova": scores["ped_anova"].get(param, np.nan), "n_trials": n_trials,
                         "n_available": available})
    if not rows:
        why = f"no task x model x optimizer has {MIN_TRIALS} complete fully tuned trials"
        if constant:
            why += f" with losses that differ ({constant} had the same loss for every configuration)"
        raise NotApplicable(why)
    return pd.DataFrame(rows)

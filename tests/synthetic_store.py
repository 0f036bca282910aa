"""Real stores whose losses are known functions of the configuration, written in seconds.

Real optimizers ask and are told the loss a function gives (no data, no fits), and every trial goes
into a real store through the Store API the scheduler uses, so analysis and reports read it as they read
any store. The truth is known, which is what tests of partial dependence and sampling need.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hpo_bench.models import DataShape, get_model
from hpo_bench.optimizers import get_optimizer
from hpo_bench.store import Store
from hpo_bench.trial import RunSpec, TrialRecord, TrialResult, TrialState

N_ROWS, N_FEATURES, CV_FOLDS = 500, 8, 3
SHAPE = DataShape(N_ROWS, N_FEATURES, 2)


@dataclass(frozen=True)
class _File:
    """What Store.bind_experiment records of an experiment file."""

    name: str
    text: str

    @property
    def path(self) -> str:
        return f"{self.name}.toml"

    @property
    def file_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    text_hash = file_hash


def _result(loss: float, fold_spread: float = 0.0) -> TrialResult:
    # Two metrics per fold, so that a report has a metric to switch to; logloss is just another function.
    # `fold_spread`: the folds' losses are loss - spread, loss, loss + spread (the same mean).
    folds = [loss + fold_spread * (k - (CV_FOLDS - 1) / 2) for k in range(CV_FOLDS)]
    return TrialResult(TrialState.COMPLETE, "1-auc", loss, folds, 0.01, 0.001,
                       fold_metrics={"1-auc": folds, "logloss": [2 * f + 0.05 for f in folds]})


def write_store(path: Path, name: str, losses: dict[str, Callable[[dict, float], float]], tasks: dict[str, float],
                optimizers: dict[str, str], budget: int, seeds: int = 1, include_default: bool = True,
                task_prefix: str = "", shift: Callable[[str, str, int], float] | None = None,
                fold_spread: float = 0.0) -> Path:
    """A store of `name`: for each model (loss(config, task offset)), task, optimizer (label -> type) and seed,
    one fully tuned run of `budget` trials, the package default first where `include_default`.

    `task_prefix`: the tasks are stored as prefix + name (a surrogate study's "surrogate:NAME/" tasks), with
    the same optimizer seeds and losses as without it. `shift(task, optimizer label, seed)`: added to every
    loss of that run, which gives the optimizers a known order. `fold_spread`: see `_result`.
    """
    stored = {task: task_prefix + task for task in tasks}
    text = (f'name = "{name}"\ntasks = {list(stored.values())!r}\nmodels = {list(losses)!r}\nbudget_evals = {budget}\n'
            f"seeds = {seeds}\ncv_folds = {CV_FOLDS}\ninclude_default = {str(include_default).lower()}\n\n"
            "[optimizers]\n" + "".join(f'{label} = {{ type = "{kind}" }}\n' for label, kind in optimizers.items()))
    with Store(path) as store:
        store.bind_experiment(_File(name, text.replace("'", '"')))
        store.start_session("tests/synthetic_store.py")
        for task in tasks:
            store.add_task({"name": stored[task], "source": "synthetic", "n_rows": N_ROWS, "n_features": N_FEATURES,
                            "n_classes": 2, "n_categorical": 0, "ids": {}, "fingerprint": f"synthetic-{stored[task]}",
                            "splits_official": False, "task_type": "classification"}, split_seed=0, n_folds=CV_FOLDS)
        for model, loss in losses.items():
            family = get_model(model)
            space = family.space
            for task, offset in tasks.items():
                for label, kind in optimizers.items():
                    for seed in range(seeds):
                        spec = RunSpec(seed, stored[task], model, label)
                        extra = shift(task, label, seed) if shift else 0.0
                        cls = get_optimizer(kind)
                        run_id = store.ensure_run(
                            spec, optimizer_type=kind, optimizer_options={}, optimizer_seed=seed, model_seed=seed,
                            budget_evals=budget, space_json=space.to_json(), space_fingerprint=space.fingerprint(),
                            task_fingerprint=f"synthetic-{stored[task]}", split_seed=0, adaptive=cls.adaptive)
                        optimizer = cls(space, seed=1000 * seed + sum(map(ord, task + label)), budget_evals=budget)
                        number = 0
                        if include_default:
                            default = family.package_default()
                            store.add_trial(run_id, TrialRecord(0, "default", default, 1.0,
                                                                _result(loss(family.concrete(default, SHAPE), offset)
                                                                        + extra, fold_spread),
                                                                {}, None, 0.0))
                            number = 1
                        spent = float(number)
                        while spent < budget - 1e-9:
                            suggestion = optimizer.ask()
                            result = _result(loss(suggestion.config, offset) + extra, fold_spread)
                            optimizer.tell(suggestion, result)
                            store.add_trial(run_id, TrialRecord(number, "optimizer", suggestion.config,
                                                                suggestion.fidelity, result, suggestion.info, None,
                                                                0.0))
                            number += 1
                            spent += suggestion.fidelity
                        store.finish_run(run_id, "done")
        store.finish_session()
    return path


def learning_rate_loss(config: dict, offset: float) -> float:
    """xgboost: a parabola in log2(learning_rate), lowest at 2^-4 (0.0625), nothing else matters."""
    return 0.1 + offset + 0.2 * ((math.log2(config["learning_rate"]) + 4) / 6) ** 2


def alpha_loss(config: dict, offset: float) -> float:
    """elastic_net: linear in alpha (the lasso worst), nothing else matters."""
    return 0.1 + offset + 0.15 * config["alpha"]


def neighbours_loss(config: dict, offset: float) -> float:
    """knn: lowest at k = 20 (as in tests/test_surrogate.py)."""
    return 0.1 + offset + ((config["n_neighbors"] - 20) / 30) ** 2

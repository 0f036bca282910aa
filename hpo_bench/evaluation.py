"""Evaluate one configuration on one task: preprocessing fitted per fold, CV losses, times, failures."""

from __future__ import annotations

import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from hpo_bench.models.base import DataShape, ModelFamily
from hpo_bench.tasks.base import Split, Task


class TrialState(StrEnum):
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"


@dataclass
class TrialResult:
    """What one evaluation produced. `loss` is None unless the state is COMPLETE.

    `error` says why a trial did not complete; on a COMPLETE trial it holds the warnings its fits raised
    (a solver stopped at max_iter: ConvergenceWarning), prefixed "warnings: ", or None if there were none.
    """

    state: TrialState
    metric: str
    loss: float | None = None
    fold_losses: list[float] = field(default_factory=list)
    fit_time_s: float = 0.0
    predict_time_s: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": str(self.state)}

    @classmethod
    def failed(cls, metric: str, error: str, state: TrialState = TrialState.FAILED) -> TrialResult:
        return cls(state=state, metric=metric, error=error)


def _auc_loss(y: np.ndarray, proba: np.ndarray) -> float:
    if proba.shape[1] == 2:
        return 1.0 - roc_auc_score(y, proba[:, 1])
    # Macro one-vs-rest over the classes present in the fold, as OpenML reports multiclass AUC.
    present = np.unique(y)
    return 1.0 - roc_auc_score(y, proba[:, present] / proba[:, present].sum(axis=1, keepdims=True),
                               multi_class="ovr", average="macro", labels=present)


def _logloss(y: np.ndarray, proba: np.ndarray) -> float:
    return log_loss(y, proba, labels=np.arange(proba.shape[1]))


def _error(y: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(proba.argmax(axis=1) != y))


# Every loss is minimised; its name is stored with every trial.
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "1-auc": _auc_loss,
    "logloss": _logloss,
    "error": _error,
}


# A categorical column keeps one indicator column for each of its most frequent categories, at most
# this many in all; the rarer ones share one "infrequent" column. This bounds the width that
# high-cardinality columns (ids, zip codes, free text) add, and fitting inside each fold keeps the
# choice of categories from looking at the test rows.
MAX_CATEGORIES = 32


def make_preprocessor(task: Task, scale: bool) -> ColumnTransformer:
    """The same preprocessing for every model and optimizer, fitted inside each training fold.

    Numeric columns: median imputation plus a missing-value indicator for each column that has missing
    values in the training fold (none are added for complete data), then optional standardisation.
    Categorical columns (categories of strings, see `Task`): one-hot encoding in which a missing value
    is a category of its own, categories beyond MAX_CATEGORIES - 1 grouped as "infrequent", and
    categories first seen in a test fold mapped to "infrequent" (or to all zeros if there is none).
    XGBoost gets the same one-hot columns as every other model, so differences between models are
    not differences in preprocessing.
    """
    categorical = set(task.categorical)
    numeric = [c for c in task.X.columns if c not in categorical]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        numeric_steps: list[Any] = [SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)]
        if scale:
            numeric_steps.append(StandardScaler())
        transformers.append(("numeric", make_pipeline(*numeric_steps), numeric))
    if task.categorical:
        transformers.append(("categorical", OneHotEncoder(
            handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES, sparse_output=False,
            dtype=np.float64), list(task.categorical)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def _full_proba(estimator: Any, X: Any, n_classes: int) -> np.ndarray:
    """predict_proba with one column per class of the task, even if a class was absent in training."""
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    classes = np.asarray(estimator.classes_)
    if proba.shape[1] == n_classes and np.array_equal(classes, np.arange(n_classes)):
        out = proba
    else:
        out = np.zeros((proba.shape[0], n_classes))
        out[:, classes.astype(int)] = proba
    if not np.all(np.isfinite(out)):
        raise ValueError("the model predicted non-finite probabilities")
    return out


def evaluate(task: Task, model: ModelFamily, config: Mapping[str, Any], *, fidelity: float, seed: int,
             splits: Sequence[Split], metric: str = "1-auc") -> TrialResult:
    """Cross-validate `config` on `task`. Never raises for a bad configuration: it returns FAILED."""
    loss_fn = METRICS[metric]
    fold_losses: list[float] = []
    fit_time = predict_time = 0.0
    # Warnings are recorded with the trial, not printed: a ConvergenceWarning per fold of every trial
    # would flood a run's output, and a trial that stopped at max_iter should say so in the store.
    caught: list[warnings.WarningMessage] = []
    try:
        for train, test in splits:
            shape = DataShape(n_samples=len(train), n_features=task.n_features, n_classes=task.n_classes)
            pipeline = Pipeline([
                ("preprocess", make_preprocessor(task, scale=model.needs_scaling)),
                ("model", model.make_estimator(config, seed=seed, fidelity=fidelity, shape=shape)),
            ])
            with warnings.catch_warnings(record=True) as fold_warnings:
                warnings.simplefilter("always")
                start = time.perf_counter()
                pipeline.fit(task.X.iloc[train], task.y[train])
                fit_time += time.perf_counter() - start
                start = time.perf_counter()
                proba = _full_proba(pipeline, task.X.iloc[test], task.n_classes)
                predict_time += time.perf_counter() - start
            caught.extend(fold_warnings)
            fold_losses.append(float(loss_fn(task.y[test], proba)))
    except Exception as exc:  # a bad configuration is a result, not a crash of the run
        last = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
        note = _warnings_note(caught)
        error = f"{error}; {note}" if note else error
        return TrialResult(state=TrialState.FAILED, metric=metric, fold_losses=fold_losses,
                           fit_time_s=fit_time, predict_time_s=predict_time, error=error)
    return TrialResult(state=TrialState.COMPLETE, metric=metric, loss=float(np.mean(fold_losses)),
                       fold_losses=fold_losses, fit_time_s=fit_time, predict_time_s=predict_time,
                       error=_warnings_note(caught))


def _warnings_note(caught: Sequence[warnings.WarningMessage]) -> str | None:
    """"warnings: Category: message (xN); ..." for the distinct warnings raised, or None."""
    counts: dict[str, int] = {}
    for w in caught:
        text = f"{w.category.__name__}: {' '.join(str(w.message).split())}"
        counts[text] = counts.get(text, 0) + 1
    if not counts:
        return None
    return "warnings: " + "; ".join(f"{text} (x{n})" if n > 1 else text for text, n in counts.items())

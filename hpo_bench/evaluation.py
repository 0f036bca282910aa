"""Evaluate one configuration on one task: preprocessing fitted per fold, CV losses, times, failures."""

from __future__ import annotations

import time
import traceback
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import (
    balanced_accuracy_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
    zero_one_loss,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from hpo_bench.models.base import DataShape, ModelFamily
from hpo_bench.tasks.base import CLASSIFICATION, REGRESSION, Split, Task
from hpo_bench.trial import TrialResult, TrialState


def _auc_loss(y: np.ndarray, proba: np.ndarray) -> float:
    if proba.shape[1] == 2:
        return 1.0 - roc_auc_score(y, proba[:, 1])
    # Macro one-vs-rest, as OpenML reports multiclass AUC. With every class in the fold, the rows are
    # scored as predicted: renormalising rows that already sum to 1 (within an ulp) would break exact
    # ties the other way and differ from plain roc_auc_score. Only where a class is absent from the
    # fold are the present classes' columns renormalised (roc_auc_score needs rows summing to 1).
    present = np.unique(y)
    if len(present) == proba.shape[1]:
        return 1.0 - roc_auc_score(y, proba, multi_class="ovr", average="macro")
    return 1.0 - roc_auc_score(y, proba[:, present] / proba[:, present].sum(axis=1, keepdims=True),
                               multi_class="ovr", average="macro", labels=present)


def _labels(proba: np.ndarray) -> np.ndarray:
    return np.arange(proba.shape[1])


# Every loss is minimised, every one is recorded for every fold of every trial (from one predict_proba
# per fold), and each is scikit-learn's own function, so a plain scikit-learn loop gives the same
# numbers to the last bit. Hard predictions are the argmax of the probabilities: every metric then
# scores the same prediction (SVC's predict and predict_proba can disagree).
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "1-auc": _auc_loss,
    "logloss": lambda y, proba: log_loss(y, proba, labels=_labels(proba)),
    "error": lambda y, proba: zero_one_loss(y, proba.argmax(axis=1)),
    # Binary: the mean squared error of the positive class's probability; multiclass: the mean squared
    # distance of the probability vector to the one-hot label (scikit-learn's brier_score_loss on both).
    "brier": lambda y, proba: brier_score_loss(y, proba, labels=_labels(proba)),
    "balanced_error": lambda y, proba: 1.0 - balanced_accuracy_score(y, proba.argmax(axis=1)),
}


# Regression: the same rules, on one predict per fold. 1 - R^2 is R^2 as a loss: 0 is a perfect fit,
# 1 predicting the test fold's mean, above 1 worse than that (scikit-learn's r2_score on the fold).
REGRESSION_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "rmse": root_mean_squared_error,
    "mae": mean_absolute_error,
    # R^2 is undefined on a test fold whose target is constant (its variance is the denominator):
    # force_finite=False returns NaN or -inf there, which fails the trial (see `evaluate`), where
    # scikit-learn's default would put a substitute 0 or 1 in the store as if it had been measured.
    "1-r2": lambda y, pred: 1.0 - r2_score(y, pred, force_finite=False),
}
METRICS_BY_TASK_TYPE = {CLASSIFICATION: METRICS, REGRESSION: REGRESSION_METRICS}
# Every metric name, for checking an experiment before its tasks are loaded.
ALL_METRICS = {**METRICS, **REGRESSION_METRICS}


def metric_task_type(metric: str) -> str:
    """The task type a metric scores: "classification" or "regression"."""
    return REGRESSION if metric in REGRESSION_METRICS else CLASSIFICATION


def score_fold(y: np.ndarray, predicted: np.ndarray, task_type: str = CLASSIFICATION) -> dict[str, float]:
    """Every metric of the task type on one fold's predictions: class probabilities (classification) or
    predicted values (regression)."""
    metrics = METRICS_BY_TASK_TYPE[task_type]
    with warnings.catch_warnings():
        # float32 probabilities (XGBoost's) sum to 1 within 1e-7 only; log_loss and brier_score_loss warn
        # about every such row although they score the values as given. Not a property of the trial.
        warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
        return {name: float(fn(y, predicted)) for name, fn in metrics.items()}


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


def scaled_target(regressor: Any) -> TransformedTargetRegressor:
    """`regressor` fitted on the training fold's target standardised (mean 0, variance 1) and predicting
    on the target's own scale.

    For the families that get standardised features (elastic net, kNN, SVM, MLP) the target is
    standardised too, as e1071's svm() does by default: their hyperparameters (lambda, SVR's epsilon and
    C, an MLP's learning rate) are on the scale of y, so the same space would mean a different model on
    every task (house prices in 1e5 against a target in units). Tree ensembles and trees are unaffected by
    the scale of y and get it as it is. Metrics score the predictions on the target's own scale.
    """
    return TransformedTargetRegressor(regressor=regressor, transformer=StandardScaler())


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


def _predictions(estimator: Any, X: Any, task: Task) -> np.ndarray:
    """What the metrics score: probabilities per class, or for regression the predicted values (float64)."""
    if not task.is_regression:
        return _full_proba(estimator, X, task.n_classes)
    predicted = np.asarray(estimator.predict(X), dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(predicted)):
        raise ValueError(f"the model predicted {int((~np.isfinite(predicted)).sum())} non-finite value(s)")
    return predicted


@dataclass
class PreparedFold:
    """One fold's preprocessing, fitted on its training rows: the transformed training and test rows, the
    seconds the fit and the transform took, and the warnings each raised (replayed into every trial that
    reuses them, so a trial records the same warnings whether or not it hit the cache)."""

    preprocessor: ColumnTransformer
    train: Any  # the task's training rows as the model sees them (as Pipeline would hand them over)
    fit_s: float
    fit_warnings: list[warnings.WarningMessage]
    test: Any = None  # None until `transform_test`
    transform_s: float = 0.0
    transform_warnings: list[warnings.WarningMessage] = field(default_factory=list)

    def transform_test(self, task: Task, test_rows: np.ndarray) -> None:
        if self.test is not None:
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            self.test = self.preprocessor.transform(task.X.iloc[test_rows])
            self.transform_s = time.perf_counter() - start
        self.transform_warnings = list(caught)

    @property
    def nbytes(self) -> int:
        return _nbytes(self.train) + _nbytes(self.test)


def _nbytes(array: Any) -> int:
    if array is None:
        return 0
    if hasattr(array, "data") and hasattr(array, "indices"):  # scipy.sparse CSR/CSC
        return int(array.data.nbytes + array.indices.nbytes + array.indptr.nbytes)
    if hasattr(array, "memory_usage"):  # a DataFrame, under scikit-learn's set_output(transform="pandas")
        return int(array.memory_usage(deep=True).sum())
    return int(getattr(array, "nbytes", 0))


def _fresh(array: Any) -> Any:
    """A copy the model may modify in place without touching the cached one; same memory layout."""
    return np.array(array, copy=True, order="K") if isinstance(array, np.ndarray) else array.copy()


# Per worker; enough for every fold of a few mid-sized tasks. A fold whose transformed rows alone are
# larger is preprocessed anew for each trial, as without a cache.
PREPROCESS_CACHE_BYTES = 256 * 2**20


class PreprocessCache:
    """Preprocessed folds kept between evaluations, least recently used dropped first.

    The preprocessing depends on the task, the fold and whether the family wants scaled features, never
    on the configuration or the seed (median imputation, standardisation, one-hot encoding: no
    randomness), so every trial on a fold would fit the very same transformers to the very same rows.
    A worker fits them once per fold and hands the model a copy of the same arrays: on iris (3 folds)
    that was half of an evaluation's CPU time with a dummy model, a third with a 5-tree forest.
    Entries are keyed by the identity of the task and the fold's index arrays and keep them alive, so
    a key cannot be reused by another object: the worker's context holds the same objects for its
    whole life.
    """

    def __init__(self, max_bytes: int = PREPROCESS_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple[int, int, int, bool], tuple[Task, Split, PreparedFold]] = OrderedDict()

    def get(self, task: Task, fold: Split, scale: bool) -> PreparedFold | None:
        key = (id(task), id(fold[0]), id(fold[1]), scale)
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[2]

    def put(self, task: Task, fold: Split, scale: bool, prepared: PreparedFold) -> None:
        """Keep `prepared` (training and test rows both transformed), unless kept already or too large."""
        key = (id(task), id(fold[0]), id(fold[1]), scale)
        if key in self._entries or prepared.nbytes > self.max_bytes:
            return
        self._entries[key] = (task, fold, prepared)
        self.nbytes += prepared.nbytes
        while self.nbytes > self.max_bytes:
            _, _, dropped = self._entries.popitem(last=False)[1]
            self.nbytes -= dropped.nbytes


def _prepare_fold(task: Task, fold: Split, scale: bool, cache: PreprocessCache | None) -> PreparedFold:
    prepared = cache.get(task, fold, scale) if cache is not None else None
    if prepared is not None:
        return prepared
    train = fold[0]
    preprocessor = make_preprocessor(task, scale=scale)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        transformed = preprocessor.fit_transform(task.X.iloc[train], task.y[train])
        fit_s = time.perf_counter() - start
    return PreparedFold(preprocessor, transformed, fit_s, list(caught))


def evaluate(task: Task, model: ModelFamily, config: Mapping[str, Any], *, fidelity: float, seed: int,
             splits: Sequence[Split], metric: str = "1-auc", cache: PreprocessCache | None = None) -> TrialResult:
    """Cross-validate `config` on `task`. Never raises for a bad configuration: it returns FAILED.

    A fold whose score is not finite (AUC on a test fold with one class) makes the trial FAILED with
    the reason: a mean over folds with a NaN in it is not a loss an optimizer or a table can use.
    `model` is the family for the task's type (`family.for_task(task.task_type)`); every metric of that
    type is recorded per fold.

    Each fold is exactly a `Pipeline([make_preprocessor(...), model])` fitted on the training rows and
    asked for predictions on the test rows, done in its two steps so that the preprocessing can come
    from `cache` (see `PreprocessCache`): the numbers are the same to the last bit with or without it.
    `fit_time_s` and `predict_time_s` include the preprocessing's fit and transform as measured when
    it was computed, so a trial is charged the same time whether or not it reused them.
    """
    fold_metrics: dict[str, list[float]] = {name: [] for name in METRICS_BY_TASK_TYPE[task.task_type]}
    if metric not in fold_metrics or model.task_type != task.task_type:
        raise ValueError(f"{task.name} is a {task.task_type} task: metric {metric!r} and the {model.task_type} "
                         f"family of {model.name} do not apply (metrics: {list(fold_metrics)})")
    fit_time = predict_time = 0.0
    # Warnings are recorded with the trial, not printed: a ConvergenceWarning per fold of every trial
    # would flood a run's output, and a trial that stopped at max_iter should say so in the store.
    caught: list[warnings.WarningMessage] = []
    try:
        for split in splits:
            train, test = split
            shape = DataShape(n_samples=len(train), n_features=task.n_features, n_classes=task.n_classes)
            estimator = model.make_estimator(config, seed=seed, fidelity=fidelity, shape=shape)
            final = scaled_target(estimator) if task.is_regression and model.needs_scaling else estimator
            with warnings.catch_warnings(record=True) as fold_warnings:
                warnings.simplefilter("always")
                # In Pipeline's order: preprocessing fit, model fit, test transform, predict, so the
                # warnings (and the first error) come in the same order as from a Pipeline.
                fold = _prepare_fold(task, split, model.needs_scaling, cache)
                fold_warnings.extend(fold.fit_warnings)
                X_train = _fresh(fold.train)
                start = time.perf_counter()
                final.fit(X_train, task.y[train])
                fit_time += fold.fit_s + time.perf_counter() - start
                fold.transform_test(task, test)
                if cache is not None:  # once both halves are done, so its size is known (kept once)
                    cache.put(task, split, model.needs_scaling, fold)
                fold_warnings.extend(fold.transform_warnings)
                X_test = _fresh(fold.test)
                start = time.perf_counter()
                predicted = _predictions(final, X_test, task)
                predict_time += fold.transform_s + time.perf_counter() - start
                scores = score_fold(task.y[test], predicted, task.task_type)
            caught.extend(fold_warnings)
            for name, value in scores.items():
                fold_metrics[name].append(value)
            bad = [name for name, value in scores.items() if not np.isfinite(value)]
            if bad:
                if task.is_regression:
                    content = ", its target constant" if np.ptp(task.y[test]) == 0 else ""
                else:
                    content = f" of {len(np.unique(task.y[test]))} class(es)"
                raise ValueError(f"fold {len(fold_metrics[metric]) - 1}: {', '.join(bad)} not finite "
                                 f"({scores[bad[0]]}; the test fold has {len(test)} rows{content})")
    except Exception as exc:  # a bad configuration is a result, not a crash of the run
        last = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
        note = _warnings_note(caught)
        error = f"{error}; {note}" if note else error
        return TrialResult(state=TrialState.FAILED, metric=metric, fold_losses=fold_metrics[metric],
                           fit_time_s=fit_time, predict_time_s=predict_time, error=error, fold_metrics=fold_metrics)
    fold_losses = fold_metrics[metric]
    return TrialResult(state=TrialState.COMPLETE, metric=metric, loss=float(np.mean(fold_losses)),
                       fold_losses=fold_losses, fit_time_s=fit_time, predict_time_s=predict_time,
                       error=_warnings_note(caught), fold_metrics=fold_metrics)


def _warnings_note(caught: Sequence[warnings.WarningMessage]) -> str | None:
    """"warnings: Category: message (xN); ..." for the distinct warnings raised, or None."""
    counts: dict[str, int] = {}
    for w in caught:
        text = f"{w.category.__name__}: {' '.join(str(w.message).split())}"
        counts[text] = counts.get(text, 0) + 1
    if not counts:
        return None
    return "warnings: " + "; ".join(f"{text} (x{n})" if n > 1 else text for text, n in counts.items())

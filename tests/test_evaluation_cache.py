"""The workers' preprocessing cache: the same numbers and warnings as without it, bounded in size, and
safe from models that write into their input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier

from hpo_bench.evaluation import PreprocessCache, evaluate
from hpo_bench.models import MODELS
from hpo_bench.models.base import ModelFamily
from hpo_bench.space import Float, SearchSpace
from hpo_bench.tasks.base import Task
from hpo_bench.trial import TrialState


def same(a, b) -> bool:
    return (a.state, a.loss, a.fold_losses, a.fold_metrics, a.error) == (b.state, b.loss, b.fold_losses,
                                                                          b.fold_metrics, b.error)


def test_cached_folds_give_every_metric_to_the_last_bit_and_are_fitted_once_per_fold(iris, breast_cancer):
    cache = PreprocessCache()
    for task, name in ((iris, "random_forest"), (breast_cancer, "knn")):  # unscaled and scaled features
        family = MODELS[name]
        splits = task.cv_splits(3, seed=1)
        rng = np.random.default_rng(0)
        configs = [family.package_default(), family.space.sample(rng), family.space.sample(rng)]
        for i, config in enumerate(configs):
            if "n_estimators" in config:
                config = {**config, "n_estimators": 10}
            plain = evaluate(task, family, config, fidelity=1.0, seed=i, splits=splits)
            cached = evaluate(task, family, config, fidelity=1.0, seed=i, splits=splits, cache=cache)
            assert plain.state == TrialState.COMPLETE and same(plain, cached)
            assert cached.fit_time_s > 0 and cached.predict_time_s > 0
    assert cache.misses == 6 and cache.hits == 12  # 2 tasks x 3 folds, fitted once each, reused twice


def test_preprocessing_warnings_are_recorded_by_every_trial_that_reuses_the_fold():
    # Values near 1e200 overflow the scaler's variance (RuntimeWarning in its fit), a warning raised only
    # by the first trial on the fold when the cache holds it: the later ones must still record it.
    n = 60
    X = pd.DataFrame({"x": np.r_[np.arange(50.0) * 1e200, np.arange(10.0)], "w": np.arange(n, dtype=float)})
    task = Task(name="huge", X=X, y=np.array([0, 1] * 30), classes=["no", "yes"])
    splits = [(np.arange(50), np.arange(50, n))]
    family = MODELS["knn"]  # scaled features
    cache = PreprocessCache()
    plain = evaluate(task, family, family.package_default(), fidelity=1.0, seed=0, splits=splits)
    assert plain.state == TrialState.COMPLETE and "overflow" in (plain.error or "")
    for _ in range(2):
        cached = evaluate(task, family, family.package_default(), fidelity=1.0, seed=0, splits=splits, cache=cache)
        assert same(plain, cached)
    assert cache.hits == 1


class _Scribbler(DummyClassifier):
    """Overwrites the rows it is fitted on, as an estimator working in place may: the cache must hand
    out copies."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _Scribbler:
        X[:] = np.nan
        return super().fit(X, y, sample_weight)


class ScribblingFamily(ModelFamily):
    name = "scribbler"
    library = "sklearn.dummy.DummyClassifier"
    space = SearchSpace([Float("x", 0.0, 1.0, default=0.5)])

    def package_default(self) -> dict[str, Any]:
        return {"x": 0.5}

    def make_estimator(self, config, *, seed, fidelity, shape):
        return _Scribbler(strategy="prior")


def test_a_model_that_writes_into_its_input_does_not_change_the_cached_rows(iris):
    cache = PreprocessCache()
    splits = iris.cv_splits(3, seed=0)
    evaluate(iris, ScribblingFamily(), {"x": 0.5}, fidelity=1.0, seed=0, splits=splits, cache=cache)
    family = MODELS["decision_tree"]
    plain = evaluate(iris, family, family.package_default(), fidelity=1.0, seed=0, splits=splits)
    cached = evaluate(iris, family, family.package_default(), fidelity=1.0, seed=0, splits=splits, cache=cache)
    assert cache.hits == 3 and same(plain, cached)


def test_the_cache_keeps_at_most_max_bytes_dropping_the_least_recently_used(iris, breast_cancer):
    family = MODELS["decision_tree"]
    config = family.package_default()
    one_iris_fold = 150 * 4 * 8  # every row of iris, train or test, as float64
    cache = PreprocessCache(max_bytes=one_iris_fold)
    evaluate(iris, family, config, fidelity=1.0, seed=0, splits=iris.cv_splits(3, seed=0), cache=cache)
    assert cache.nbytes == one_iris_fold and len(cache._entries) == 1  # the last fold, the others dropped
    evaluate(breast_cancer, family, config, fidelity=1.0, seed=0, splits=breast_cancer.cv_splits(3, seed=0),
             cache=cache)
    assert len(cache._entries) == 1 and cache.nbytes == one_iris_fold  # too large to keep: not kept

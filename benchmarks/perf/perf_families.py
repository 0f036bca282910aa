"""Fixed-cost model families for the performance benchmark, importable as "perf_families:NAME".

A random forest with a fixed number of trees (only max_features varies), so every evaluation costs about
the same and a cheap and a medium load are two settings of one knob (3-fold CV, one thread, on a quiet
2-core VM: RF_CHEAP on iris ~40 ms an evaluation, RF_MEDIUM on digits ~2 s); and a dummy classifier, so
that what is measured in (c) is the driver, not the fits.
"""

from __future__ import annotations

from hpo_bench.models.base import ModelFamily
from hpo_bench.space import Float, SearchSpace


class FixedForest(ModelFamily):
    library = "sklearn.ensemble.RandomForestClassifier"
    space = SearchSpace([Float("max_features", 0.1, 1.0, default=0.5)])

    def __init__(self, name: str, n_estimators: int) -> None:
        self.name = name
        self.n_estimators = n_estimators

    def package_default(self):
        return {"max_features": 0.5}

    def make_estimator(self, config, *, seed, fidelity, shape):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=self.n_estimators, max_features=config["max_features"],
                                      random_state=seed, n_jobs=1)


class Dummy(ModelFamily):
    name = "dummy"
    library = "sklearn.dummy.DummyClassifier"
    space = SearchSpace([Float("x", 0.0, 1.0, default=0.5)])

    def package_default(self):
        return {"x": 0.5}

    def make_estimator(self, config, *, seed, fidelity, shape):
        from sklearn.dummy import DummyClassifier

        return DummyClassifier(strategy="prior")


RF_CHEAP = FixedForest("rf_cheap", 5)
RF_MEDIUM = FixedForest("rf_medium", 200)
DUMMY = Dummy()

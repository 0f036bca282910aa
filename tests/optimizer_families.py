"""A cheap model family with a fidelity and a conditional space, for scheduler tests of the optimizers.

Importable by the worker processes as "optimizer_families:TINY_FOREST" (tests/ is on the path).
"""

from __future__ import annotations

from hpo_bench.models.base import ModelFamily
from hpo_bench.space import Categorical, Condition, Float, Int, SearchSpace


class TinyForest(ModelFamily):
    name = "tiny_forest"
    library = "sklearn.ensemble.RandomForestClassifier"
    fidelity_param = "n_estimators"
    space = SearchSpace([
        Int("n_estimators", 1, 16, log=True, default=8),
        Categorical("criterion", ("gini", "entropy")),
        Categorical("bootstrap", (True, False)),
        Float("max_samples", 0.2, 1.0, default=1.0, condition=Condition("bootstrap", (True,))),
        Int("max_depth", 1, 6, default=3),
    ])

    def package_default(self):
        return {"n_estimators": 8, "criterion": "gini", "bootstrap": True, "max_samples": 1.0, "max_depth": 3}

    def make_estimator(self, config, *, seed, fidelity, shape):
        from sklearn.ensemble import RandomForestClassifier

        params = self.scaled(config, fidelity)
        if not params["bootstrap"]:
            params.pop("max_samples", None)
        return RandomForestClassifier(**params, random_state=seed, n_jobs=1)


TINY_FOREST = TinyForest()

"""Random forest (scikit-learn), space of Probst, Boulesteix & Bischl 2019 (ranger in the paper)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from hpo_bench.models.base import DataShape, ModelFamily
from hpo_bench.space import Categorical, Condition, Float, Int, SearchSpace


class RandomForestFamily(ModelFamily):
    name = "random_forest"
    library = "sklearn.ensemble.RandomForestClassifier"
    fidelity_param = "n_estimators"

    @cached_property
    def space(self) -> SearchSpace:
        return SearchSpace([
            Int("n_estimators", 1, 2000, default=100),
            Categorical("bootstrap", (True, False), default=True),
            Float("max_samples", 0.1, 1.0, default=1.0, condition=Condition("bootstrap", (True,))),
            # A fraction of the p features (mtry / p in the paper); (0, 1] starts at 0.01.
            Float("max_features", 0.01, 1.0, default=0.5),
            # min_samples_leaf = round(n ** x) for x in [0, 1], n the training rows (min.node.size).
            Float("min_samples_leaf_exp", 0.0, 1.0, default=0.0),
        ])

    def package_default(self) -> dict[str, Any]:
        # scikit-learn's defaults: max_samples None draws n rows (= 1.0), min_samples_leaf 1 (= n ** 0).
        return {"n_estimators": 100, "bootstrap": True, "max_samples": 1.0, "max_features": "sqrt",
                "min_samples_leaf_exp": 0.0}

    def named_defaults(self) -> dict[str, dict[str, Any]]:
        # ranger(): 500 trees, bootstrap of n rows, mtry = floor(sqrt(p)), min.node.size 1.
        return {"probst2019": {**self.package_default(), "n_estimators": 500}}

    def concrete(self, config: Mapping[str, Any], shape: DataShape) -> dict[str, Any]:
        config = dict(config)
        if config.get("max_features") == "sqrt":  # scikit-learn takes max(1, int(sqrt(p)))
            config["max_features"] = max(1, int(np.sqrt(shape.n_features))) / max(1, shape.n_features)
        return config

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        from sklearn.ensemble import RandomForestClassifier

        params = self.scaled(config, fidelity)
        exponent = params.pop("min_samples_leaf_exp")
        params["min_samples_leaf"] = max(1, round(shape.n_samples**exponent))
        if not params["bootstrap"]:
            params.pop("max_samples", None)
        return RandomForestClassifier(**params, random_state=seed, n_jobs=1)


FAMILY = RandomForestFamily()

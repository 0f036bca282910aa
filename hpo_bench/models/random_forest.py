"""Random forest (scikit-learn), space of Probst, Boulesteix & Bischl 2019 (ranger in the paper).

Regression: RandomForestRegressor (squared error) with the same space and fidelity. Its package default
differs from the classifier's in max_features: scikit-learn's regressor considers every feature at each
split (max_features = 1.0), not sqrt(p). The "probst2019" default for regression is ranger's regression
default: 500 trees, bootstrap of n rows, mtry = floor(sqrt(p)) (ranger uses sqrt(p) for regression too;
p/3 is randomForest's rule) and min.node.size = 5. In this space min.node.size is min_samples_leaf =
round(n ** x), so 5 rows is the symbolic exponent "log_n(5)" (x = log(5) / log(n), whatever the n).
As for the classifier, ranger's min.node.size is strictly the smallest node that may still be split,
not the smallest leaf; the space maps it to the leaf size throughout.

The probst2019 space (the mlr random bot's): sample.fraction is sampled whether or not rows are drawn
with replacement, so `max_samples` has no condition there, and bootstrap = False with max_samples < 1
draws that share of the rows *without* replacement for each tree, as ranger's replace = FALSE does.
scikit-learn's forest cannot subsample without replacement, so such a configuration is fitted as a
bagging ensemble of the same randomised trees (BaggingClassifier of DecisionTreeClassifier with the
forest's max_features and leaf size: per-split feature sampling, probabilities averaged over trees).
The family's own space never produces it (there max_samples is inactive without bootstrap).
ranger's respect.unordered.factors has no counterpart: the evaluation encodes categorical features
before any model sees them, so it is left out of the space (its d cannot be measured here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from hpo_bench.models.base import DataShape, ModelFamily, pair_families
from hpo_bench.space import Categorical, Condition, Float, Int, SearchSpace

# ranger's regression min.node.size = 5 as min_samples_leaf_exp: round(n ** log_n(5)) = 5 rows.
FIVE_ROWS = "log_n(5)"


def _subsampled_forest(params: Mapping[str, Any], seed: int, *, regression: bool) -> Any:
    """A random forest whose trees each see a share `max_samples` of the rows drawn without replacement
    (ranger's replace = FALSE with sample.fraction < 1; see the module docstring)."""
    from sklearn.ensemble import BaggingClassifier, BaggingRegressor
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    tree = (DecisionTreeRegressor if regression else DecisionTreeClassifier)(
        max_features=params["max_features"], min_samples_leaf=params["min_samples_leaf"])
    bagging = BaggingRegressor if regression else BaggingClassifier
    return bagging(estimator=tree, n_estimators=params["n_estimators"], max_samples=float(params["max_samples"]),
                   bootstrap=False, random_state=seed, n_jobs=1)


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

    def named_spaces(self) -> dict[str, SearchSpace]:
        # The bot's space (PhilippPro/tunability, R/helpers.R lines 39-45): num.trees [1, 2000], replace,
        # sample.fraction [0.1, 1] with no `requires` (line 42, unlike the family's own space), mtry and
        # min.node.size as fractions/exponents in [0, 1] (scaled as R/makeSurrogateModels.R does: mtry / p,
        # log(min.node.size) / log(n)). respect.unordered.factors (line 44) is left out (module docstring).
        return {"probst2019": SearchSpace([
            Int("n_estimators", 1, 2000, default=500),
            Categorical("bootstrap", (True, False), default=True),
            Float("max_samples", 0.1, 1.0, default=1.0),
            Float("max_features", 0.01, 1.0, default=0.5),
            Float("min_samples_leaf_exp", 0.0, 1.0, default=0.0),
        ])}

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
        if not params["bootstrap"] and params.get("max_samples", 1.0) < 1.0:
            return _subsampled_forest(params, seed, regression=False)
        if not params["bootstrap"]:
            params.pop("max_samples", None)
        return RandomForestClassifier(**params, random_state=seed, n_jobs=1)


class RandomForestRegressorFamily(RandomForestFamily):
    """The regressor: the classifier's space and fidelity on RandomForestRegressor."""

    task_type = "regression"
    library = "sklearn.ensemble.RandomForestRegressor"

    def package_default(self) -> dict[str, Any]:
        # scikit-learn's regressor defaults: max_features = 1.0 (every feature), the rest as the classifier's.
        return {"n_estimators": 100, "bootstrap": True, "max_samples": 1.0, "max_features": 1.0,
                "min_samples_leaf_exp": 0.0}

    def named_defaults(self) -> dict[str, dict[str, Any]]:
        # ranger() for regression: 500 trees, bootstrap of n rows, mtry = floor(sqrt(p)), min.node.size 5.
        return {"probst2019": {"n_estimators": 500, "bootstrap": True, "max_samples": 1.0, "max_features": "sqrt",
                               "min_samples_leaf_exp": FIVE_ROWS}}

    def concrete(self, config: Mapping[str, Any], shape: DataShape) -> dict[str, Any]:
        config = super().concrete(config, shape)
        if config.get("min_samples_leaf_exp") == FIVE_ROWS:
            # n ** x = 5, capped to the range's top (n rows) for folds of 5 rows or fewer.
            config["min_samples_leaf_exp"] = min(1.0, math.log(5) / math.log(shape.n_samples)) if (
                shape.n_samples > 1) else 1.0
        return config

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        params = self.scaled(config, fidelity)
        exponent = params.pop("min_samples_leaf_exp")
        params["min_samples_leaf"] = 5 if exponent == FIVE_ROWS else max(1, round(shape.n_samples**exponent))
        if not params["bootstrap"] and params.get("max_samples", 1.0) < 1.0:
            return _subsampled_forest(params, seed, regression=True)
        if not params["bootstrap"]:
            params.pop("max_samples", None)
        return RandomForestRegressor(**params, random_state=seed, n_jobs=1)


FAMILY = RandomForestFamily()
REGRESSOR = RandomForestRegressorFamily()
pair_families(FAMILY, REGRESSOR)

"""XGBoost (gradient-boosted trees or linear boosting), space of Probst, Boulesteix & Bischl 2019.

Regression: XGBRegressor with objective reg:squarederror, the same space, defaults and fidelity; every
hyperparameter carries over unchanged (xgboost's defaults do not depend on the objective).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from hpo_bench.models.base import DataShape, ModelFamily, pair_families
from hpo_bench.space import Categorical, Condition, Float, Int, SearchSpace

_TREE = Condition("booster", ("gbtree",))


class XGBoostFamily(ModelFamily):
    name = "xgboost"
    library = "xgboost.XGBClassifier"
    fidelity_param = "n_estimators"

    @cached_property
    def space(self) -> SearchSpace:
        return SearchSpace([
            Int("n_estimators", 1, 5000, log=True, default=100),
            Float("learning_rate", 2**-10, 1.0, log=True, default=0.3),
            Float("subsample", 0.1, 1.0, default=1.0),
            Categorical("booster", ("gbtree", "gblinear"), default="gbtree"),
            Int("max_depth", 1, 15, default=6, condition=_TREE),
            Float("min_child_weight", 1.0, 2.0**7, log=True, default=1.0, condition=_TREE),
            # (0, 1] in the paper; a column fraction of 0 is undefined, so the range starts at 0.01.
            Float("colsample_bytree", 0.01, 1.0, default=1.0, condition=_TREE),
            Float("colsample_bylevel", 0.01, 1.0, default=1.0, condition=_TREE),
            Float("reg_lambda", 2**-10, 2**10, log=True, default=1.0),
            # The package default, 0, lies below the log range; the space's own default is its low end.
            Float("reg_alpha", 2**-10, 2**10, log=True, default=2**-10),
        ])

    def named_spaces(self) -> dict[str, SearchSpace]:
        # The bot's space (PhilippPro/tunability, R/helpers.R lines 49-59; the paper's Table 1): the same
        # ranges as the family's, but nrounds integer *uniform* on [1, 5000] (helpers.R line 50 has no trafo),
        # where the family's own space samples it log-uniformly. colsample_* start at 0.01 as in the family's
        # space: the bot's lower bound 0 is a column fraction xgboost refuses.
        own = self.space
        return {"probst2019": SearchSpace([Int("n_estimators", 1, 5000, default=500),
                                           *[p for p in own if p.name != "n_estimators"]])}

    def package_default(self) -> dict[str, Any]:
        # xgboost's documented defaults (the scikit-learn wrapper's n_estimators is 100).
        return {"n_estimators": 100, "learning_rate": 0.3, "subsample": 1.0, "booster": "gbtree",
                "max_depth": 6, "min_child_weight": 1.0, "colsample_bytree": 1.0, "colsample_bylevel": 1.0,
                "reg_lambda": 1.0, "reg_alpha": 0.0}

    def named_defaults(self) -> dict[str, dict[str, Any]]:
        # The defaults of Probst et al.'s mlr setup: nrounds 500 and alpha 1, the rest xgboost's own.
        return {"probst2019": {**self.package_default(), "n_estimators": 500, "reg_alpha": 1.0}}

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        from xgboost import XGBClassifier

        # One thread per fit: parallelism comes from running many evaluations at once.
        return XGBClassifier(**self.scaled(config, fidelity), random_state=seed, n_jobs=1, tree_method="hist",
                             verbosity=0)


class XGBoostRegressorFamily(XGBoostFamily):
    """The regressor: the classifier's space, defaults and fidelity on XGBRegressor (squared error)."""

    task_type = "regression"
    library = "xgboost.XGBRegressor"

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        from xgboost import XGBRegressor

        return XGBRegressor(**self.scaled(config, fidelity), objective="reg:squarederror", random_state=seed,
                            n_jobs=1, tree_method="hist", verbosity=0)


FAMILY = XGBoostFamily()
REGRESSOR = XGBoostRegressorFamily()
pair_families(FAMILY, REGRESSOR)

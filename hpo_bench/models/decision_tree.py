"""Decision tree: rpart's space (Probst, Boulesteix & Bischl 2019) on scikit-learn's CART.

The mapping, parameter by parameter:

- maxdepth -> max_depth (the same; rpart counts the root as depth 0, as scikit-learn does).
- minbucket -> min_samples_leaf (the same: the fewest rows in a leaf).
- minsplit -> min_samples_split = max(2, minsplit). rpart accepts minsplit = 1, scikit-learn needs at
  least 2; a node of one row cannot be split in either, so 1 and 2 grow the same tree.
- cp -> cost-complexity pruning with ccp_alpha = cp * R(root). rpart's cp is *relative*: a split (and,
  after growing, a subtree) is kept only if it lowers the tree's risk by at least cp times the root
  node's risk, so cp = 1 always gives the root alone and cp = 0 the full tree, whatever the data.
  scikit-learn's ccp_alpha is *absolute*: minimal cost-complexity pruning of R(T) + ccp_alpha * |T|,
  with R(T) the sample-weighted Gini impurity of the leaves. Scaling by the root's Gini impurity R(root)
  (computed from the training fold's labels at fit time) makes it relative the same way: cp = 1 prunes
  to the root (no subtree can lower the impurity by more than R(root)) and cp = 0 prunes nothing.
  Passing cp to ccp_alpha directly would not be the same thing: the largest useful ccp_alpha is at
  most 1 - 1/K for K classes and usually far below it, so most of [0, 1] would give the root alone.
  What remains different: rpart measures risk by misclassification during pruning and Gini for the
  split search, scikit-learn uses Gini for both; rpart also stops growing early at cp, scikit-learn
  grows the full tree (within depth and size limits) and then prunes. xval = 0 (no internal CV) is
  what rpart's pruning at a fixed cp amounts to here.

Package default: scikit-learn's (max_depth None, min_samples_split 2, min_samples_leaf 1, ccp_alpha 0),
not rpart's (cp 0.01, maxdepth 30, minsplit 20, minbucket 7), which are the space's defaults.
There is no fidelity parameter.

Regression (rpart's method = "anova" -> DecisionTreeRegressor, squared error). The same space and
mapping; cp is relative to the root's risk on the squared-error scale: ccp_alpha = cp * R(root), with
R(root) the mean squared error of the root node, i.e. the training fold's variance of y (1/n, not
1/(n-1)). scikit-learn's R(T) for regression is the sample-weighted MSE of the leaves, so again cp = 1
gives the root alone and cp = 0 the unpruned tree. For regression rpart both splits and prunes on the
sum of squares, so the only difference left is that rpart stops growing early at cp. Package default:
scikit-learn's DecisionTreeRegressor() in rpart's terms (as for the classifier); probst2019: the same
rpart.control() defaults, which do not depend on the method.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from hpo_bench.models.base import DataShape, ModelFamily, pair_families
from hpo_bench.space import Float, Int, SearchSpace


def gini(y: np.ndarray) -> float:
    """Gini impurity of a label vector: 1 - sum_k p_k^2."""
    _, counts = np.unique(y, return_counts=True)
    p = counts / counts.sum()
    return float(1.0 - np.sum(p**2))


class _RelativeCp(BaseEstimator):
    """A scikit-learn tree pruned at ccp_alpha = cp * R(root), R(root) the risk of the root node on the
    training targets (`_root_risk`). A wrapper rather than a fixed ccp_alpha because the root's risk is
    known only at fit time."""

    _tree: Any = None

    def __init__(self, cp: float = 0.0, max_depth: int | None = None, min_samples_split: int = 2,
                 min_samples_leaf: int = 1, random_state: int | None = None) -> None:
        self.cp = cp
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    @staticmethod
    def _root_risk(y: np.ndarray) -> float:
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> _RelativeCp:
        self.ccp_alpha_ = self.cp * self._root_risk(np.asarray(y))
        self.tree_model_ = self._tree(
            ccp_alpha=self.ccp_alpha_, max_depth=self.max_depth, min_samples_split=self.min_samples_split,
            min_samples_leaf=self.min_samples_leaf, random_state=self.random_state).fit(X, y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.tree_model_.predict(X)


class RelativeCpTree(ClassifierMixin, _RelativeCp):
    """A DecisionTreeClassifier pruned at ccp_alpha = cp * (Gini impurity of the training labels)."""

    _tree = DecisionTreeClassifier
    _root_risk = staticmethod(gini)

    def fit(self, X: Any, y: Any) -> RelativeCpTree:
        super().fit(X, y)
        self.classes_ = self.tree_model_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.tree_model_.predict_proba(X)


class RelativeCpTreeRegressor(RegressorMixin, _RelativeCp):
    """A DecisionTreeRegressor pruned at ccp_alpha = cp * (variance of the training targets), the root's MSE."""

    _tree = DecisionTreeRegressor

    @staticmethod
    def _root_risk(y: np.ndarray) -> float:
        return float(np.var(np.asarray(y, dtype=float)))


# rpart's deepest tree (rpart.control's maxdepth limit): the top of the space, and where scikit-learn's
# unlimited depth is placed.
MAX_DEPTH = 30


class DecisionTreeFamily(ModelFamily):
    name = "decision_tree"
    library = "sklearn.tree.DecisionTreeClassifier"
    fidelity_param = None

    @cached_property
    def space(self) -> SearchSpace:
        # rpart's names for the ranges of the paper; the defaults are rpart's.
        return SearchSpace([
            Float("cp", 0.0, 1.0, default=0.01),
            Int("maxdepth", 1, MAX_DEPTH, default=MAX_DEPTH),
            Int("minbucket", 1, 60, default=7),
            Int("minsplit", 1, 60, default=20),
        ])

    def named_spaces(self) -> dict[str, SearchSpace]:
        # The bot's space is the family's own (PhilippPro/tunability, R/helpers.R lines 11-15: cp [0, 1],
        # maxdepth [1, 30], minbucket and minsplit [1, 60], all uniform); named so a study can ask for it.
        return {"probst2019": self.space}

    def package_default(self) -> dict[str, Any]:
        # scikit-learn's defaults in rpart's terms: no pruning, no depth limit, split any node of 2 rows.
        return {"cp": 0.0, "maxdepth": None, "minbucket": 1, "minsplit": 2}

    def named_defaults(self) -> dict[str, dict[str, Any]]:
        return {"probst2019": {"cp": 0.01, "maxdepth": 30, "minbucket": 7, "minsplit": 20}}  # rpart.control()

    def concrete(self, config: Mapping[str, Any], shape: DataShape) -> dict[str, Any]:
        config = dict(config)
        if config.get("maxdepth", 0) is None:
            # scikit-learn's unlimited depth placed at the deepest tree the space expresses (rpart's
            # limit), so that the default can be encoded beside the searched configurations. A constant,
            # not this code's space: analysis places it in the space stored with a store's runs.
            config["maxdepth"] = MAX_DEPTH
        return config

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        return RelativeCpTree(cp=float(config["cp"]), max_depth=config["maxdepth"],
                              min_samples_split=max(2, int(config["minsplit"])),
                              min_samples_leaf=int(config["minbucket"]), random_state=seed)


class DecisionTreeRegressorFamily(DecisionTreeFamily):
    """The regressor: the classifier's space and defaults, cp relative to the root's MSE."""

    task_type = "regression"
    library = "sklearn.tree.DecisionTreeRegressor"

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        return RelativeCpTreeRegressor(cp=float(config["cp"]), max_depth=config["maxdepth"],
                                       min_samples_split=max(2, int(config["minsplit"])),
                                       min_samples_leaf=int(config["minbucket"]), random_state=seed)


FAMILY = DecisionTreeFamily()
REGRESSOR = DecisionTreeRegressorFamily()
pair_families(FAMILY, REGRESSOR)

"""k-nearest neighbours: kknn's k range (Probst, Boulesteix & Bischl 2019) on scikit-learn.

- k [1, 30] -> n_neighbors: the range of the paper, which tunes k only.
- weights {uniform, distance}: kknn weighs neighbours by a kernel of the distance, and
  mlr3tuningspaces (classif.kknn.default) tunes that kernel; scikit-learn offers the two ends of that
  choice, equal votes (kknn's "rectangular") and votes weighted by 1 / distance (kknn's "inv").
- p [1, 5] -> the Minkowski exponent (kknn's `distance`), the range of mlr3tuningspaces.

k larger than the training fold cannot be fitted; such a configuration fails (FAILED) rather than
being silently capped. There is no fidelity parameter. Package default: scikit-learn's (5, uniform, 2).

Regression: KNeighborsRegressor, the mean of the k neighbours' targets (weighted by 1 / distance under
"distance"), with the same space and defaults (KNeighborsRegressor's are the classifier's; kknn's k = 7
and distance = 2 hold for regression too).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from hpo_bench.models.base import DataShape, ModelFamily, pair_families
from hpo_bench.space import Categorical, Float, Int, SearchSpace


def _check_k(config: Mapping[str, Any], shape: DataShape) -> None:
    """k above the training rows is refused here, not by scikit-learn: its fast path for uniform votes and
    a Minkowski p other than 2 (ArgKminClassMode in predict_proba) scores such a classifier anyway, with
    every training row a neighbour, which would store a number for a configuration that cannot be fitted."""
    if int(config["n_neighbors"]) > shape.n_samples:
        raise ValueError(f"n_neighbors = {int(config['n_neighbors'])} is more than the {shape.n_samples} rows of "
                         "the training fold")


class KNNFamily(ModelFamily):
    name = "knn"
    library = "sklearn.neighbors.KNeighborsClassifier"
    fidelity_param = None
    needs_scaling = True

    @cached_property
    def space(self) -> SearchSpace:
        return SearchSpace([
            Int("n_neighbors", 1, 30, default=7),  # kknn's default k
            Categorical("weights", ("uniform", "distance"), default="uniform"),
            Float("p", 1.0, 5.0, default=2.0),
        ])

    def named_spaces(self) -> dict[str, SearchSpace]:
        # The bot tuned k alone, integer in [1, 30] (PhilippPro/tunability, R/helpers.R lines 25-27); weights
        # and p are held at the experiment's default (probst2019: equal votes, Euclidean distance). With 30
        # values, an experiment evaluates each once with the grid optimizer rather than drawing k at random.
        return {"probst2019": SearchSpace([Int("n_neighbors", 1, 30, default=7)])}

    def package_default(self) -> dict[str, Any]:
        return {"n_neighbors": 5, "weights": "uniform", "p": 2.0}

    def named_defaults(self) -> dict[str, dict[str, Any]]:
        # kknn's k = 7 and Minkowski distance 2; its default kernel ("optimal") has no scikit-learn
        # counterpart, so votes stay equal (kknn's "rectangular").
        return {"probst2019": {"n_neighbors": 7, "weights": "uniform", "p": 2.0}}

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        from sklearn.neighbors import KNeighborsClassifier

        _check_k(config, shape)

        # kNN is deterministic; `seed` has nothing to seed (ties are broken by training order).
        return KNeighborsClassifier(n_neighbors=int(config["n_neighbors"]), weights=config["weights"],
                                    p=float(config["p"]), n_jobs=1)


class KNNRegressorFamily(KNNFamily):
    """The regressor: the classifier's space and defaults on KNeighborsRegressor."""

    task_type = "regression"
    library = "sklearn.neighbors.KNeighborsRegressor"

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        from sklearn.neighbors import KNeighborsRegressor

        _check_k(config, shape)
        return KNeighborsRegressor(n_neighbors=int(config["n_neighbors"]), weights=config["weights"],
                                   p=float(config["p"]), n_jobs=1)


FAMILY = KNNFamily()
REGRESSOR = KNNRegressorFamily()
pair_families(FAMILY, REGRESSOR)

"""Elastic-net logistic regression: glmnet's space (Probst, Boulesteix & Bischl 2019) on scikit-learn.

The mapping. glmnet minimises, for coefficients b (the intercept is not penalised),

    -(1/n) * loglik(b) + lambda * [ (1 - alpha) / 2 * ||b||_2^2 + alpha * ||b||_1 ],

and scikit-learn's LogisticRegression minimises

    C * sum_i loss_i(w) + (1 - l1_ratio) / 2 * ||w||_2^2 + l1_ratio * ||w||_1

(`loss_i` the same negative log-likelihood per row, the intercept not penalised by saga). Multiplying
glmnet's objective by n / lambda gives scikit-learn's with

    l1_ratio = alpha,    C = 1 / (n * lambda),    n = rows of the training fold,

so both have the same minimiser. For three or more classes both fit the multinomial model with the
penalty on every coefficient (glmnet's default type.multinomial = "ungrouped"). glmnet standardises
the features by default; `needs_scaling` makes the evaluation pipeline do the same.

The solver. Only saga handles the elastic net in scikit-learn. glmnet runs coordinate descent to a
tight tolerance (thresh = 1e-7, up to 1e5 passes); saga stops at tol = 1e-4 (largest change of a
coefficient relative to the largest coefficient) or after `max_iter` epochs. We allow 1000 epochs
(scikit-learn's default is 100, which leaves most weakly regularised fits unconverged). Small lambda
(large C) on large data converges slowly: such a fit may end at max_iter with a ConvergenceWarning,
in which case the trial is kept as it is (COMPLETE, the coefficients saga reached) and the warning is
recorded with the trial; it is not turned into a failure. The experiment's time limit bounds the cost.

There is no fidelity parameter: max_iter is a solver budget, not a model size.

Package default. glmnet has no single default lambda (it fits a path); the library run here is
scikit-learn, whose defaults are an L2 penalty (l1_ratio = 0) with C = 1, i.e. alpha = 0 and
lambda = 1 / n. Because that lambda depends on the fold's size it is written symbolically,
lambda = "1/n", and fitted with saga like every other configuration (the same convex objective as
scikit-learn's default lbfgs, so the same minimiser up to the tolerance).

Regression (glmnet's family = "gaussian" -> scikit-learn's ElasticNet). glmnet minimises

    1/(2n) * ||y - b0 - X b||^2 + lambda * [ (1 - alpha) / 2 * ||b||_2^2 + alpha * ||b||_1 ],

which is scikit-learn's ElasticNet objective term for term, so there the mapping is the identity:

    ElasticNet(alpha = lambda, l1_ratio = alpha)    (scikit-learn's alpha is glmnet's lambda),

with no factor of n (both scale the loss by 1/n). lambda = 0 (no penalty; the probst2019 default) is
ordinary least squares, fitted with LinearRegression: ElasticNet(alpha=0) warns that it should not be
used so. The solver is scikit-learn's coordinate descent with its defaults (tol = 1e-4 on the duality
gap, max_iter = 1000 passes); an unconverged fit is kept, its ConvergenceWarning recorded, as above.
lambda is on the scale of y: the penalty competes with half the mean squared error, so the same lambda
would regularise a target in thousands far less than one in units; the evaluation standardises the
target in each training fold for this family (hpo_bench.evaluation.scaled_target), so lambda is that of a
unit-variance target on every task.

Regression package default: scikit-learn's ElasticNet(), alpha = 1.0 and l1_ratio = 0.5, i.e. glmnet's
lambda = 1 and alpha = 0.5 (inside the space; no symbolic value). The probst2019 default is the
classifier's, glmnet's alpha = 1 with lambda = 0: unpenalised least squares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from hpo_bench.errors import SpaceError
from hpo_bench.models.base import DataShape, ModelFamily, pair_families
from hpo_bench.space import Float, SearchSpace

MAX_ITER = 1000
# The symbolic lambda of scikit-learn's default C = 1.
DEFAULT_LAMBDA = "1/n"


def _penalty_keyword() -> dict[str, Any]:
    """penalty='elasticnet' where scikit-learn still needs it; omitted from 1.8 on, where it is deprecated."""
    import sklearn

    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    return {} if (major, minor) >= (1, 8) else {"penalty": "elasticnet"}


class ElasticNetFamily(ModelFamily):
    name = "elastic_net"
    library = "sklearn.linear_model.LogisticRegression(solver='saga')"
    fidelity_param = None
    needs_scaling = True

    @cached_property
    def space(self) -> SearchSpace:
        return SearchSpace([
            Float("alpha", 0.0, 1.0, default=1.0),  # glmnet's own default mixing: the lasso
            Float("lambda", 2**-10, 2**10, log=True, default=2**-10),
        ])

    def named_spaces(self) -> dict[str, SearchSpace]:
        # The bot's space is the family's own (PhilippPro/tunability, R/helpers.R lines 6-8: alpha uniform on
        # [0, 1], lambda = 2^x with x uniform on [-10, 10]); named so that a study can ask for it by name.
        return {"probst2019": self.space}

    def package_default(self) -> dict[str, Any]:
        return {"alpha": 0.0, "lambda": DEFAULT_LAMBDA}

    def named_defaults(self) -> dict[str, dict[str, Any]]:
        # glmnet as Probst et al. ran it: the lasso without penalty (lambda = 0, i.e. C = infinity).
        return {"probst2019": {"alpha": 1.0, "lambda": 0.0}}

    def concrete(self, config: Mapping[str, Any], shape: DataShape) -> dict[str, Any]:
        config = dict(config)
        if config.get("lambda") == DEFAULT_LAMBDA:
            config["lambda"] = 1.0 / max(1, shape.n_samples)
        return config

    @staticmethod
    def inverse_c(config: Mapping[str, Any], n_samples: int) -> float:
        """scikit-learn's C for glmnet's lambda on n training rows: C = 1 / (n * lambda)."""
        lam = config["lambda"]
        if lam == DEFAULT_LAMBDA:
            return 1.0
        if isinstance(lam, str):
            raise SpaceError(f"elastic_net: lambda = {lam!r}: a number or {DEFAULT_LAMBDA!r}")
        if float(lam) == 0.0:  # no penalty: scikit-learn's spelling of it (penalty=None is deprecated)
            return math.inf
        return 1.0 / (n_samples * float(lam))

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(solver="saga", l1_ratio=float(config["alpha"]),
                                  C=self.inverse_c(config, shape.n_samples), max_iter=MAX_ITER, tol=1e-4,
                                  random_state=seed, **_penalty_keyword())


class ElasticNetRegressorFamily(ElasticNetFamily):
    """glmnet's gaussian family: ElasticNet(alpha=lambda, l1_ratio=alpha); LinearRegression at lambda = 0."""

    task_type = "regression"
    library = "sklearn.linear_model.ElasticNet"

    def package_default(self) -> dict[str, Any]:
        # scikit-learn's ElasticNet(): alpha = 1.0 (glmnet's lambda), l1_ratio = 0.5 (glmnet's alpha).
        return {"alpha": 0.5, "lambda": 1.0}

    def concrete(self, config: Mapping[str, Any], shape: DataShape) -> dict[str, Any]:
        return dict(config)

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        from sklearn.linear_model import ElasticNet, LinearRegression

        lam = config["lambda"]
        if isinstance(lam, str):
            raise SpaceError(f"elastic_net (regression): lambda = {lam!r}: a number")
        if float(lam) == 0.0:
            return LinearRegression()
        # Coordinate descent is deterministic in its default cyclic order; `seed` has nothing to seed.
        return ElasticNet(alpha=float(lam), l1_ratio=float(config["alpha"]))


FAMILY = ElasticNetFamily()
REGRESSOR = ElasticNetRegressorFamily()
pair_families(FAMILY, REGRESSOR)

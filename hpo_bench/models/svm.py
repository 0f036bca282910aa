"""Support vector machine: e1071's space (Probst, Boulesteix & Bischl 2019) on scikit-learn's SVC.

- kernel {linear, poly, rbf}: the paper's {linear, polynomial, radial}; both libraries wrap libsvm,
  whose kernels are u'v, (gamma u'v + coef0)^degree and exp(-gamma |u - v|^2), with coef0 = 0 in both.
- C [2^-10, 2^10] log: the paper's cost.
- gamma [2^-10, 2^10] log, active for rbf and poly only.
- degree [2, 5], active for poly only.
Features are standardised inside each fold (`needs_scaling`), as e1071's svm() does by default.

Scores for AUC. SVC(probability=True) fits Platt scaling with an internal 5-fold CV: about six fits
per fit, and its probabilities can disagree with the SVM's own decisions. We fit one SVC and turn its
decision function into scores instead: a logistic sigmoid of the decision value for two classes (a
monotone map, so the AUC is exactly the SVM's) and a softmax over the one-vs-rest decision values for
more classes (the argmax is the SVM's prediction). These scores are not calibrated probabilities, so
"1-auc" and "error" measure the SVM, while "logloss" measures these uncalibrated scores.

Large C on large data can take very long (libsvm's max_iter is unlimited); the experiment's
`time_limit_s` is what stops it. There is no fidelity parameter. Package default: scikit-learn's
(rbf, C = 1, gamma = "scale", i.e. 1 / (p * Var(X)) on the training fold).

Regression: epsilon-SVR (scikit-learn's SVR, libsvm's epsilon-SVR as e1071's eps-regression) with the
same kernel, C, gamma and degree mapping and the same defaults. SVR's epsilon (the half-width of the
tube inside which errors cost nothing) is not in the classification space and is held at SVR's
default, 0.1, not searched. It is on the scale of y, as is C's trade-off against the squared norm:
e1071 scales y as well as x by default, so its epsilon = 0.1 is a tenth of y's standard deviation, and
so it is here: the evaluation standardises the target in each training fold for the scaled families
(hpo_bench.evaluation.scaled_target). Predictions are SVR's own (no scores), mapped back to y's scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import SVC, SVR

from hpo_bench.models.base import DataShape, ModelFamily, pair_families
from hpo_bench.space import Categorical, Condition, Float, Int, SearchSpace


class SVCScores(ClassifierMixin, BaseEstimator):
    """SVC whose predict_proba gives scores from the decision function (no internal CV)."""

    def __init__(self, kernel: str = "rbf", C: float = 1.0, gamma: float | str = "scale", degree: int = 3,  # noqa: N803
                 cache_size: float = 200.0, random_state: int | None = None) -> None:
        self.kernel = kernel
        self.C = C
        self.gamma = gamma
        self.degree = degree
        self.cache_size = cache_size
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> SVCScores:
        self.svc_ = SVC(kernel=self.kernel, C=self.C, gamma=self.gamma, degree=self.degree,
                        decision_function_shape="ovr", cache_size=self.cache_size,
                        random_state=self.random_state).fit(X, y)
        self.classes_ = self.svc_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        decision = self.svc_.decision_function(X)
        if decision.ndim == 1:  # two classes: positive values vote for classes_[1]
            positive = expit(decision)
            return np.column_stack([1.0 - positive, positive])
        return softmax(decision, axis=1)

    def predict(self, X: Any) -> np.ndarray:
        return self.svc_.predict(X)


class SVMFamily(ModelFamily):
    name = "svm"
    library = "sklearn.svm.SVC"
    fidelity_param = None
    needs_scaling = True

    @cached_property
    def space(self) -> SearchSpace:
        return SearchSpace([
            Categorical("kernel", ("linear", "poly", "rbf"), default="rbf"),
            Float("C", 2**-10, 2**10, log=True, default=1.0),
            Float("gamma", 2**-10, 2**10, log=True, default=1.0, condition=Condition("kernel", ("poly", "rbf"))),
            Int("degree", 2, 5, default=3, condition=Condition("kernel", ("poly",))),
        ])

    def named_spaces(self) -> dict[str, SearchSpace]:
        # The bot's space (PhilippPro/tunability, R/helpers.R lines 31-35): gamma requires kernel ==
        # "radial" (line 34) and degree kernel == "polynomial" (line 35). The family's own space also samples
        # gamma for the polynomial kernel; here a polynomial kernel runs with the experiment's default gamma
        # (probst2019: e1071's 1/p), which is what e1071 did when mlr passed no gamma
        # (FamilyWithSpace.held_at_default).
        return {"probst2019": SearchSpace([
            Categorical("kernel", ("linear", "poly", "rbf"), default="rbf"),
            Float("C", 2**-10, 2**10, log=True, default=1.0),
            Float("gamma", 2**-10, 2**10, log=True, default=1.0, condition=Condition("kernel", ("rbf",))),
            Int("degree", 2, 5, default=3, condition=Condition("kernel", ("poly",))),
        ])}

    def package_default(self) -> dict[str, Any]:
        return {"kernel": "rbf", "C": 1.0, "gamma": "scale"}

    def named_defaults(self) -> dict[str, dict[str, Any]]:
        # e1071's svm(): radial kernel, cost 1, gamma = 1 / (number of columns), scikit-learn's "auto".
        return {"probst2019": {"kernel": "rbf", "C": 1.0, "gamma": "auto"}}

    def concrete(self, config: Mapping[str, Any], shape: DataShape) -> dict[str, Any]:
        config = dict(config)
        if isinstance(config.get("gamma"), str):
            # Placed in the space at 1 / p: exact for "auto"; for "scale", 1 / (p * Var(X)), the features are
            # standardised, so Var(X) is 1 for numeric columns (one-hot columns make it smaller).
            config["gamma"] = 1.0 / max(1, shape.n_features)
        return config

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        # Inactive parameters take scikit-learn's defaults, which the kernel then ignores.
        gamma = config.get("gamma", "scale")
        return SVCScores(kernel=config["kernel"], C=float(config["C"]),
                         gamma=gamma if isinstance(gamma, str) else float(gamma),
                         degree=int(config.get("degree", 3)), random_state=seed)


# SVR's default tube half-width, held fixed: it is not in the (classification) space of the paper.
EPSILON = 0.1


class SVMRegressorFamily(SVMFamily):
    """The regressor: the classifier's space and defaults on SVR, epsilon held at SVR's default."""

    task_type = "regression"
    library = "sklearn.svm.SVR"

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        # SVR is deterministic (libsvm shuffles nothing without probability estimates): nothing to seed.
        gamma = config.get("gamma", "scale")
        return SVR(kernel=config["kernel"], C=float(config["C"]),
                   gamma=gamma if isinstance(gamma, str) else float(gamma), degree=int(config.get("degree", 3)),
                   epsilon=EPSILON)


FAMILY = SVMFamily()
REGRESSOR = SVMRegressorFamily()
pair_families(FAMILY, REGRESSOR)

"""Multilayer perceptron (scikit-learn's MLPClassifier): depth, widths, optimiser and regularisation.

The paper of the other families (Probst, Boulesteix & Bischl 2019) has no neural network, so the
ranges come from HPOBench's MLP benchmark (Eggensperger et al. 2021, "nn": width [16, 1024] log,
batch_size [4, 256] log, alpha [1e-8, 1] log, learning_rate_init [1e-5, 1] log, iterations [3, 243])
and LCBench (Zimmer, Lindauer & Hutter 2021: momentum [0.1, 0.99]), with one width per layer:

- n_layers 1-4 hidden layers; width_i is active only when n_layers >= i, so a configuration holds
  exactly the widths it uses (hidden_layer_sizes = (width_1, ..., width_n_layers)).
- activation {relu, tanh, logistic}; solver {adam, sgd}; momentum only for sgd (Nesterov, as
  scikit-learn's default), with scikit-learn's constant learning-rate schedule.
- max_iter is the number of epochs and the fidelity parameter. Early stopping on a validation split
  is off, and so is the stop on a training-loss plateau (n_iter_no_change = max_iter), so a fit runs
  exactly max_iter epochs and the fidelity means what it says. Reaching max_iter is the design, not a
  failure to converge, so the ConvergenceWarning scikit-learn raises for it is not reported.

Package default: scikit-learn's MLPClassifier() as run: one layer of 100, relu, adam, alpha 1e-4,
learning_rate_init 1e-3, batch_size "auto" (min(200, n)), max_iter 200 with the plateau stop of
n_iter_no_change = 10 epochs, which the default configuration carries explicitly.

Regression: MLPRegressor (squared error, identity output) with the same space, fidelity and epoch
budget; its defaults are MLPClassifier's, so the package default is the same configuration.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from hpo_bench.models.base import DataShape, ModelFamily, pair_families
from hpo_bench.space import Categorical, Condition, Float, Int, SearchSpace

MAX_LAYERS = 4


class EpochBudgetMLP(MLPClassifier):
    """MLPClassifier whose fit does not warn that it used all max_iter epochs (that is its budget)."""

    def fit(self, X: Any, y: Any) -> EpochBudgetMLP:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning, message=".*Maximum iterations")
            return super().fit(X, y)


class EpochBudgetMLPRegressor(MLPRegressor):
    """MLPRegressor whose fit does not warn that it used all max_iter epochs (that is its budget)."""

    def fit(self, X: Any, y: Any) -> EpochBudgetMLPRegressor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning, message=".*Maximum iterations")
            return super().fit(X, y)


class MLPFamily(ModelFamily):
    name = "mlp"
    library = "sklearn.neural_network.MLPClassifier"
    fidelity_param = "max_iter"
    needs_scaling = True

    @cached_property
    def space(self) -> SearchSpace:
        widths = [Int(f"width_{i}", 16, 1024, log=True, default=64,
                      condition=None if i == 1 else Condition("n_layers", tuple(range(i, MAX_LAYERS + 1))))
                  for i in range(1, MAX_LAYERS + 1)]
        return SearchSpace([
            Int("n_layers", 1, MAX_LAYERS, default=1),
            *widths,
            Categorical("activation", ("relu", "tanh", "logistic"), default="relu"),
            Categorical("solver", ("adam", "sgd"), default="adam"),
            Float("learning_rate_init", 1e-5, 1.0, log=True, default=1e-3),
            Float("momentum", 0.1, 0.99, default=0.9, condition=Condition("solver", ("sgd",))),
            Int("batch_size", 4, 256, log=True, default=32),
            Float("alpha", 1e-8, 1.0, log=True, default=1e-4),
            Int("max_iter", 3, 243, default=200),
        ])

    def package_default(self) -> dict[str, Any]:
        return {"n_layers": 1, "width_1": 100, "activation": "relu", "solver": "adam", "learning_rate_init": 1e-3,
                "batch_size": "auto", "alpha": 1e-4, "max_iter": 200, "n_iter_no_change": 10}

    def concrete(self, config: Mapping[str, Any], shape: DataShape) -> dict[str, Any]:
        config = dict(config)
        if config.get("batch_size") == "auto":  # scikit-learn's "auto": min(200, n) rows per batch
            config["batch_size"] = min(200, shape.n_samples) if shape.n_samples else 200
        return config

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        return EpochBudgetMLP(**self._estimator_params(config, seed=seed, fidelity=fidelity))

    def _estimator_params(self, config: Mapping[str, Any], *, seed: int, fidelity: float) -> dict[str, Any]:
        params = self.scaled(config, fidelity)
        layers = tuple(int(params[f"width_{i}"]) for i in range(1, int(params["n_layers"]) + 1))
        batch = params["batch_size"]
        return dict(
            hidden_layer_sizes=layers, activation=params["activation"], solver=params["solver"],
            learning_rate_init=float(params["learning_rate_init"]), momentum=float(params.get("momentum", 0.9)),
            batch_size=batch if isinstance(batch, str) else int(batch), alpha=float(params["alpha"]),
            max_iter=int(params["max_iter"]), n_iter_no_change=int(params.get("n_iter_no_change", params["max_iter"])),
            early_stopping=False, random_state=seed)


class MLPRegressorFamily(MLPFamily):
    """The regressor: the classifier's space, defaults and epoch fidelity on MLPRegressor."""

    task_type = "regression"
    library = "sklearn.neural_network.MLPRegressor"

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        return EpochBudgetMLPRegressor(**self._estimator_params(config, seed=seed, fidelity=fidelity))


FAMILY = MLPFamily()
REGRESSOR = MLPRegressorFamily()
pair_families(FAMILY, REGRESSOR)

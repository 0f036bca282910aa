"""Bayesian optimisation with a Gaussian process: Matern 5/2 kernel, expected improvement.

The GP is scikit-learn's GaussianProcessRegressor (a well-kept implementation with marginal-likelihood
fitting of an ARD Matern kernel); what is ours is the encoding of mixed, conditional spaces and the
acquisition search.

Encoding (`GPFeatures`): numeric parameters keep their unit-cube coordinate, which is already on the
parameter's scale (log or linear; integers at their cell centres). Categoricals are one-hot: a
stationary kernel on the index coordinate (index + 0.5) / k would make "a" closer to "b" than to "c",
an order unordered choices do not have; one-hot puts every pair of choices at the same distance.
An inactive numeric parameter is imputed with a constant outside the cube (-0.5), and an inactive
categorical gets all-zero one-hot columns: configurations in which a parameter is inactive then match
each other exactly in its coordinates (it cannot matter for them), and are not mistaken for any one
active value. The parent's one-hot columns already separate the branches.

Failed trials carry no loss; the model is given the worst loss observed so far at their points, so the
search moves away from regions that fail (without it, a failing region looks unexplored and keeps
attracting suggestions). Pending suggestions of a batch get the same "constant liar" value (Ginsbourger
et al. 2010, the pessimistic variant, as Optuna's TPE constant_liar): the GP's variance collapses there
and its mean rises, so the next suggestion of the batch goes elsewhere.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.stats import norm, qmc
from threadpoolctl import threadpool_limits

from hpo_bench.optimizers._history import History
from hpo_bench.optimizers.base import COMMON_OPTIONS, Optimizer, Option, register
from hpo_bench.space import Categorical, SearchSpace
from hpo_bench.trial import Suggestion, TrialResult

_INACTIVE = -0.5


class GPFeatures:
    """Maps configurations (through the unit-cube encoding) to the GP's input columns."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.columns: list[tuple[int, int | None]] = []  # (parameter index, choice index or None)
        for i, p in enumerate(space.parameters):
            if isinstance(p, Categorical):
                if len(p.choices) > 1:
                    self.columns.extend((i, c) for c in range(len(p.choices)))
            else:
                self.columns.append((i, None))

    def transform(self, units: np.ndarray) -> np.ndarray:
        units = np.atleast_2d(units)
        out = np.empty((len(units), len(self.columns)))
        for col, (i, choice) in enumerate(self.columns):
            u = units[:, i]
            if choice is None:
                out[:, col] = np.where(np.isnan(u), _INACTIVE, u)
            else:
                k = len(self.space.parameters[i].choices)
                index = np.floor(np.nan_to_num(u, nan=-1.0) * k)
                out[:, col] = (index == choice).astype(float)  # inactive: no column is 1
        return out


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    """EI of a minimisation below `best` (closed form for a Gaussian posterior)."""
    sigma = np.maximum(sigma, 1e-12)
    z = (best - mu) / sigma
    return (best - mu) * norm.cdf(z) + sigma * norm.pdf(z)


@register
class GPBayesOpt(Optimizer):
    name = "gp"
    summary = "Bayesian optimisation: GP (ARD Matern 5/2, scikit-learn), expected improvement, Sobol initial " \
              "design, acquisition by random candidates plus local search; one-hot categoricals"
    options = {
        **COMMON_OPTIONS,
        "n_initial": Option(10, "Sobol points before the first model fit", (int,)),
        "n_candidates": Option(512, "random candidates scored by EI at each ask", (int,)),
        "n_local": Option(5, "best candidates (and best observed points) refined by local search", (int,)),
        "n_restarts": Option(0, "extra random restarts of the kernel hyperparameter fit (each fit starts from "
                                "the previous fit's hyperparameters)", (int,)),
    }

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        self.check_option(self.n_initial >= 1, "n_initial", "must be >= 1")
        self.check_option(self.n_candidates >= 1, "n_candidates", "must be >= 1")
        self.check_option(self.n_local >= 0, "n_local", "must be >= 0")
        self.check_option(self.n_restarts >= 0, "n_restarts", "must be >= 0")
        self.history = History(space)
        self.features = GPFeatures(space)
        self._sobol = qmc.Sobol(d=len(space), scramble=True, seed=self.rng)
        self._kernel = None  # the last fit's kernel: the next fit starts there (fewer L-BFGS steps)

    # -- ask / tell ---------------------------------------------------------------------------------
    def ask(self) -> Suggestion:
        asked = len(self.history.points)
        # Keep to the initial design until two losses exist: a GP of one point has no scale.
        if asked < self.n_initial or self.history.n_complete < 2:
            return self.history.asked(self._sobol_config(), {"phase": "initial"})
        # One BLAS thread: the matrices are small (n <= a few hundred), and threads contending for the
        # cores the evaluations run on made each ask several times slower, not faster.
        with threadpool_limits(limits=1):
            config, ei = self._maximise_ei()
        if config is None:  # every candidate was asked before (a small discrete space): explore
            return self.history.asked(self._sobol_config(), {"phase": "model: all candidates seen, Sobol"})
        return self.history.asked(config, {"phase": "model", "ei": float(ei)})

    def tell(self, suggestion: Suggestion, result: TrialResult) -> None:
        self.history.told(suggestion, result)

    # -- internals ----------------------------------------------------------------------------------
    def _sobol_config(self) -> dict[str, Any]:
        for _ in range(100):  # integer and categorical spaces can repeat a point; skip repeats
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                config = self.space.decode(self._sobol.random(1)[0])
            if not self.history.seen(config):
                return config
        return config

    def _training_set(self) -> tuple[np.ndarray, np.ndarray, float]:
        complete = self.history.of("complete")
        losses = np.array([p.loss for p in complete])
        worst = float(losses.max())
        X, y = [], []
        for p in self.history.points:
            X.append(p.unit)
            y.append(p.loss if p.state == "complete" else worst)  # failed and pending: see module doc
        return self.features.transform(np.array(X)), np.array(y), float(losses.min())

    def _fit(self, X: np.ndarray, y: np.ndarray):
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        d = X.shape[1]
        kernel = self._kernel or (ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(d), (1e-2, 1e2), nu=2.5)
                                  + WhiteKernel(1e-4, (1e-8, 1e-1)))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=self.n_restarts,
                                      random_state=int(self.rng.integers(2**31 - 1)))
        with warnings.catch_warnings():
            # Hyperparameters at a bound (a length scale of 100: an irrelevant parameter) are a
            # result, not a problem; sklearn warns about them on every fit.
            warnings.simplefilter("ignore")
            gp.fit(X, y)
        self._kernel = gp.kernel_
        return gp

    def _maximise_ei(self) -> tuple[dict[str, Any] | None, float]:
        X, y, best = self._training_set()
        gp = self._fit(X, y)
        d = len(self.space)

        def score(units: np.ndarray) -> np.ndarray:
            mu, sigma = gp.predict(self.features.transform(units), return_std=True)
            return expected_improvement(mu, sigma, best)

        # Random candidates, decoded and re-encoded so that integers and choices sit on their cells.
        configs = [self.space.decode(u) for u in self.rng.random((self.n_candidates, d))]
        units = np.array([self.space.encode(c) for c in configs])
        ei = score(units)
        # Local search from the best candidates and the best observed points: Gaussian steps on the
        # numeric coordinates and random flips of categoricals, step size shrinking each round.
        order = np.argsort(-ei)[: self.n_local]
        complete = sorted(self.history.of("complete"), key=lambda p: p.loss)[: self.n_local]
        starts = [(units[i], ei[i]) for i in order]
        if complete:
            best_units = np.array([p.unit for p in complete])
            starts += list(zip(best_units, score(best_units), strict=True))
        is_cat = np.array([isinstance(p, Categorical) for p in self.space.parameters])
        for start, start_score in starts:
            current, current_score = start, start_score
            for step in (0.1, 0.05, 0.02, 0.01):
                base = np.where(np.isnan(current), self.rng.random(d), current)  # inactive: fresh values
                moves = base + self.rng.normal(0.0, step, (32, d))
                flips = self.rng.random((32, d)) < 1.0 / d
                moves = np.where(is_cat & flips, self.rng.random((32, d)), np.where(is_cat, base, moves))
                neighbours = [self.space.decode(np.clip(m, 0.0, 1.0)) for m in moves]
                n_units = np.array([self.space.encode(c) for c in neighbours])
                n_ei = score(n_units)
                j = int(np.argmax(n_ei))
                if n_ei[j] > current_score:
                    current, current_score = n_units[j], n_ei[j]
                    configs.append(neighbours[j])
                    units = np.vstack([units, current])
                    ei = np.append(ei, current_score)
        for i in np.argsort(-ei, kind="stable"):
            if not self.history.seen(configs[i]):
                return configs[i], ei[i]
        return None, 0.0

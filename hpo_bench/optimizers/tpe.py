"""Tree-structured Parzen estimator (Bergstra, Bardenet, Bengio & Kegl 2011), univariate and multivariate.

Written here, on the space's unit-cube encoding, rather than wrapped from Optuna or Hyperopt: those
are the peers it is benchmarked against, and the core package must not depend on them.

The observed points are split into the best `gamma` fraction (l, "good") and the rest (g, "bad");
candidates are drawn from l and the one with the largest l(x) / g(x) is suggested.
- Numeric coordinates: truncated Gaussian kernels on [0, 1] (the encoding is already on the log scale
  where the parameter is log-scaled), plus a broad prior kernel N(0.5, 1). Univariate bandwidths are
  the adaptive Parzen ones of the paper (the larger gap to a neighbour, clipped to [1/min(100, n+1), 1]);
  multivariate ones are Scott-like, 0.2 * n^(-1/(d+4)), as in Falkner et al. 2018 and Optuna.
- Categoricals: each observation puts its mass on its choice, smoothed towards uniform by
  1/(n+1) per choice, plus a uniform prior component.
- Conditions (the "tree" of TPE): a parameter's density is built from the observations in which it is
  active; a candidate is scored only on its own active parameters. In the multivariate density an
  observation lacking a coordinate that the candidate has contributes the prior there.
- Univariate: l and g are products over parameters of per-parameter mixtures. Multivariate: one mixture
  over observations of products over parameters, so interactions between parameters are kept.
- Failed trials (no loss) join g: their region is bad for the search. Pending suggestions of a batch
  join g too (constant liar, as Optuna's constant_liar), so a batch does not pile up on one point.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.special import logsumexp, ndtr, ndtri
from scipy.stats import qmc

from hpo_bench.optimizers._history import History
from hpo_bench.optimizers.base import COMMON_OPTIONS, Optimizer, Option, register
from hpo_bench.space import Categorical
from hpo_bench.trial import Suggestion, TrialResult

_PRIOR_MU, _PRIOR_SIGMA = 0.5, 1.0
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _truncnorm_logpdf(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """log density of N(mu, sigma) truncated to [0, 1], broadcast over x, mu, sigma."""
    mass = ndtr((1.0 - mu) / sigma) - ndtr(-mu / sigma)
    z = (x - mu) / sigma
    return -0.5 * z * z - _LOG_SQRT_2PI - np.log(sigma) - np.log(np.maximum(mass, 1e-300))


def _truncnorm_sample(rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    lo, hi = ndtr(-mu / sigma), ndtr((1.0 - mu) / sigma)
    u = lo + rng.random(np.shape(mu)) * (hi - lo)
    return np.clip(mu + sigma * ndtri(np.clip(u, 1e-12, 1 - 1e-12)), 0.0, 1.0)


class _Parzen:
    """The Parzen density of one group of points (rows of unit-cube points, NaN where inactive)."""

    def __init__(self, points: np.ndarray, kinds: list[int], multivariate: bool) -> None:
        self.points = points  # n x d
        self.kinds = kinds  # 0 for numeric, k choices for a categorical
        self.multivariate = multivariate
        n, d = points.shape
        self.sigma = np.ones((n, d))
        active = ~np.isnan(points)
        for j in range(d):
            if kinds[j]:
                continue
            if multivariate:
                self.sigma[:, j] = 0.2 * max(n, 1) ** (-1.0 / (d + 4))
            else:
                rows = np.flatnonzero(active[:, j])
                self.sigma[rows, j] = _adaptive_sigma(points[rows, j])
            self.sigma[:, j] = np.clip(self.sigma[:, j], 1.0 / min(100, n + 1), 1.0)

    def _category_probs(self, j: int) -> np.ndarray:
        """n x k: each observation's smoothed distribution over the choices of categorical j."""
        n, k = len(self.points), self.kinds[j]
        probs = np.full((n, k), 1.0 / (n + 1))
        col = self.points[:, j]
        ok = ~np.isnan(col)
        probs[np.flatnonzero(ok), np.floor(col[ok] * k).astype(int).clip(0, k - 1)] += 1.0
        return probs / probs.sum(axis=1, keepdims=True)

    def log_kernels(self, units: np.ndarray) -> np.ndarray:
        """m x (n + 1) x d: log kernel of each component (the prior last) at each candidate coordinate.

        A candidate's inactive coordinate gives 0 for every component; an observation's inactive
        coordinate gives the prior's value (multivariate) or -inf (univariate: not in that mixture).
        """
        m, d = units.shape
        n = len(self.points)
        out = np.zeros((m, n + 1, d))
        for j in range(d):
            x = units[:, j][:, None]
            obs = self.points[:, j]
            if self.kinds[j]:
                k = self.kinds[j]
                idx = np.floor(np.nan_to_num(units[:, j], nan=0.0) * k).astype(int).clip(0, k - 1)
                logp = np.log(self._category_probs(j))  # n x k
                comp = logp[:, idx].T  # m x n
                prior = np.full((m, 1), -math.log(k))
            else:
                comp = _truncnorm_logpdf(x, np.nan_to_num(obs, nan=_PRIOR_MU)[None, :], self.sigma[:, j][None, :])
                prior = _truncnorm_logpdf(x, np.array([[_PRIOR_MU]]), np.array([[_PRIOR_SIGMA]]))
            missing = np.isnan(obs)[None, :]
            comp = np.where(missing, prior if self.multivariate else -np.inf, comp)
            block = np.concatenate([comp, prior], axis=1)
            out[:, :, j] = np.where(np.isnan(units[:, j])[:, None], 0.0, block)
        return out

    def log_density(self, units: np.ndarray) -> np.ndarray:
        logk = self.log_kernels(units)
        n = len(self.points)
        if self.multivariate:
            return logsumexp(logk.sum(axis=2), axis=1) - math.log(n + 1)
        # Univariate: per parameter, a mixture of the observations where it is active and the prior.
        n_active = (~np.isnan(self.points)).sum(axis=0) + 1  # d
        per_dim = logsumexp(logk, axis=1) - np.log(n_active)[None, :]
        return np.where(np.isnan(units), 0.0, per_dim).sum(axis=1)

    def sample(self, rng: np.random.Generator, m: int) -> np.ndarray:
        """m unit-cube points drawn from the density (every coordinate filled; decode drops inactive)."""
        n, d = self.points.shape
        out = np.empty((m, d))
        if self.multivariate:
            comp = rng.integers(0, n + 1, m)  # n is the prior
        for j in range(d):
            obs = self.points[:, j]
            if not self.multivariate:
                rows = np.append(np.flatnonzero(~np.isnan(obs)), n)
                comp = rows[rng.integers(0, len(rows), m)]
            from_prior = (comp == n) | np.isnan(np.append(obs, np.nan)[comp])
            safe = np.where(from_prior, 0, comp)
            if self.kinds[j]:
                k = self.kinds[j]
                probs = self._category_probs(j)[safe] if n else np.full((m, k), 1.0 / k)
                probs = np.where(from_prior[:, None], 1.0 / k, probs)
                idx = (rng.random(m)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, k - 1)
                out[:, j] = (idx + 0.5) / k
            else:
                mu = np.where(from_prior, _PRIOR_MU, np.nan_to_num(obs, nan=_PRIOR_MU)[safe] if n else _PRIOR_MU)
                sigma = np.where(from_prior, _PRIOR_SIGMA, self.sigma[safe, j] if n else _PRIOR_SIGMA)
                out[:, j] = _truncnorm_sample(rng, mu, sigma)
        return out


def _adaptive_sigma(mus: np.ndarray) -> np.ndarray:
    """Bergstra et al.'s bandwidths: each point's larger distance to its neighbours (the ends 0 and 1)."""
    if len(mus) == 0:
        return mus
    order = np.argsort(mus, kind="stable")
    edges = np.concatenate([[0.0], mus[order], [1.0]])
    gaps = np.maximum(edges[1:-1] - edges[:-2], edges[2:] - edges[1:-1])
    out = np.empty_like(mus)
    out[order] = gaps
    return out


@register
class TPE(Optimizer):
    name = "tpe"
    summary = "tree-structured Parzen estimator (Bergstra et al. 2011), univariate or multivariate, Sobol " \
              "start, constant liar for batches"
    options = {
        **COMMON_OPTIONS,
        "n_startup": Option(10, "Sobol points before the first density model", (int,)),
        "gamma": Option(0.15, "fraction of the complete trials in the good group l (at most 25 of them)",
                        (float,)),
        "n_ei_candidates": Option(24, "candidates drawn from l at each ask", (int,)),
        "multivariate": Option(False, "one joint density instead of a product of per-parameter ones"),
    }

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        self.check_option(self.n_startup >= 1, "n_startup", "must be >= 1")
        self.check_option(0.0 < self.gamma < 1.0, "gamma", "must be in (0, 1)")
        self.check_option(self.n_ei_candidates >= 1, "n_ei_candidates", "must be >= 1")
        self.history = History(space)
        self._kinds = [len(p.choices) if isinstance(p, Categorical) else 0 for p in space.parameters]
        self._sobol = qmc.Sobol(d=len(space), scramble=True, seed=self.rng)

    def ask(self) -> Suggestion:
        complete = self.history.of("complete")
        if len(self.history.points) < self.n_startup or len(complete) < 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # Sobol prefixes of any length: see sobol.py
                config = self.space.decode(self._sobol.random(1)[0])
            return self.history.asked(config, {"phase": "startup"})
        complete.sort(key=lambda p: p.loss)  # stable: ties keep trial order
        n_good = max(1, min(math.ceil(self.gamma * len(complete)), 25))
        good = np.array([p.unit for p in complete[:n_good]])
        bad_points = complete[n_good:] + self.history.of("failed") + self.history.of("pending")
        bad = np.array([p.unit for p in bad_points]).reshape(-1, len(self.space))
        l_density = _Parzen(good, self._kinds, self.multivariate)
        g_density = _Parzen(bad, self._kinds, self.multivariate)
        configs = [self.space.decode(u) for u in l_density.sample(self.rng, self.n_ei_candidates)]
        units = np.array([self.space.encode(c) for c in configs])
        score = l_density.log_density(units) - g_density.log_density(units)
        best = int(np.argmax(score))
        return self.history.asked(configs[best], {"phase": "model", "log_l_over_g": float(score[best])})

    def tell(self, suggestion: Suggestion, result: TrialResult) -> None:
        self.history.told(suggestion, result)

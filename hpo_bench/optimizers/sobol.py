"""Quasi-random search: a scrambled Sobol sequence in the unit-cube encoding of the space."""

from __future__ import annotations

import warnings

from scipy.stats import qmc

from hpo_bench.optimizers.base import COMMON_OPTIONS, Optimizer, register
from hpo_bench.trial import Suggestion


def sobol_points(dim: int, n: int, seed: int) -> list:
    """The first n points of a scrambled Sobol sequence in [0, 1)^dim (scipy's, Owen scrambling)."""
    sampler = qmc.Sobol(d=dim, scramble=True, seed=seed)
    with warnings.catch_warnings():
        # scipy warns that balance holds only for powers of two; a prefix of any length is still far
        # more even than independent draws, and a budget is rarely a power of two.
        warnings.simplefilter("ignore", UserWarning)
        return list(sampler.random(n))


@register
class SobolSearch(Optimizer):
    name = "sobol"
    adaptive = False
    summary = "scrambled Sobol sequence (scipy.stats.qmc) decoded from the unit cube; coordinates of " \
              "inactive parameters are skipped"
    options = {**COMMON_OPTIONS}

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        self._sampler = qmc.Sobol(d=len(space), scramble=True, seed=self.rng)
        self._n = 0

    def ask(self) -> Suggestion:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # see sobol_points
            point = self._sampler.random(1)[0]
        self._n += 1
        return Suggestion(self.space.decode(point), info={"sobol_index": self._n - 1})

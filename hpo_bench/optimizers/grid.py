"""Grid search under a budget."""

from __future__ import annotations

import functools
from typing import Any

from hpo_bench.errors import ExperimentError, OptimizerExhausted
from hpo_bench.optimizers.base import COMMON_OPTIONS, Optimizer, Option, register
from hpo_bench.trial import Suggestion

_MAX_GRID = 2_000_000


@register
class GridSearch(Optimizer):
    name = "grid"
    adaptive = False
    summary = "a full grid, n points per numeric dimension, walked in a seeded random order"
    options = {
        **COMMON_OPTIONS,
        "n_points": Option(0, "points per numeric dimension; 0 = the fewest whose grid covers the budget",
                           (int,)),
        # A budget smaller than the grid then samples the lattice evenly instead of varying only the
        # last parameters, which is what a walk in lexicographic order would do.
        "shuffle": Option(True, "walk the grid in a seeded random order"),
    }

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        n = self.n_points
        if n < 0:
            raise ExperimentError(f"optimizer 'grid': option n_points = {n} must be >= 0")
        if n == 0:
            n = 1
            while space.grid_size(n) < budget_evals and n < 64:
                n += 1
        size = space.grid_size(n)
        if size > _MAX_GRID:
            why = "" if self.n_points else f", the fewest whose grid covers budget_evals = {budget_evals:,}"
            raise ExperimentError(f"optimizer 'grid': {n} points per dimension{why} make {size:,} configurations "
                                  f"(at most {_MAX_GRID:,}); {'lower n_points' if self.n_points else 'set n_points'}")
        self.n_points_used = n
        self._next = 0

    @functools.cached_property
    def configs(self) -> list[dict[str, Any]]:
        """The grid in walking order, built at the first ask: construction stays cheap (an experiment file
        builds every optimizer before anything runs) even for a grid of a million points."""
        configs = self.space.grid(self.n_points_used)
        if self.shuffle:
            configs = [configs[i] for i in self.rng.permutation(len(configs))]
        return configs

    def ask(self) -> Suggestion:
        if self._next >= len(self.configs):
            raise OptimizerExhausted(f"all {len(self.configs)} grid points evaluated")
        config = self.configs[self._next]
        self._next += 1
        return Suggestion(dict(config), info={"grid_index": self._next - 1, "n_points": self.n_points_used})

"""A user's optimizer in its own module: seeded local search around the best configuration so far.

Named in an experiment file as `type = "my_optimizer:LocalSearch"` (this folder on PYTHONPATH), or by an
entry point (docs/plugins.md). It sees only the search space and the results told, as every optimizer
does, and uses the space's public methods: `sample`, `encode` and `decode` (the unit cube, where a
log-scaled parameter is already on its log scale).

After `n_initial` random configurations, each suggestion is the best complete configuration so far
moved by a Gaussian step of `step` in every coordinate of the unit cube; a coordinate the best one does
not use (an inactive parameter) is drawn afresh. Failed trials carry no loss and are not learnt from, so
a run in which every trial fails stays random. Everything random comes from `self.rng`, which the base
class seeds from the run's seed: the suggestions are a function of (space, seed, options, results told),
which is what lets a killed run resume by replay.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpo_bench.optimizers import Optimizer, Option, Suggestion
from hpo_bench.trial import TrialResult, TrialState


class LocalSearch(Optimizer):
    """Seeded local search: random start, then Gaussian steps in the unit cube around the best so far."""

    options = {
        "n_initial": Option(5, "random configurations before the first step", (int,)),
        "step": Option(0.1, "standard deviation of a step, in unit-cube coordinates", (float,)),
    }

    def __init__(self, space, *, seed: int, budget_evals: float, **options: Any) -> None:
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)  # options, seed, batch_size
        # Ranges are checked here, when the experiment file is read: cheap checks only, nothing fitted.
        self.check_option(self.n_initial >= 1, "n_initial", "must be >= 1")
        self.check_option(0.0 < self.step <= 1.0, "step", "must be in (0, 1]")
        self._asked = 0
        self._best: tuple[float, np.ndarray] | None = None  # (loss, unit-cube point) of the best so far

    def ask(self) -> Suggestion:
        self._asked += 1
        if self._asked <= self.n_initial or self._best is None:
            return Suggestion(self.space.sample(self.rng), info={"phase": "random"})
        loss, unit = self._best
        start = np.where(np.isnan(unit), self.rng.random(len(unit)), unit)
        point = np.clip(start + self.rng.normal(0.0, self.step, len(unit)), 0.0, 1.0)
        # Asked again before a result is back (a batch), the next step is a new draw: a different point.
        return Suggestion(self.space.decode(point), info={"phase": "local", "around_loss": loss})

    def tell(self, suggestion: Suggestion, result: TrialResult) -> None:
        if result.state != TrialState.COMPLETE or result.loss is None or not np.isfinite(result.loss):
            return
        if self._best is None or result.loss < self._best[0]:  # strict: the earlier of two ties stays
            self._best = (float(result.loss), self.space.encode(suggestion.config))

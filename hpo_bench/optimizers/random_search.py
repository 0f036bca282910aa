"""Random search: independent draws from the space (log-uniform on log scales)."""

from __future__ import annotations

from hpo_bench.optimizers.base import Optimizer, register
from hpo_bench.trial import Suggestion


@register
class RandomSearch(Optimizer):
    name = "random"
    adaptive = False
    summary = "independent uniform draws in the unit-cube encoding of the space"

    def ask(self) -> Suggestion:
        return Suggestion(self.space.sample(self.rng))

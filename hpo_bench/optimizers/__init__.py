"""Search strategies behind one ask/tell protocol; `OPTIMIZERS` maps each type name to its class."""

from __future__ import annotations

from hpo_bench.optimizers import grid, random_search  # noqa: F401  (register themselves)
from hpo_bench.optimizers.base import OPTIMIZERS, Optimizer, Option, Suggestion, get_optimizer

__all__ = ["OPTIMIZERS", "Option", "Optimizer", "Suggestion", "get_optimizer"]

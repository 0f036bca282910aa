"""Search strategies behind one ask/tell protocol; `OPTIMIZERS` maps each type name to its class."""

from __future__ import annotations

from hpo_bench.optimizers import (  # noqa: F401  (register themselves)
    gp,
    grid,
    halving,
    peers,
    random_search,
    sobol,
    tpe,
)
from hpo_bench.optimizers.base import (
    OPTIMIZERS,
    AwaitResults,
    Optimizer,
    Option,
    Suggestion,
    get_optimizer,
)

__all__ = ["OPTIMIZERS", "AwaitResults", "Option", "Optimizer", "Suggestion", "get_optimizer"]

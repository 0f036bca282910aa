"""Search strategies behind one ask/tell protocol; `OPTIMIZERS` maps each built-in type name to its class, and
`get_optimizer` also finds "package.module:Class" and entry points (hpo_bench/plugins.py)."""

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

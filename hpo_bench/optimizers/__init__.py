"""Search strategies behind one ask/tell protocol; `OPTIMIZERS` maps each built-in type name to its class, and
`get_optimizer` also finds "package.module:Class" and entry points (hpo_bench/plugins.py).

Optimizers see the search space and the records of hpo_bench.trial only, never data, evaluation, the
store or executors (the import contracts in pyproject.toml check it). `Suggestion` lives in
hpo_bench.trial with the other records; it is re-exported here because every optimizer returns one, and
`from hpo_bench.optimizers import Optimizer, Suggestion` is the path for an optimizer written outside
hpo-bench. Inside hpo-bench, code imports it from hpo_bench.trial.
"""

from __future__ import annotations

from hpo_bench.optimizers import (  # noqa: F401  (register themselves)
    gp,
    grid,
    halving,
    peers,
    random_search,
    raytune,
    smac,
    sobol,
    tpe,
)
from hpo_bench.optimizers.base import (
    OPTIMIZERS,
    AwaitResults,
    Optimizer,
    Option,
    get_optimizer,
)
from hpo_bench.trial import Suggestion

__all__ = ["OPTIMIZERS", "AwaitResults", "Option", "Optimizer", "Suggestion", "get_optimizer"]

"""`make_executor`: the executor an experiment file or the command line names.

Apart from base.py, which every implementation builds on, so that base.py imports none of them.
"""

from __future__ import annotations

from hpo_bench.errors import HpoBenchError
from hpo_bench.executors.base import EXECUTORS, Executor, WorkerContext
from hpo_bench.executors.dask import DaskExecutor
from hpo_bench.executors.inline import InlineExecutor
from hpo_bench.executors.local import LocalExecutor
from hpo_bench.executors.ray import RayExecutor


def make_executor(kind: str, n_workers: int, context: WorkerContext, *, time_limit_s: float | None = None,
                  scheduler_address: str | None = None) -> Executor:
    """The executor named `kind` ("local", "inline", "dask" or "ray"); a scheduler address is a cluster's
    (Dask's scheduler, Ray's head), so it makes no sense for "local" or "inline"."""
    if kind in ("local", "inline") and scheduler_address is not None:
        raise HpoBenchError(f"scheduler address {scheduler_address!r} given, but the executor is {kind!r}; "
                            "use the 'dask' or 'ray' executor to connect to a cluster")
    if kind == "inline":
        return InlineExecutor(context, time_limit_s)
    if kind == "local":
        return LocalExecutor(n_workers, context, time_limit_s)
    if kind == "dask":
        return DaskExecutor(n_workers, context, time_limit_s, address=scheduler_address)
    if kind == "ray":
        return RayExecutor(n_workers, context, time_limit_s, address=scheduler_address)
    raise HpoBenchError(f"executor {kind!r}: must be one of {list(EXECUTORS)}")

"""Executors run evaluations in worker processes; the driver submits jobs and collects results.

`Executor` (base.py) is the interface the scheduler uses; `LocalExecutor` (local.py: processes on this
machine, the default), `InlineExecutor` (inline.py: the driver's own process), `DaskExecutor` (dask.py: a
Dask cluster) and `RayExecutor` (ray.py: Ray actors, on a local Ray or a cluster) implement it, and
`make_executor` (factory.py) picks one by name. worker.py is the evaluation process they all run: it gets
the task data once, then evaluates one job at a time, and dies with its driver.
"""

from __future__ import annotations

from hpo_bench.executors.base import EXECUTORS, Executor, Job, WorkerContext, default_n_workers
from hpo_bench.executors.dask import DaskExecutor
from hpo_bench.executors.factory import make_executor
from hpo_bench.executors.local import LocalExecutor
from hpo_bench.executors.ray import RayExecutor
from hpo_bench.executors.worker import run_job

__all__ = ["EXECUTORS", "DaskExecutor", "Executor", "Job", "LocalExecutor", "RayExecutor", "WorkerContext",
           "default_n_workers", "make_executor", "run_job"]

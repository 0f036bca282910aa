"""The evaluation process: the loop that every worker runs, a local worker and a Dask worker's sandbox alike.

It receives the context once, warms up, says "ready", then evaluates one job at a time until it is told
to stop or its driver is gone. It exits with its parent, so a killed driver leaves no evaluation behind.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from hpo_bench.executors.base import Job, WorkerContext
from hpo_bench.trial import TrialResult

if TYPE_CHECKING:
    from hpo_bench.evaluation import PreprocessCache


def run_job(context: WorkerContext, job: Job, cache: PreprocessCache | None = None) -> TrialResult:
    """Evaluate `job` on the context's data; `cache`: the worker's preprocessed folds, reused across jobs."""
    from hpo_bench.evaluation import evaluate
    from hpo_bench.models import get_model

    task = context.tasks[job.task]
    family = get_model(job.model).for_task(task.task_type)
    return evaluate(task, family, job.config, fidelity=job.fidelity, seed=job.seed,
                    splits=context.splits[job.splits or job.task], metric=context.metric, cache=cache)


def _warm_up(models: tuple[str, ...]) -> None:
    """Import each family and the library it builds on (estimators import their library lazily)."""
    from hpo_bench.models import DataShape, get_model

    for name in models:
        try:
            family = get_model(name)
            family.make_estimator(family.package_default(), seed=0, fidelity=1.0, shape=DataShape(10, 2, 2))
        except Exception:  # the same error is raised again, and recorded, by the first job
            pass


_WATCHDOG_S = 0.5


def _watch_parent(parent_pid: int) -> None:
    """Exit as soon as the driver is gone. A worker busy with a long fit reads its pipe only when the fit
    ends; without this, a killed driver (SIGKILL, the OOM killer) would leave it computing for nobody.
    Polling os.getppid() works everywhere; `_die_with_parent` adds the kernel's signal on Linux, which
    also reaches a worker stuck in C code that holds the GIL."""
    while os.getppid() == parent_pid:
        time.sleep(_WATCHDOG_S)
    os._exit(1)


def _die_with_parent(parent_pid: int) -> None:
    """On Linux, have the kernel kill this process when its parent dies, so no evaluation is orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def worker_main(conn: Connection, parent_pid: int | None = None) -> None:
    # Ctrl-C goes to the whole process group; the driver decides what to do, the workers carry on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent_pid = os.getppid() if parent_pid is None else parent_pid
    _die_with_parent(parent_pid)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="watchdog").start()
    from threadpoolctl import threadpool_limits

    # One BLAS/OpenMP thread per worker: parallelism comes from running n_workers evaluations at once.
    threadpool_limits(limits=1)
    try:
        context: WorkerContext | None = conn.recv()
        if context is None:
            return
        _warm_up(context.models)
        from hpo_bench.evaluation import PreprocessCache

        # The context's tasks and splits stay the same objects for this process's life: what the cache
        # keys on.
        cache = PreprocessCache()
        conn.send("ready")
        while True:
            job = conn.recv()
            if job is None:
                return
            conn.send((job.job_id, run_job(context, job, cache)))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the driver is gone: nothing left to do


def signal_name(code: int | None) -> str:
    """", killed by SIGKILL" for an exit code -9, "" for an ordinary exit: for the error of a dead worker."""
    if code is not None and code < 0:
        try:
            return f", killed by {signal.Signals(-code).name}"
        except ValueError:
            return ""
    return ""

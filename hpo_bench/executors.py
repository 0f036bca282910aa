"""Executors run evaluations in worker processes; the driver submits jobs and collects results.

The local executor keeps one process per worker with a pipe each, rather than a
`concurrent.futures.ProcessPoolExecutor`, because it must be able to kill one evaluation (a time limit)
and survive one worker's death (a segfault, the OOM killer) without losing the whole pool: a process
pool breaks as a whole in both cases. Task data reach each worker once, when it starts.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from hpo_bench.evaluation import TrialResult, TrialState
from hpo_bench.tasks.base import Split, Task


@dataclass(frozen=True)
class Job:
    """One evaluation: everything a worker needs besides the task data it already holds."""

    job_id: int
    task: str
    model: str
    config: dict[str, Any]
    fidelity: float
    seed: int


@dataclass(frozen=True)
class WorkerContext:
    """What every worker receives once: the tasks with their splits, the metric, the model families."""

    tasks: Mapping[str, Task]
    splits: Mapping[str, list[Split]]
    metric: str
    # Families to import (and whose libraries to import) before the worker reports ready, so that a
    # fresh worker's first evaluation is not charged for imports against its time limit.
    models: tuple[str, ...] = ()


def run_job(context: WorkerContext, job: Job) -> TrialResult:
    from hpo_bench.evaluation import evaluate
    from hpo_bench.models import get_model

    task = context.tasks[job.task]
    return evaluate(task, get_model(job.model), job.config, fidelity=job.fidelity, seed=job.seed,
                    splits=context.splits[job.task], metric=context.metric)


def _warm_up(models: tuple[str, ...]) -> None:
    """Import each family and the library it builds on (estimators import their library lazily)."""
    from hpo_bench.models import DataShape, get_model

    for name in models:
        try:
            family = get_model(name)
            family.make_estimator(family.package_default(), seed=0, fidelity=1.0, shape=DataShape(10, 2, 2))
        except Exception:  # the same error is raised again, and recorded, by the first job
            pass


def _worker_main(conn: Connection) -> None:
    # Ctrl-C goes to the whole process group; the driver decides what to do, the workers carry on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from threadpoolctl import threadpool_limits

    # One BLAS/OpenMP thread per worker: parallelism comes from running n_workers evaluations at once.
    threadpool_limits(limits=1)
    try:
        context: WorkerContext | None = conn.recv()
        if context is None:
            return
        _warm_up(context.models)
        conn.send("ready")
        while True:
            job = conn.recv()
            if job is None:
                return
            conn.send((job.job_id, run_job(context, job)))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the driver is gone: nothing left to do


class _Worker:
    """One worker process. It gets jobs only once it has said it is ready (imports done, data received),
    so that its start-up time is not counted against the time limit of its first job."""

    def __init__(self, ctx: Any, context: WorkerContext) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        # Sent from a thread: a large context fills the pipe until the new process has started and reads
        # it, and the driver must keep enforcing other workers' time limits meanwhile. No job is sent
        # before the worker answers "ready", i.e. after it has received all of it.
        self._sender = threading.Thread(target=self._send_context, args=(context,), daemon=True)
        self._sender.start()
        self.ready = False
        self.job: Job | None = None
        self.started = 0.0

    def _send_context(self, context: WorkerContext) -> None:
        try:
            self.conn.send(context)
        except (BrokenPipeError, OSError):
            pass  # the process died while starting; wait() sees its sentinel

    def stop(self, kill: bool = False) -> None:
        # A worker still starting may be receiving its context from the sender thread: kill it rather
        # than write to the same pipe from two threads.
        if kill or not self.ready:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        # The process is gone, so a send still under way fails at once; wait for it before closing the
        # pipe under it.
        self._sender.join()
        self.conn.close()


_MAX_FAILED_STARTS = 3


class LocalExecutor:
    """n_workers processes on this machine.

    A job that outlives `time_limit_s` is killed and comes back TIMEOUT. A job whose worker dies is
    retried once on a fresh worker (the death may have been the machine's, not the job's); if it
    dies again it comes back FAILED with the exit code.
    """

    def __init__(self, n_workers: int, context: WorkerContext, time_limit_s: float | None = None) -> None:
        self.n_workers = n_workers
        self.context = context
        self.time_limit_s = time_limit_s
        self._ctx = mp.get_context("spawn")  # no fork: the driver may hold threads (BLAS, sqlite)
        self._workers: list[_Worker] = []
        self._retried: set[int] = set()
        self._queue: list[Job] = []
        self._failed_starts = 0

    def __enter__(self) -> LocalExecutor:
        self._workers = [_Worker(self._ctx, self.context) for _ in range(self.n_workers)]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)

    def close(self, kill: bool = False) -> None:
        for w in self._workers:
            w.stop(kill=kill or w.job is not None)
        self._workers = []

    @property
    def n_free(self) -> int:
        return sum(w.job is None for w in self._workers) - len(self._queue)

    @property
    def n_running(self) -> int:
        return sum(w.job is not None for w in self._workers) + len(self._queue)

    def submit(self, job: Job) -> None:
        self._queue.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        for w in self._workers:
            if not self._queue:
                return
            if w.ready and w.job is None:
                job = self._queue.pop(0)
                try:
                    w.conn.send(job)
                except (BrokenPipeError, OSError):
                    pass  # the idle worker died: wait() sees its sentinel and retries the job on a new one
                w.job, w.started = job, time.monotonic()

    def _replace(self, worker: _Worker, kill: bool) -> None:
        worker.stop(kill=kill)
        self._workers[self._workers.index(worker)] = _Worker(self._ctx, self.context)

    def wait(self, timeout: float) -> list[tuple[Job, TrialResult]]:
        """Results that finished within `timeout` seconds (maybe none), in the order they arrived."""
        busy = [w for w in self._workers if w.job is not None]
        starting = [w for w in self._workers if not w.ready] if self._queue else []
        if not busy and not starting:
            return []
        if self.time_limit_s is not None and busy:
            next_deadline = min(w.started + self.time_limit_s for w in busy) - time.monotonic()
            timeout = max(0.0, min(timeout, next_deadline))
        watched = busy + starting
        ready = set(wait([w.conn for w in watched] + [w.process.sentinel for w in watched], timeout))
        for w in starting:
            if w.conn in ready or w.process.sentinel in ready:
                try:
                    if w.conn.poll() and w.conn.recv() == "ready":
                        w.ready, self._failed_starts = True, 0
                        continue
                except (EOFError, OSError):
                    pass
                # Died before it could work: once may be the machine (the OOM killer); several times in a
                # row means workers cannot start here at all, and waiting longer would hang the run.
                w.process.join(timeout=1)
                code = w.process.exitcode
                self._failed_starts += 1
                if self._failed_starts >= _MAX_FAILED_STARTS:
                    raise RuntimeError(f"{self._failed_starts} worker processes in a row died while starting "
                                       f"(last exit code {code}{_signal_name(code)})")
                self._replace(w, kill=True)
        done: list[tuple[Job, TrialResult]] = []
        for w in busy:
            job = w.job
            assert job is not None
            if w.conn in ready or w.process.sentinel in ready:
                try:
                    if w.conn.poll():
                        job_id, result = w.conn.recv()
                        w.job = None
                        done.append((job, result))
                        continue
                except (EOFError, OSError):
                    pass
                w.process.join(timeout=1)
                code = w.process.exitcode
                self._replace(w, kill=True)
                if job.job_id not in self._retried:
                    self._retried.add(job.job_id)
                    self._queue.insert(0, job)
                else:
                    done.append((job, TrialResult.failed(
                        self.context.metric, f"the worker died twice evaluating this configuration "
                        f"(exit code {code}{_signal_name(code)})")))
            elif self.time_limit_s is not None and time.monotonic() - w.started > self.time_limit_s:
                elapsed = time.monotonic() - w.started
                self._replace(w, kill=True)
                done.append((job, TrialResult.failed(
                    self.context.metric, f"stopped after {elapsed:.1f} s: over the time limit of "
                    f"{self.time_limit_s:g} s", state=TrialState.TIMEOUT)))
        self._dispatch()
        return done


def _signal_name(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f", killed by {signal.Signals(-code).name}"
        except ValueError:
            return ""
    return ""


def default_n_workers() -> int:
    return os.cpu_count() or 1

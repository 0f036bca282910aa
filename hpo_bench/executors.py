"""Executors run evaluations in worker processes; the driver submits jobs and collects results.

Two executors with one interface (a context manager with n_free, n_running, submit, wait, close):
`LocalExecutor` (processes on this machine) and `DaskExecutor` (a Dask cluster); `make_executor`
picks one by name.

The local executor keeps one process per worker with a pipe each, rather than a
`concurrent.futures.ProcessPoolExecutor`, because it must be able to kill one evaluation (a time limit)
and survive one worker's death (a segfault, the OOM killer) without losing the whole pool: a process
pool breaks as a whole in both cases. Task data reach each worker once, when it starts."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import CancelledError
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from hpo_bench.errors import HpoBenchError
from hpo_bench.tasks.base import Split, Task
from hpo_bench.trial import TrialResult, TrialState


@dataclass(frozen=True)
class Job:
    """One evaluation: everything a worker needs besides the task data it already holds."""

    job_id: int
    task: str
    model: str
    config: dict[str, Any]
    fidelity: float
    seed: int
    splits: str = ""  # the key of its splits in the context; "": the task's own


@dataclass(frozen=True)
class WorkerContext:
    """What every worker receives once: the tasks with their splits, the metric, the model families.

    `splits` maps a key (a task, or a task's split repetition, or its held-out test split) to the
    folds an evaluation runs over; a held-out test is one "fold": outer training rows, test rows.
    """

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
                    splits=context.splits[job.splits or job.task], metric=context.metric)


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


def _worker_main(conn: Connection, parent_pid: int | None = None) -> None:
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
        self.process = ctx.Process(target=_worker_main, args=(child, os.getpid()), daemon=True)
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


# -- Dask -----------------------------------------------------------------------------------------------
# A Dask task cannot be stopped once it runs (cancelling a future leaves its thread running), and a
# crash inside it takes the whole Dask worker down with the task data it holds. So each Dask worker
# runs evaluations in a child process of its own ("sandbox") that it keeps across jobs: a time limit
# kills the child, which really stops the fit, and a crash kills only the child; the Dask worker, its
# copy of the task data and the cluster go on. The child is started with subprocess, not
# multiprocessing, because Dask worker processes are daemonic and multiprocessing refuses children to
# daemonic processes.

_SANDBOX_LOCK = threading.Lock()
_IDLE_SANDBOXES: list[_Sandbox] = []
_SANDBOX_START_S = 300.0  # a loaded node may take a while to import scikit-learn and xgboost


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


def _sandbox_main(fd: int, parent_pid: int) -> None:
    """Entry point of a sandbox child: the same loop as a local worker, over a socket from its Dask worker."""
    _worker_main(Connection(fd), parent_pid)


class _Sandbox:
    """One evaluation process owned by a Dask worker; it receives the task data once, when it starts."""

    def __init__(self, context_id: str, context: WorkerContext) -> None:
        parent, child = socket.socketpair()
        code = f"from hpo_bench.executors import _sandbox_main; _sandbox_main({child.fileno()}, {os.getpid()})"
        # The child sees the Dask worker's sys.path, as a spawned local worker sees the driver's, so model
        # families importable by the worker (e.g. "families:NAME" in the tests) are importable here too.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen([sys.executable, "-c", code], pass_fds=[child.fileno()], env=env,
                                        stdin=subprocess.DEVNULL)
        child.close()
        self.conn = Connection(parent.detach())
        self.context_id = context_id
        try:
            # The same handshake as a local worker: the task data, then "ready" once it has warmed up.
            self.conn.send(context)
            if not self.conn.poll(_SANDBOX_START_S) or self.conn.recv() != "ready":
                raise OSError(f"no answer within {_SANDBOX_START_S:g} s")
        except (EOFError, OSError) as exc:
            self.stop(kill=True)
            raise HpoBenchError(f"the evaluation process of a Dask worker did not start (exit code "
                                f"{self.process.returncode}): {exc}") from None

    def run(self, job: Job, time_limit_s: float | None) -> tuple[str, Any]:
        """("ok", TrialResult), ("timeout", seconds) or ("died", exit code)."""
        start = time.monotonic()
        try:
            self.conn.send(job)
            if not wait([self.conn], time_limit_s):
                return "timeout", time.monotonic() - start
            _, result = self.conn.recv()
            return "ok", result
        except (EOFError, OSError):
            self.stop(kill=True)
            return "died", self.process.returncode

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.conn.close()


def _take_sandbox(context_id: str, context: WorkerContext) -> _Sandbox:
    with _SANDBOX_LOCK:
        for sandbox in _IDLE_SANDBOXES:
            if sandbox.context_id == context_id and sandbox.process.poll() is None:
                _IDLE_SANDBOXES.remove(sandbox)
                return sandbox
    return _Sandbox(context_id, context)


def _give_back(sandbox: _Sandbox) -> None:
    from distributed import get_worker

    with _SANDBOX_LOCK:
        _IDLE_SANDBOXES.append(sandbox)
        # At most one idle child per worker thread: older ones (another experiment's) are stopped.
        surplus = len(_IDLE_SANDBOXES) - get_worker().state.nthreads
        stale = _IDLE_SANDBOXES[:max(0, surplus)]
        del _IDLE_SANDBOXES[:max(0, surplus)]
    for old in stale:
        old.stop()


def _stop_sandboxes(context_id: str) -> int:
    """Run on every Dask worker when an executor closes: stop its idle children of that executor."""
    with _SANDBOX_LOCK:
        mine = [s for s in _IDLE_SANDBOXES if s.context_id == context_id]
        for s in mine:
            _IDLE_SANDBOXES.remove(s)
    for s in mine:
        s.stop()
    return len(mine)


def _task_data(context: WorkerContext) -> WorkerContext:
    return context


def dask_evaluate(context: WorkerContext, context_id: str, job: Job, time_limit_s: float | None) -> TrialResult:
    """The Dask task: evaluate `job` in this worker's sandbox, with the local executor's rules.

    Over the time limit: the child is killed and the result is TIMEOUT. The child dies (a crash, the
    OOM killer): retried once in a fresh child, then FAILED with both exit codes.
    """
    codes: list[int | None] = []
    for _ in range(2):
        sandbox = _take_sandbox(context_id, context)
        outcome, value = sandbox.run(job, time_limit_s)
        if outcome == "ok":
            _give_back(sandbox)
            return value
        if outcome == "timeout":
            sandbox.stop(kill=True)
            return TrialResult.failed(context.metric, f"stopped after {value:.1f} s: over the time limit of "
                                      f"{time_limit_s:g} s", state=TrialState.TIMEOUT)
        codes.append(value)
    causes = "; ".join(f"exit code {c}{_signal_name(c)}" for c in codes)
    return TrialResult.failed(context.metric, f"the worker died twice evaluating this configuration ({causes})")


class DaskExecutor:
    """Evaluations on a Dask cluster: the scheduler at `address`, or a LocalCluster of n_workers processes.

    The interface is LocalExecutor's. Task data reach each worker once, as the result of a task that
    every job depends on by key. Each worker evaluates in a child process of its own (see
    `dask_evaluate`), so time limits and crashes are handled on the worker as they are locally. When a
    whole Dask worker dies (its nanny's memory limit, a lost node), Dask reschedules the job on another
    worker up to the scheduler's `allowed-failures` (1 on the LocalCluster made here, so a job is tried
    twice as locally) and then reports KilledWorker, which is recorded FAILED with Dask's message.
    """

    def __init__(self, n_workers: int, context: WorkerContext, time_limit_s: float | None = None, *,
                 address: str | None = None) -> None:
        self.n_workers = n_workers
        self.context = context
        self.time_limit_s = time_limit_s
        self.address = address
        self._cluster: Any = None
        self._client: Any = None
        self._context_future: Any = None
        self._futures: dict[str, tuple[Job, Any]] = {}
        self._capacity = n_workers
        self._capacity_at = 0.0

    def __enter__(self) -> DaskExecutor:
        import logging

        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise HpoBenchError("executor 'dask' needs Dask distributed: pip install 'hpo-bench[dask]'") from None
        try:
            if self.address is None:
                self._cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                             dashboard_address=None, silence_logs=logging.ERROR,
                                             scheduler_kwargs={"allowed_failures": 1})
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.address, timeout=30)
        except OSError as exc:
            self.close(kill=True)
            raise HpoBenchError(f"cannot reach the Dask scheduler at {self.address!r}: {exc}") from None
        # The task data go to the cluster once, as the argument of a task that returns them: a worker
        # fetches them once, when its first evaluation needs them, and keeps them. Not `scatter`: scattered
        # data have no lineage, so when every worker holding them dies (a small cluster whose workers one
        # evaluation kills one after the other) the scheduler cancels every job that needs them; a task's
        # result is recomputed from its spec instead. The key is fresh per executor and also names this
        # executor's evaluation processes on the workers.
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Large object.*")  # sent once, on purpose
            self._context_future = self._client.submit(_task_data, self.context, pure=False,
                                                       key=f"hpo-bench-data-{uuid.uuid4().hex}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)

    def close(self, kill: bool = False) -> None:
        client, self._client = self._client, None
        if client is not None:
            for _, future in self._futures.values():
                future.cancel()
            self._futures.clear()
            if self._cluster is None and self._context_future is not None:
                # A shared cluster outlives us: stop the children that hold our task data.
                try:
                    client.run(_stop_sandboxes, self._context_future.key)
                except Exception:  # noqa: BLE001  (best effort while closing; the workers may be gone)
                    pass
            self._context_future = None
            client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    @property
    def capacity(self) -> int:
        """Worker threads in the cluster now (refreshed every 2 s: workers may join or leave)."""
        if self._client is not None and time.monotonic() - self._capacity_at > 2.0:
            self._capacity = sum(self._client.nthreads().values())
            self._capacity_at = time.monotonic()
        # With no worker yet (a SLURM job still queued), one job waits at the scheduler for the first one.
        return max(1, self._capacity)

    @property
    def n_free(self) -> int:
        return self.capacity - len(self._futures)

    @property
    def n_running(self) -> int:
        return len(self._futures)

    def submit(self, job: Job) -> None:
        future = self._client.submit(dask_evaluate, self._context_future, self._context_future.key, job,
                                     self.time_limit_s, key=f"hpo-bench-{self._context_future.key}-{job.job_id}",
                                     pure=False)
        self._futures[future.key] = (job, future)

    def wait(self, timeout: float) -> list[tuple[Job, TrialResult]]:
        """Results that finished within `timeout` seconds (maybe none)."""
        from distributed import wait as dask_wait
        from distributed.scheduler import KilledWorker

        if not self._futures:
            return []
        try:
            dask_wait([f for _, f in self._futures.values()], timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        except CancelledError:
            pass  # some were cancelled: handled below
        # One reading of the statuses: a future read "pending" here and "finished" a moment later must be
        # reported on a later call, not dropped in between (that lost a trial and hung its run).
        status = {key: f.status for key, (_, f) in self._futures.items()}
        finished = [(job, f) for key, (job, f) in self._futures.items() if status[key] == "finished"]
        results = self._client.gather([f for _, f in finished]) if finished else []
        done = list(zip([job for job, _ in finished], results, strict=True))
        for key, (job, future) in list(self._futures.items()):
            if status[key] == "error":
                exc = future.exception()
                cause = "a Dask worker died running it" if isinstance(exc, KilledWorker) else "the Dask task raised"
                done.append((job, TrialResult.failed(self.context.metric,
                                                     f"{cause}: {type(exc).__name__}: {exc}")))
            elif status[key] == "cancelled":
                # Not the configuration's fault (the scheduler restarted or the connection was lost):
                # stop here without recording it, so the run can be continued.
                raise HpoBenchError(f"the Dask scheduler dropped evaluation {job.job_id} ({status[key]}); "
                                    "stored trials are safe: run the same command again to continue")
        for key in [key for key, st in status.items() if st in ("finished", "error")]:
            del self._futures[key]  # released: the scheduler forgets the result
        return done


EXECUTORS = ("local", "dask")


def make_executor(kind: str, n_workers: int, context: WorkerContext, *, time_limit_s: float | None = None,
                  scheduler_address: str | None = None) -> LocalExecutor | DaskExecutor:
    """The executor named `kind` ("local" or "dask"); a scheduler address makes sense only for Dask."""
    if kind == "local":
        if scheduler_address is not None:
            raise HpoBenchError(f"scheduler address {scheduler_address!r} given, but the executor is 'local'; "
                                "use the 'dask' executor to connect to a Dask scheduler")
        return LocalExecutor(n_workers, context, time_limit_s)
    if kind == "dask":
        return DaskExecutor(n_workers, context, time_limit_s, address=scheduler_address)
    raise HpoBenchError(f"executor {kind!r}: must be one of {list(EXECUTORS)}")

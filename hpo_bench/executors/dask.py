"""The Dask executor: evaluations on a Dask cluster, each in a sandbox process of its Dask worker.

A Dask task cannot be stopped once it runs (cancelling a future leaves its thread running), and a
crash inside it takes the whole Dask worker down with the task data it holds. So each Dask worker
runs evaluations in a child process of its own ("sandbox") that it keeps across jobs: a time limit
kills the child, which really stops the fit, and a crash kills only the child; the Dask worker, its
copy of the task data and the cluster go on. The child is started with subprocess, not
multiprocessing, because Dask worker processes are daemonic and multiprocessing refuses children to
daemonic processes.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import CancelledError
from typing import Any

from hpo_bench.errors import HpoBenchError
from hpo_bench.executors.base import Executor, Job, WorkerContext
from hpo_bench.executors.sandbox import Sandbox
from hpo_bench.executors.worker import signal_name
from hpo_bench.trial import TrialResult, TrialState

_SANDBOX_LOCK = threading.Lock()
_IDLE_SANDBOXES: list[Sandbox] = []


def _take_sandbox(context_id: str, context: WorkerContext) -> Sandbox:
    with _SANDBOX_LOCK:
        for sandbox in _IDLE_SANDBOXES:
            if sandbox.context_id == context_id and sandbox.process.poll() is None:
                _IDLE_SANDBOXES.remove(sandbox)
                return sandbox
    return Sandbox(context_id, context)


def _give_back(sandbox: Sandbox) -> None:
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
                                      f"{time_limit_s:g} s", state=TrialState.TIMEOUT, fit_time_s=value)
        codes.append(value)
    causes = "; ".join(f"exit code {c}{signal_name(c)}" for c in codes)
    return TrialResult.failed(context.metric, f"the worker died twice evaluating this configuration ({causes})")


class DaskExecutor(Executor):
    """Evaluations on a Dask cluster: the scheduler at `address`, or a LocalCluster of n_workers processes.

    The rules are LocalExecutor's. Task data reach each worker once, as the result of a task that every
    job depends on by key. Each worker evaluates in a child process of its own (see `dask_evaluate`),
    so time limits and crashes are handled on the worker as they are locally. When a
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

    def start(self) -> None:
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

"""The local executor: worker processes on this machine, one pipe each.

One process per worker with a pipe each, rather than a `concurrent.futures.ProcessPoolExecutor`, because
it must be able to kill one evaluation (a time limit) and survive one worker's death (a segfault, the
OOM killer) without losing the whole pool: a process pool breaks as a whole in both cases. Task data
reach each worker once, when it starts.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import time
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from hpo_bench.errors import HpoBenchError
from hpo_bench.executors.base import Executor, Job, WorkerContext
from hpo_bench.executors.worker import signal_name, worker_main
from hpo_bench.trial import TrialResult, TrialState


class _Worker:
    """One worker process. It gets jobs only once it has said it is ready (imports done, data received),
    so that its start-up time is not counted against the time limit of its first job."""

    def __init__(self, ctx: Any, context: WorkerContext) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, os.getpid()), daemon=True)
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


class LocalExecutor(Executor):
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

    def start(self) -> None:
        self._workers = [_Worker(self._ctx, self.context) for _ in range(self.n_workers)]

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
                    raise HpoBenchError(f"{self._failed_starts} worker processes in a row died while starting "
                                        f"(last exit code {code}{signal_name(code)}){_guard_hint()}")
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
                        f"(exit code {code}{signal_name(code)})")))
            elif self.time_limit_s is not None and time.monotonic() - w.started > self.time_limit_s:
                elapsed = time.monotonic() - w.started
                self._replace(w, kill=True)
                done.append((job, TrialResult.failed(
                    self.context.metric, f"stopped after {elapsed:.1f} s: over the time limit of "
                    f"{self.time_limit_s:g} s", state=TrialState.TIMEOUT, fit_time_s=elapsed)))
        self._dispatch()
        return done


def _guard_hint() -> str:
    """Why workers of a user's script die at start, most often: spawn imports the script in each worker,
    and without a `__main__` guard the script starts the run again there (and fails)."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if main is None or Path(main).name in ("cli.py", "__main__.py", "pytest"):
        return ""
    return (f"; {main} may lack the guard `if __name__ == \"__main__\":` around its hpo_bench.run call: each "
            "worker process imports the script")

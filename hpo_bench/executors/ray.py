"""The Ray executor: evaluations on Ray actors, one per worker, each with a sandbox process of its own.

The rules are the local executor's and the Dask executor's, and so is the evaluation process: each actor
runs evaluations in a child process that it keeps across jobs (sandbox.py, as a Dask worker does), so
that a time limit kills the child, which really stops the fit, and a crash kills only the child; the
actor and its copy of the task data go on. A child that dies is replaced and the job retried once in
it, then the trial is FAILED with both exit codes. An actor that dies as a whole (a lost node, Ray's
memory monitor) takes no Ray retry (max_restarts = 0, max_task_retries = 0): the executor starts a new
actor and retries the job there once, then records it FAILED with Ray's error, so a job is tried
exactly twice either way.

Task data reach each actor once: `ray.put` stores the WorkerContext in Ray's object store, and each
actor receives it as the argument it is created with; the sandbox gets it from its actor.

Without an address a local Ray is started for the run, with `num_cpus` = n_workers, no dashboard, its
session files and logs in a temporary directory (deleted at the end) and usage statistics off (no
network), its processes authenticated by a token kept in their environment (not saved to ~/.ray);
it is shut down at the end. With an address (`--scheduler` / `scheduler_address`: the
`HOST:PORT` of a cluster's head, `ray://HOST:PORT` or "auto") the executor joins that cluster and
leaves it running. A Ray this process already initialised (`ray.init` in a user's script) is used as
it is and left running.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from typing import Any

from hpo_bench.errors import HpoBenchError
from hpo_bench.executors.base import Executor, Job, WorkerContext
from hpo_bench.executors.sandbox import Sandbox
from hpo_bench.executors.worker import signal_name
from hpo_bench.trial import TrialResult, TrialState

RAY_HINT = "pip install 'hpo-bench[ray]'"
_STOP_S = 10.0  # how long close() waits for an actor to stop its sandbox before killing it


class _RayWorker:
    """The actor (made remote in `RayExecutor.start`): the task data, and the sandbox that evaluates."""

    def __init__(self, context: WorkerContext, name: str) -> None:
        self.context = context
        self.name = name
        self.sandbox: Sandbox | None = Sandbox(name, context, owner="Ray actor")  # warmed up before the first job

    def evaluate(self, job: Job, time_limit_s: float | None) -> TrialResult:
        """`job` in the sandbox; over the time limit TIMEOUT; the sandbox dies: retried once in a fresh one."""
        codes: list[int | None] = []
        for _ in range(2):
            if self.sandbox is None:
                self.sandbox = Sandbox(self.name, self.context, owner="Ray actor")
            sandbox = self.sandbox
            outcome, value = sandbox.run(job, time_limit_s)
            if outcome == "ok":
                return value
            self.sandbox = None
            if outcome == "timeout":
                sandbox.stop(kill=True)
                return TrialResult.failed(self.context.metric, f"stopped after {value:.1f} s: over the time limit "
                                          f"of {time_limit_s:g} s", state=TrialState.TIMEOUT, fit_time_s=value)
            codes.append(value)
        causes = "; ".join(f"exit code {c}{signal_name(c)}" for c in codes)
        return TrialResult.failed(self.context.metric, f"the worker died twice evaluating this configuration "
                                  f"({causes})")

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None


_TOKEN: list[str] = []
_TEMP_DIR: list[str] = []


def process_temp_dir() -> str:
    """The temporary directory of every Ray this process starts. One per process: a second local Ray
    started in the same process with another `_temp_dir` never finds its GCS (Ray 2.60 waits for the
    GCS port file in vain). Removed after each shutdown; ray.init makes it again. A short path: Ray's
    sockets live in it, and a Unix socket path has at most 107 bytes."""
    if not _TEMP_DIR:
        _TEMP_DIR.append(tempfile.mkdtemp(prefix="hpo-bench-ray-", dir="/tmp" if os.path.isdir("/tmp") else None))
    return _TEMP_DIR[0]


def process_token() -> str:
    """The auth token of every Ray this process starts: one per process, since Ray's driver caches the
    first token it reads, and a second local Ray with another token would refuse it."""
    if not _TOKEN:
        _TOKEN.append(secrets.token_hex(32))
    return _TOKEN[0]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HpoBenchError(f"executor 'ray' needs Ray: {RAY_HINT}") from None
    return ray


class RayExecutor(Executor):
    """Evaluations on n_workers Ray actors (one CPU each): on a local Ray, or on the cluster at `address`.

    On a cluster, n_workers actors are placed where Ray finds a free CPU; set --n-workers to the CPUs
    the run may use (an actor that finds none waits until one is free).
    """

    def __init__(self, n_workers: int, context: WorkerContext, time_limit_s: float | None = None, *,
                 address: str | None = None) -> None:
        self.n_workers = n_workers
        self.context = context
        self.time_limit_s = time_limit_s
        self.address = address
        self._ray: Any = None
        self._started_ray = False
        self._temp_dir: str | None = None
        self._actor_class: Any = None
        self._context_ref: Any = None
        self._actors: list[Any] = []
        self._idle: list[int] = []  # indices into _actors
        self._running: dict[Any, tuple[Job, int]] = {}  # object ref -> (job, actor index)
        self._queue: list[Job] = []
        self._retried: set[int] = set()
        self._n_made = 0
        self._env_set: list[str] = []

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        ray = self._ray = _import_ray()
        if not ray.is_initialized():
            # Ray's usage statistics are sent over the network; hpo-bench makes no call it was not asked for.
            self._set_env("RAY_USAGE_STATS_ENABLED", "0")
            # ray.init sets a SIGTERM handler of its own (sys.exit); the command's (SIGTERM like Ctrl-C) is kept.
            main_thread = threading.current_thread() is threading.main_thread()
            sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
            try:
                if self.address is None:
                    # A new local Ray authenticates its processes with a token (Ray >= 2.52), which it would
                    # save to ~/.ray/auth_token unless one is given. Ours lives in the environment the Ray
                    # processes inherit, and goes with them; a user's own token is kept. (ray.init sets
                    # RAY_AUTH_MODE=token in this process: unset again at close unless it was set before.)
                    if not {"RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"} & set(os.environ):
                        self._set_env("RAY_AUTH_TOKEN", process_token())
                    if "RAY_AUTH_MODE" not in os.environ:
                        self._env_set.append("RAY_AUTH_MODE")
                    self._temp_dir = process_temp_dir()
                    # The workers see the driver's sys.path, as a spawned local worker does, so that model
                    # families importable here ("families:NAME" in the tests) are importable in the actors.
                    path = os.pathsep.join(p for p in sys.path if p)
                    # address "local": a new Ray even if RAY_ADDRESS names a cluster (--scheduler is for that)
                    ray.init(address="local", num_cpus=self.n_workers, include_dashboard=False,
                             _temp_dir=self._temp_dir, logging_level=logging.ERROR,
                             runtime_env={"env_vars": {"PYTHONPATH": path}})
                else:
                    ray.init(address=self.address, logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                self.close(kill=True)
                where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray"
                raise HpoBenchError(f"cannot start or reach {where}: {exc}") from None
            finally:
                if main_thread and sigterm is not None:
                    signal.signal(signal.SIGTERM, sigterm)
            self._started_ray = True
        self._context_ref = ray.put(self.context)
        self._actor_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_RayWorker)
        self._actors = [self._new_actor() for _ in range(self.n_workers)]
        self._idle = list(range(self.n_workers))

    def _set_env(self, key: str, value: str) -> None:
        """Set an environment variable for the Ray this executor starts (unless set); unset again at close."""
        if key not in os.environ:
            os.environ[key] = value
            self._env_set.append(key)

    def _new_actor(self) -> Any:
        self._n_made += 1
        return self._actor_class.remote(self._context_ref, f"hpo-bench-ray-{os.getpid()}-{self._n_made}")

    def close(self, kill: bool = False) -> None:
        ray = self._ray
        if ray is not None and self._actors:
            if not kill:  # stop the sandboxes in order (ray.kill below would leave them to PDEATHSIG)
                try:
                    ray.get([a.stop.remote() for a in self._actors], timeout=_STOP_S)
                except Exception:  # noqa: BLE001  (best effort while closing; an actor may be dead)
                    pass
            for actor in self._actors:
                try:
                    ray.kill(actor)
                except Exception:  # noqa: BLE001
                    pass
        self._actors, self._idle, self._running, self._queue = [], [], {}, []
        if self._started_ray and ray is not None:
            ray.shutdown()
            self._started_ray = False
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
        for key in self._env_set:
            os.environ.pop(key, None)
        self._env_set = []

    # -- jobs ----------------------------------------------------------------------------------------
    @property
    def n_free(self) -> int:
        return len(self._idle) - len(self._queue)

    @property
    def n_running(self) -> int:
        return len(self._running) + len(self._queue)

    def submit(self, job: Job) -> None:
        self._queue.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and self._idle:
            job, index = self._queue.pop(0), self._idle.pop(0)
            ref = self._actors[index].evaluate.remote(job, self.time_limit_s)
            self._running[ref] = (job, index)

    def wait(self, timeout: float) -> list[tuple[Job, TrialResult]]:
        """Results that finished within `timeout` seconds (maybe none)."""
        ray = self._ray
        if not self._running:
            return []
        refs = list(self._running)
        ready, _ = ray.wait(refs, num_returns=1, timeout=max(0.0, timeout))
        if not ready:
            return []
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)  # every other one done by now too
        done: list[tuple[Job, TrialResult]] = []
        for ref in ready:
            job, index = self._running.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                if exc.actor_init_failed:  # not this job's doing: the actors cannot start here
                    raise HpoBenchError(f"a Ray worker could not start: {_first_line(exc)}") from None
                try:  # dead as a rule; unreachable (ActorUnavailableError) at worst, and then it holds a CPU
                    ray.kill(self._actors[index])
                except Exception:  # noqa: BLE001
                    pass
                self._actors[index] = self._new_actor()
                if job.job_id not in self._retried:
                    self._retried.add(job.job_id)
                    self._queue.insert(0, job)
                else:
                    done.append((job, TrialResult.failed(self.context.metric, "a Ray worker died twice running it: "
                                                         f"{type(exc).__name__}: {_first_line(exc)}")))
            except ray.exceptions.RayTaskError as exc:
                done.append((job, TrialResult.failed(self.context.metric, "the Ray task raised: "
                                                     f"{type(exc).__name__}: {_first_line(exc)}")))
            except ray.exceptions.RayError as exc:
                # Not the configuration's fault (an object lost, the cluster gone): stop without recording it.
                raise HpoBenchError(f"Ray lost evaluation {job.job_id} ({type(exc).__name__}: {_first_line(exc)}); "
                                    "stored trials are safe: run the same command again to continue") from None
            else:
                done.append((job, result))
            self._idle.append(index)
        self._dispatch()
        return done


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["RayExecutor"]

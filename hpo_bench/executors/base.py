"""What the scheduler and the executors share: a job, the workers' context, the `Executor` interface.

The scheduler sees an executor only through `Executor`: it enters it (workers start, or a cluster is
reached), submits jobs while `n_free` > 0, collects results with `wait`, and leaves it (workers stop).
`make_executor` (factory.py) picks the implementation by the name an experiment file or the command line
gives.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from hpo_bench.tasks.base import Split, Task
from hpo_bench.trial import TrialResult


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


class Executor(ABC):
    """Runs jobs on workers that hold the context, and hands back one result per job submitted.

    A context manager: entering starts the workers (`start`), leaving stops them (`close`), and kills
    evaluations still running when the block raised. Every job submitted comes back from `wait` exactly
    once, whichever worker ran it and whatever happened to that worker: as the evaluation's result, or
    as a TIMEOUT (over `time_limit_s`) or FAILED result that says why there is none (a worker died
    twice on it). A job whose result cannot be told at all (a Dask scheduler that drops it) makes
    `wait` raise HpoBenchError instead of inventing one; what is stored stays valid to resume from.
    Results come back in the order they finish, so the scheduler, not the executor, keeps trials in
    order.
    """

    n_workers: int  # workers started (a cluster reached by address may have more or fewer)
    context: WorkerContext
    time_limit_s: float | None  # wall time of one evaluation; None: no limit

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)

    @abstractmethod
    def start(self) -> None:
        """Start the workers (or connect to them) and send them the context; raise HpoBenchError if not."""

    @abstractmethod
    def close(self, kill: bool = False) -> None:
        """Stop the workers; with `kill`, without waiting for evaluations under way (their results are lost)."""

    @property
    @abstractmethod
    def n_free(self) -> int:
        """Jobs that can be submitted now without queueing (<= 0: every worker has one)."""

    @property
    @abstractmethod
    def n_running(self) -> int:
        """Jobs submitted whose results have not yet been returned by `wait`."""

    @abstractmethod
    def submit(self, job: Job) -> None:
        """Hand `job` to a free worker, or queue it for the next one."""

    @abstractmethod
    def wait(self, timeout: float) -> list[tuple[Job, TrialResult]]:
        """The results that finished within `timeout` seconds (maybe none), in the order they finished."""


EXECUTORS = ("local", "inline", "dask", "ray")  # "inline" is also what the scheduler picks for surrogate tasks


def default_n_workers() -> int:
    return os.cpu_count() or 1

"""The inline executor: evaluations in the driver's own process, no worker processes.

Surrogate tasks (hpo_bench/tasks/surrogate.py), whose evaluation is a prediction that takes microseconds per
trial, are always run here: a worker process would cost more in pipe round trips than the evaluation
itself. Their jobs are held until `wait`, which evaluates all of them with one prediction per task and
model, so a pass of the scheduler over its runs becomes one batched prediction.

Real tasks run here when an experiment asks for `executor = "inline"`: one evaluation at a time, each
result handed back (and so committed) on its own, as from one local worker, with one BLAS thread and
a preprocessing cache as a worker has, so the trials are the same as with the local executor. What a
process of its own gives is lost: no time limit can stop a fit (the experiment is refused if it sets
one), and a fit that crashes the interpreter stops the run (finished trials stay stored). For cheap
evaluations, where a worker's start (a fresh interpreter importing scikit-learn, ~1.5 s) and a pipe
round trip per trial are what a run mostly spends.
"""

from __future__ import annotations

from typing import Any

from hpo_bench.executors.base import Executor, Job, WorkerContext
from hpo_bench.executors.worker import run_job
from hpo_bench.trial import TrialResult

# Jobs held before a `wait` on surrogate tasks: the scheduler gives every open run one slot per pass (a
# run has at most its batch in flight), so this bounds a pass, not the number of runs.
CAPACITY = 100_000


class InlineExecutor(Executor):
    def __init__(self, context: WorkerContext, time_limit_s: float | None = None) -> None:
        self.n_workers = 1
        self.context = context
        self.time_limit_s = time_limit_s
        self._queue: list[Job] = []
        # The scheduler never mixes surrogate and real tasks in one experiment.
        self.batched = all(task.is_surrogate for task in context.tasks.values())
        if not self.batched and time_limit_s is not None:
            # The experiment's checks refuse this first, saying where the limit came from.
            raise ValueError("a time limit needs worker processes: no fit in this process can be stopped")
        self._cache: Any = None
        self._limits: Any = None

    def start(self) -> None:
        if not self.batched:
            from threadpoolctl import threadpool_limits

            from hpo_bench.evaluation import PreprocessCache

            # One BLAS/OpenMP thread, as in a worker: threaded BLAS changed an MLP's loss in the last digit.
            self._limits = threadpool_limits(limits=1)
            self._cache = PreprocessCache()

    def close(self, kill: bool = False) -> None:
        self._queue = []
        self._cache = None
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None

    @property
    def n_free(self) -> int:
        return (CAPACITY if self.batched else 1) - len(self._queue)

    @property
    def n_running(self) -> int:
        return len(self._queue)

    def submit(self, job: Job) -> None:
        self._queue.append(job)

    def wait(self, timeout: float) -> list[tuple[Job, TrialResult]]:
        """Every job submitted since the last call, evaluated now, in submission order."""
        jobs, self._queue = self._queue, []
        if not self.batched:
            return [(job, run_job(self.context, job, self._cache)) for job in jobs]
        groups: dict[tuple[str, str], list[Job]] = {}
        for job in jobs:
            groups.setdefault((job.task, job.model), []).append(job)
        done: dict[int, TrialResult] = {}
        for (task, model), group in groups.items():
            results = self.context.tasks[task].evaluate(model, [(j.config, j.fidelity, j.seed) for j in group],
                                                        self.context.metric, self.time_limit_s)
            done.update((j.job_id, r) for j, r in zip(group, results, strict=True))
        return [(job, done[job.job_id]) for job in jobs]

"""The inline executor: evaluations in the driver's own process, a batch at a time.

For surrogate tasks (hpo_bench.surrogates), whose evaluation is a prediction that takes microseconds
per trial: a worker process would cost more in pipe round trips than the evaluation itself. Jobs
submitted are held until `wait`, which evaluates all of them with one prediction per task and model,
so the scheduler's round-robin over its runs becomes one batched prediction per pass.
"""

from __future__ import annotations

from hpo_bench.executors.base import Executor, Job, WorkerContext
from hpo_bench.trial import TrialResult

# Jobs held before a `wait`: the scheduler gives every open run one slot per pass (a run has at most its
# batch in flight), so this bounds a pass, not the number of runs.
CAPACITY = 100_000


class InlineExecutor(Executor):
    def __init__(self, context: WorkerContext, time_limit_s: float | None = None) -> None:
        self.n_workers = 1
        self.context = context
        self.time_limit_s = time_limit_s
        self._queue: list[Job] = []

    def start(self) -> None:
        pass

    def close(self, kill: bool = False) -> None:
        self._queue = []

    @property
    def n_free(self) -> int:
        return CAPACITY - len(self._queue)

    @property
    def n_running(self) -> int:
        return len(self._queue)

    def submit(self, job: Job) -> None:
        self._queue.append(job)

    def wait(self, timeout: float) -> list[tuple[Job, TrialResult]]:
        """Every job submitted since the last call, evaluated now, in submission order."""
        jobs, self._queue = self._queue, []
        groups: dict[tuple[str, str], list[Job]] = {}
        for job in jobs:
            groups.setdefault((job.task, job.model), []).append(job)
        done: dict[int, TrialResult] = {}
        for (task, model), group in groups.items():
            results = self.context.tasks[task].evaluate(model, [(j.config, j.fidelity, j.seed) for j in group],
                                                        self.context.metric, self.time_limit_s)
            done.update((j.job_id, r) for j, r in zip(group, results, strict=True))
        return [(job, done[job.job_id]) for job in jobs]

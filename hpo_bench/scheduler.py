"""The ask/evaluate/tell loop over all runs of an experiment: budgets, interleaving, resume by replay.

Each run holds at most one pending suggestion, so a run tells its optimizer results in trial order and
its trials do not depend on which worker finished first. Parallelism comes from interleaving runs.
Resuming re-tells each run's stored trials to a fresh optimizer of the same seed and checks that it
asks the same configurations again; a suggestion in flight when the driver died was never stored, so
it is asked again and evaluated once.
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, TextIO

from hpo_bench.errors import OptimizerExhausted, StoreError
from hpo_bench.evaluation import TrialResult, TrialState
from hpo_bench.executors import DaskExecutor, Job, LocalExecutor, WorkerContext, make_executor
from hpo_bench.experiment import Experiment, RunSpec
from hpo_bench.models import get_model
from hpo_bench.optimizers import Optimizer, Suggestion, get_optimizer
from hpo_bench.seeding import derive_seed
from hpo_bench.space import config_key
from hpo_bench.store import Store, TrialRecord
from hpo_bench.tasks import Task, load_task

_EPS = 1e-9


def optimizer_seed(spec: RunSpec) -> int:
    return derive_seed("optimizer", spec.task, spec.model, spec.optimizer, spec.seed)


def model_seed(spec: RunSpec) -> int:
    # Independent of the optimizer: every optimizer of a repetition fits the same random models
    # (common random numbers), so differences between optimizers are not model-seed noise.
    return derive_seed("model", spec.task, spec.model, spec.seed)


def split_seed(task: str, n_folds: int) -> int:
    return derive_seed("splits", task, n_folds)


@dataclass
class RunState:
    spec: RunSpec
    run_id: int
    optimizer: Optimizer | None
    include_default: bool
    budget: float
    n_trials: int = 0
    used: float = 0.0
    pending: tuple[int, Suggestion, str, float] | None = None  # trial number, suggestion, source, submitted
    finished: bool = False
    status: str = "pending"
    note: str | None = None
    failures: int = field(default=0)


@dataclass
class Progress:
    """Trials done/total, failures, elapsed and ETA, on one line (a TTY) or every few seconds (a log)."""

    total: float
    done: float = 0.0
    failures: int = 0
    out: TextIO = field(default_factory=lambda: sys.stderr)
    start: float = field(default_factory=time.monotonic)
    done_at_start: float = 0.0
    _last: float = 0.0
    interval_s: float = 10.0

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = (self.done - self.done_at_start) / elapsed if elapsed > 0 else 0.0
        eta = _duration((self.total - self.done) / rate) if rate > 0 else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (f"[{self.done:,.0f}/{self.total:,.0f} evals {pct:5.1f}%] {self.failures} failed | "
                f"elapsed {_duration(elapsed)} | ETA {eta}")

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        tty = self.out.isatty()
        if force or now - self._last >= (0.2 if tty else self.interval_s):
            self._last = now
            self.out.write(("\r" + self.line() + "\033[K") if tty else self.line() + "\n")
            self.out.flush()

    def close(self) -> None:
        self.update(force=True)
        if self.out.isatty():
            self.out.write("\n")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def _error_text(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"


class Scheduler:
    def __init__(self, experiment: Experiment, store: Store, *, n_workers: int | None = None,
                 out: TextIO | None = None, executor: str | None = None,
                 scheduler_address: str | None = None) -> None:
        self.exp = experiment
        self.store = store
        self.n_workers = n_workers or experiment.n_workers
        # Command-line choices override the file's: where evaluations run does not change their results.
        self.executor = executor or experiment.executor
        self.scheduler_address = scheduler_address or (
            experiment.scheduler_address if self.executor == "dask" else None)
        self.out = out or sys.stderr
        self._job_ids = 0

    # -- set up -----------------------------------------------------------------------------------
    def _load_tasks(self) -> tuple[dict[str, Task], dict[str, Any]]:
        tasks, splits = {}, {}
        for ref in self.exp.tasks:
            task = load_task(ref)
            seed = split_seed(ref, self.exp.cv_folds)
            splits[ref] = task.cv_splits(self.exp.cv_folds, seed)
            self.store.add_task(task.summary(), split_seed=seed, n_folds=len(splits[ref]))
            tasks[ref] = task
        return tasks, splits

    def _make_optimizer(self, spec: RunSpec) -> Optimizer:
        opt = self.exp.optimizer(spec.optimizer)
        return get_optimizer(opt.type)(get_model(spec.model).space, seed=optimizer_seed(spec),
                                       budget_evals=self.exp.budget_evals, **opt.options)

    def _prepare(self, spec: RunSpec, fingerprints: dict[str, str]) -> RunState:
        model = get_model(spec.model)
        opt = self.exp.optimizer(spec.optimizer)
        run_id = self.store.ensure_run(
            spec, optimizer_type=opt.type, optimizer_options=opt.options, optimizer_seed=optimizer_seed(spec),
            model_seed=model_seed(spec), budget_evals=self.exp.budget_evals, space_json=model.space.to_json(),
            space_fingerprint=model.space.fingerprint(), task_fingerprint=fingerprints[spec.task])
        state = RunState(spec, run_id, None, self.exp.include_default, float(self.exp.budget_evals))
        status, note = self.store.run_status(run_id)
        stored = self.store.run_trials(run_id)
        state.n_trials = len(stored)
        state.used = sum(t.fidelity for t in stored)
        state.failures = sum(t.result.state != TrialState.COMPLETE for t in stored)
        if status != "pending":
            state.finished, state.status, state.note = True, status, note
            return state
        try:
            state.optimizer = self._make_optimizer(spec)
        except Exception as exc:
            self._crash(state, f"the optimizer could not be created: {_error_text(exc)}")
            return state
        for trial in stored:  # replay
            if trial.source == "default":
                continue
            try:
                suggestion = state.optimizer.ask()
                if config_key(suggestion.config) != config_key(trial.config) or abs(
                        suggestion.fidelity - trial.fidelity) > _EPS:
                    raise StoreError(
                        f"resume of run {spec.key}: trial {trial.trial_number} was {trial.config} at fidelity "
                        f"{trial.fidelity}, the optimizer now asks {suggestion.config} at {suggestion.fidelity}; "
                        "the code or the environment changed, so this store cannot be continued")
                state.optimizer.tell(suggestion, trial.result)
            except StoreError:
                raise
            except Exception as exc:
                self._crash(state, f"replaying trial {trial.trial_number}: {_error_text(exc)}")
                break
        return state

    # -- the loop ---------------------------------------------------------------------------------
    def _crash(self, state: RunState, note: str) -> None:
        state.finished, state.status, state.note, state.optimizer = True, "crashed", note, None
        self.store.finish_run(state.run_id, "crashed", note)
        self.out.write(f"\nrun {state.spec.key} crashed: {note}\n")

    def _finish(self, state: RunState, note: str | None = None) -> None:
        state.finished, state.status, state.note = True, "done", note
        self.store.finish_run(state.run_id, "done", note)

    def _next_job(self, state: RunState) -> Job | None:
        """The run's next job, or None after marking the run finished (budget spent, nothing to ask)."""
        if state.include_default and state.n_trials == 0:
            suggestion, source = Suggestion(get_model(state.spec.model).package_default()), "default"
        else:
            if state.used >= state.budget - _EPS:
                self._finish(state)
                return None
            try:
                suggestion, source = state.optimizer.ask(), "optimizer"
            except OptimizerExhausted as exc:
                self._finish(state, f"optimizer exhausted: {exc}")
                return None
            except Exception as exc:  # an optimizer that fails is recorded as crashed, never replaced
                self._crash(state, f"ask failed: {_error_text(exc)}")
                return None
            if not 0.0 < suggestion.fidelity <= 1.0:
                self._crash(state, f"ask returned fidelity {suggestion.fidelity}, outside (0, 1]")
                return None
            if state.used + suggestion.fidelity > state.budget + _EPS:
                self._finish(state, f"budget left ({state.budget - state.used:g}) below the next suggestion's "
                                    f"cost ({suggestion.fidelity:g})")
                return None
        state.pending = (state.n_trials, suggestion, source, time.time())
        state.n_trials += 1
        state.used += suggestion.fidelity
        self._job_ids += 1
        return Job(self._job_ids, state.spec.task, state.spec.model, suggestion.config, suggestion.fidelity,
                   model_seed(state.spec))

    def _record(self, state: RunState, result: TrialResult) -> None:
        trial_number, suggestion, source, submitted = state.pending
        state.pending = None
        self.store.add_trial(state.run_id, TrialRecord(
            trial_number=trial_number, source=source, config=suggestion.config, fidelity=suggestion.fidelity,
            result=result, info=suggestion.info, submitted_at=submitted, finished_at=time.time()))
        if result.state != TrialState.COMPLETE:
            state.failures += 1
        if source == "optimizer":
            try:
                state.optimizer.tell(suggestion, result)
            except Exception as exc:
                self._crash(state, f"tell failed at trial {trial_number}: {_error_text(exc)}")

    def run(self) -> dict[str, int]:
        """Run or continue every run of the experiment; return counts of runs by status."""
        self.store.bind_experiment(self.exp)
        self.store.start_session(" ".join(sys.argv))
        tasks, splits = self._load_tasks()
        fingerprints = {ref: task.fingerprint() for ref, task in tasks.items()}
        states = [self._prepare(spec, fingerprints) for spec in self.exp.runs()]
        budget = float(self.exp.budget_evals)
        progress = Progress(total=budget * len(states), out=self.out)
        # A finished run counts its whole budget: what it did not spend will not be spent.
        progress.done = progress.done_at_start = sum(budget if s.finished else s.used for s in states)
        progress.failures = sum(s.failures for s in states)
        open_states = [s for s in states if not s.finished]
        if open_states:
            where = (f"Dask scheduler {self.scheduler_address}" if self.scheduler_address
                     else f"{self.n_workers} {'Dask ' if self.executor == 'dask' else ''}workers")
            self.out.write(f"{self.exp.name}: {len(states)} runs, {len(open_states)} to do, {where}\n")
            context = WorkerContext(tasks={ref: tasks[ref] for ref in {s.spec.task for s in open_states}},
                                    splits=splits, metric=self.exp.metric)
            with make_executor(self.executor, self.n_workers, context,
                               scheduler_address=self.scheduler_address) as executor:
                self._loop(open_states, executor, progress)
            progress.close()
        self.store.finish_session()
        counts: dict[str, int] = {}
        for s in states:
            counts[s.status] = counts.get(s.status, 0) + 1
        return counts

    def _loop(self, states: list[RunState], executor: LocalExecutor | DaskExecutor, progress: Progress) -> None:
        by_job: dict[int, RunState] = {}
        cursor = 0
        while True:
            # Fill free workers, visiting runs round-robin so every run advances.
            idle = 0
            while executor.n_free > 0 and idle < len(states):
                state = states[cursor % len(states)]
                cursor += 1
                if state.finished or state.pending is not None:
                    idle += 1
                    continue
                before = state.used
                job = self._next_job(state)
                if job is None:
                    progress.done += state.budget - before
                    idle += 1
                    continue
                idle = 0
                by_job[job.job_id] = state
                executor.submit(job)
            if not by_job:
                return
            for job, result in executor.wait(timeout=1.0):
                state = by_job.pop(job.job_id)
                self._record(state, result)
                progress.done += job.fidelity
                progress.failures += result.state != TrialState.COMPLETE
                if state.finished:  # crashed in tell
                    progress.done += state.budget - state.used
            progress.update()

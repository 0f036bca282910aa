"""The ask/evaluate/tell loop over all runs of an experiment: budgets, interleaving, resume by replay.

A run asks its optimizer a batch of up to `batch_size` suggestions (an optimizer option, default 1),
and tells the whole batch, in trial order, once every result of it is back: a run's trials therefore
do not depend on which worker finished first. A batch ends early when the optimizer raises
AwaitResults (a halving rung needs its results) or the budget stops the run. Parallelism comes first
from interleaving runs; a batch lets one run use several workers.
Resuming re-tells each run's stored trials to a fresh optimizer of the same seed, batch by batch
exactly as they were asked, and checks that it asks the same configurations and fidelities again; a
suggestion in flight when the driver died was never stored, so it is asked again (same trial number)
and evaluated once.
With a held-out test (`test = "holdout"`), a run that has asked its last trial refits each of its
incumbents (in trial order, every trial that improved on the optimised metric; for a non-adaptive
optimizer, on any recorded metric) on the outer training part and scores it on the test part. Those
scores are stored beside the trials, never told, and not charged to the budget; the run is done once
they are all stored, so a resumed run scores what is missing.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from hpo_bench.errors import OptimizerExhausted, StoreError
from hpo_bench.evaluation import TrialResult, TrialState
from hpo_bench.executors import Executor, Job, WorkerContext, make_executor
from hpo_bench.experiment import Experiment, RunSpec
from hpo_bench.models import get_model
from hpo_bench.optimizers import AwaitResults, Optimizer, Suggestion, get_optimizer
from hpo_bench.seeding import derive_seed
from hpo_bench.space import config_key
from hpo_bench.splits import RunSplits, make_splits
from hpo_bench.store import Store, TrialRecord
from hpo_bench.tasks import Task, TaskStore, load_task
from hpo_bench.tuning import ALL, full_config, tuned_space

_EPS = 1e-9
PRESET_SOURCES = ("default", "listed")


def trial_loss(result: TrialResult, metric: str) -> float:
    """A trial's mean loss under `metric` (inf if not recorded): what an incumbent is chosen by."""
    if metric == result.metric and result.loss is not None:
        return result.loss
    values = result.fold_metrics.get(metric)
    return float(np.mean(values)) if values else float("inf")


def optimizer_seed(spec: RunSpec) -> int:
    tuned = () if spec.tuned == ALL else (spec.tuned,)
    return derive_seed("optimizer", spec.task, spec.model, spec.optimizer, spec.optimizer_rep, *tuned)


def model_seed(spec: RunSpec) -> int:
    # Independent of the optimizer: every optimizer of a repetition fits the same random models
    # (common random numbers), so differences between optimizers are not model-seed noise.
    return derive_seed("model", spec.task, spec.model, spec.model_rep)


@dataclass
class PreparedTasks:
    """The experiment's tasks and every repetition's splits, made and checked before a store is written."""

    tasks: dict[str, Task]
    splits: dict[tuple[str, int], RunSplits]  # (task, split repetition) -> splits


def prepare_tasks(exp: Experiment, task_store: TaskStore) -> PreparedTasks:
    """Load every task and make its splits; an unusable one raises ExperimentError (exit 2), nothing written."""
    tasks = {ref: load_task(ref, task_store) for ref in exp.tasks}
    fraction = exp.test_fraction if exp.test == "holdout" else None
    reps = sorted({spec.split_rep for spec in exp.runs()})
    splits = {(ref, rep): make_splits(task, ref, n_folds=exp.cv_folds, split_rep=rep, test_fraction=fraction,
                                      where=exp.path)
              for ref, task in tasks.items() for rep in reps}
    return PreparedTasks(tasks, splits)


@dataclass
class Entry:
    """A trial asked and not yet told: in flight, back but waiting for its batch, or lost in a crash."""

    trial_number: int
    suggestion: Suggestion
    source: str  # "optimizer", or a preset: "default" or "listed" (the experiment's `configs`)
    config: dict[str, Any]  # what is evaluated: the suggestion plus the defaults of what the run does not tune
    submitted: float | None = None  # None: not submitted yet (a trial lost when the driver died)
    result: TrialResult | None = None


@dataclass
class RunState:
    spec: RunSpec
    run_id: int
    optimizer: Optimizer | None
    presets: list[tuple[str, dict[str, Any]]]  # (source, config) asked first, in order, never told
    budget: float
    batch_size: int = 1
    n_trials: int = 0  # the next trial number
    used: float = 0.0  # fidelity asked so far, in flight included
    done: float = 0.0  # fidelity of the trials stored
    presets_asked: int = 0
    entries: list[Entry] = field(default_factory=list)
    batch_closed: bool = False
    stopping: str | None = None  # set when the run asks no more; it finishes once nothing is in flight
    finished: bool = False
    status: str = "pending"
    note: str | None = None
    failures: int = field(default=0)
    splits: RunSplits | None = None
    tests: list[Entry] | None = None  # held-out test refits not yet submitted; None: not yet worked out
    tests_in_flight: int = 0

    def batch(self) -> list[Entry]:
        return [e for e in self.entries if e.source == "optimizer"]


@dataclass
class Progress:
    """Trials done/total, failures, elapsed and ETA, on one line (a TTY) or every few seconds (a log)."""

    total: float
    done: float = 0.0
    failures: int = 0
    out: TextIO = field(default_factory=lambda: sys.stderr)
    start: float = field(default_factory=time.monotonic)
    done_at_start: float = 0.0
    done_finished: float = 0.0  # runs finished before this session (the loop sees only the open ones)
    failures_finished: int = 0
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
                 out: TextIO | None = None, task_store: TaskStore | None = None, executor: str | None = None,
                 scheduler_address: str | None = None, prepared: PreparedTasks | None = None,
                 models: list[str] | None = None) -> None:
        self.exp = experiment
        # A sitting may work on some models' runs only (the cheap ones first); the others stay as they
        # are, and each run's trials are the same whichever sitting evaluates them.
        self.models = models
        self.prepared = prepared
        self.task_store = task_store or TaskStore()  # read only: runs never download
        self.store = store
        self.n_workers = n_workers or experiment.n_workers
        # Command-line choices override the file's: where evaluations run does not change their results.
        self.executor = executor or experiment.executor
        self.scheduler_address = scheduler_address or (
            experiment.scheduler_address if self.executor == "dask" else None)
        self.out = out or sys.stderr
        self._job_ids = 0

    # -- set up -----------------------------------------------------------------------------------
    def _record_tasks(self, prepared: PreparedTasks) -> dict[str, list]:
        """Record each task (with its first repetition's split seed); the workers' split table."""
        for ref, task in prepared.tasks.items():
            first = prepared.splits[(ref, min(rep for r, rep in prepared.splits if r == ref))]
            self.store.add_task(task.summary(), split_seed=first.seed, n_folds=len(first.folds))
        table: dict[str, list] = {}
        for splits in prepared.splits.values():
            table[splits.key] = splits.folds
            if splits.holdout is not None:
                table[splits.test_key] = [splits.holdout]
        return table

    def _make_optimizer(self, spec: RunSpec) -> Optimizer:
        opt = self.exp.optimizer(spec.optimizer)
        space = tuned_space(get_model(spec.model), spec.tuned, self.exp.defaults)
        return get_optimizer(opt.type)(space, seed=optimizer_seed(spec),
                                       budget_evals=self.exp.budget(spec.model), **opt.options)

    def _prepare(self, spec: RunSpec, fingerprints: dict[str, str]) -> RunState:
        model = get_model(spec.model)
        space = tuned_space(model, spec.tuned, self.exp.defaults)
        opt = self.exp.optimizer(spec.optimizer)
        splits = self.prepared.splits[(spec.task, spec.split_rep)]
        run_id = self.store.ensure_run(
            spec, optimizer_type=opt.type, optimizer_options=opt.options, optimizer_seed=optimizer_seed(spec),
            model_seed=model_seed(spec), budget_evals=self.exp.budget(spec.model), space_json=space.to_json(),
            space_fingerprint=space.fingerprint(), task_fingerprint=fingerprints[spec.task],
            split_seed=splits.seed, adaptive=get_optimizer(opt.type).adaptive)
        presets = [("default", model.default(self.exp.defaults))] if self.exp.include_default else []
        presets += [("listed", config) for config in self.exp.configs.get(spec.model, [])]
        state = RunState(spec, run_id, None, presets, float(self.exp.budget(spec.model)), splits=splits)
        status, note = self.store.run_status(run_id)
        stored = {t.trial_number: t for t in self.store.run_trials(run_id)}
        state.used = state.done = sum(t.fidelity for t in stored.values())
        state.failures = sum(t.result.state != TrialState.COMPLETE for t in stored.values())
        if status != "pending":
            state.finished, state.status, state.note = True, status, note
            return state
        try:
            state.optimizer = self._make_optimizer(spec)
        except Exception as exc:
            self._crash(state, f"the optimizer could not be created: {_error_text(exc)}")
            return state
        state.batch_size = state.optimizer.batch_size
        if not stored:
            return state
        state.n_trials = max(stored) + 1
        state.presets_asked = min(len(state.presets), state.n_trials)
        for number, (source, config) in enumerate(state.presets[:state.presets_asked]):
            if number not in stored:  # in flight when the driver died
                state.entries.append(Entry(number, Suggestion(config), source, config))
                state.used += 1.0
        try:
            self._replay(state, stored)
        except StoreError:
            raise
        except Exception as exc:
            self._crash(state, f"replaying the stored trials: {_error_text(exc)}")
            return state
        self._tell_if_complete(state)
        return state

    def _replay(self, state: RunState, stored: dict[int, TrialRecord]) -> None:
        """Re-ask and re-tell the stored trials batch by batch, as the run asked them; keep the open batch."""
        key = state.spec.key
        model = get_model(state.spec.model)
        batch: list[Entry] = []

        def tell_batch() -> None:
            missing = [e.trial_number for e in batch if e.result is None]
            if missing:
                raise StoreError(f"resume of run {key}: trials {missing} are missing from a batch that later "
                                 "trials depend on; this store cannot be continued")
            for e in batch:
                state.optimizer.tell(e.suggestion, e.result)
            batch.clear()

        for number in range(len(state.presets), state.n_trials):
            while True:
                if len(batch) >= state.batch_size:
                    tell_batch()
                try:
                    suggestion = state.optimizer.ask()
                except AwaitResults:
                    if not batch:
                        raise
                    tell_batch()
                    continue
                break
            trial = stored.get(number)
            config = full_config(model, state.spec.tuned, suggestion.config, self.exp.defaults)
            entry = Entry(number, suggestion, "optimizer", config)
            if trial is None:  # asked, then lost in flight: evaluate it again
                state.used += suggestion.fidelity
            else:
                if config_key(entry.config) != config_key(trial.config) or abs(
                        suggestion.fidelity - trial.fidelity) > _EPS:
                    raise StoreError(
                        f"resume of run {key}: trial {number} was {trial.config} at fidelity "
                        f"{trial.fidelity}, the optimizer now asks {entry.config} at {suggestion.fidelity}; "
                        "the code or the environment changed, so this store cannot be continued")
                entry.submitted, entry.result = trial.submitted_at or 0.0, trial.result
            batch.append(entry)
        state.entries.extend(batch)

    # -- the loop ---------------------------------------------------------------------------------
    def _crash(self, state: RunState, note: str) -> None:
        state.finished, state.status, state.note, state.optimizer = True, "crashed", note, None
        self.store.finish_run(state.run_id, "crashed", note)
        self.out.write(f"\nrun {state.spec.key} crashed: {note}\n")

    def _finish(self, state: RunState, note: str | None = None) -> None:
        state.finished, state.status, state.note = True, "done", note
        self.store.finish_run(state.run_id, "done", note)

    def _stop(self, state: RunState, note: str | None) -> None:
        """Ask no more; the run finishes once its last batch is back and told."""
        state.stopping = note or ""
        self._tell_if_complete(state)

    def _submit(self, state: RunState, entry: Entry) -> Job:
        entry.submitted = time.time()
        self._job_ids += 1
        splits = state.splits.test_key if entry.source == "test" else state.splits.key
        return Job(self._job_ids, state.spec.task, state.spec.model, entry.config, entry.suggestion.fidelity,
                   model_seed(state.spec), splits)

    def _tests_needed(self, state: RunState) -> list[Entry]:
        """Test refits still to do: each incumbent of the run, in trial order, without a stored test score.

        An incumbent is a COMPLETE full-fidelity trial better than every earlier one under the optimised
        metric (the default trial, when there is one, is the first); for a non-adaptive optimizer under
        any recorded metric, since analysis may then choose the incumbent by another metric. And every
        preset trial (the default and the experiment's listed configurations), incumbent or not.
        """
        trials = [t for t in self.store.run_trials(state.run_id)
                  if t.result.state == TrialState.COMPLETE and abs(t.fidelity - 1.0) <= _EPS]
        metrics = [self.exp.metric]
        if not get_optimizer(self.exp.optimizer(state.spec.optimizer).type).adaptive:
            metrics = sorted({m for t in trials for m in t.result.fold_metrics} | {self.exp.metric})
        # Every preset (the default, listed configurations) is scored too: they are what is being checked.
        numbers = {t.trial_number for t in trials if t.trial_number < len(state.presets)}
        for metric in metrics:
            best = float("inf")
            for t in trials:
                loss = trial_loss(t.result, metric)
                if loss < best:
                    best = loss
                    numbers.add(t.trial_number)
        tested = self.store.tested_trials(state.run_id)
        by_number = {t.trial_number: t for t in trials}
        return [Entry(n, Suggestion(by_number[n].config), "test", by_number[n].config)
                for n in sorted(numbers - tested)]

    def _end(self, state: RunState) -> None:
        """Finish a run that asks and awaits nothing more, once its held-out test refits are stored."""
        if state.splits is not None and state.splits.holdout is not None:
            if state.tests is None:
                state.tests = self._tests_needed(state)
            if state.tests or state.tests_in_flight:
                return
        self._finish(state, state.stopping or None)

    def _next_job(self, state: RunState) -> tuple[Job, Entry] | None:
        """The run's next job: a trial, else a held-out test refit once the run asks no more; or None."""
        step = self._next_trial(state)
        if step is None and state.tests and not state.finished:
            # A run that has just stopped (the budget is spent) has its refits ready in the same call: the
            # loop ends when a pass submits nothing, so they must not wait for another pass.
            state.tests_in_flight += 1
            entry = state.tests.pop(0)
            return self._submit(state, entry), entry
        return step

    def _next_trial(self, state: RunState) -> tuple[Job, Entry] | None:
        """The run's next trial, or None (the batch is full or waiting, or the run stops)."""
        for entry in state.entries:  # trials lost in a crash first, with their trial numbers
            if entry.submitted is None:
                return self._submit(state, entry), entry
        model = get_model(state.spec.model)
        if state.presets_asked < len(state.presets):  # the default and listed configurations come first
            source, config = state.presets[state.presets_asked]
            state.presets_asked += 1
            entry = Entry(state.n_trials, Suggestion(config), source, config)
        else:
            if state.stopping is not None or state.batch_closed:
                return None
            batch = state.batch()
            if len(batch) >= state.batch_size:
                state.batch_closed = True
                return None
            if state.used >= state.budget - _EPS:
                self._stop(state, None)
                return None
            try:
                suggestion = state.optimizer.ask()
            except AwaitResults:
                if not batch:
                    self._crash(state, "ask awaited results while none were pending")
                    return None
                state.batch_closed = True
                return None
            except OptimizerExhausted as exc:
                self._stop(state, f"optimizer exhausted: {exc}")
                return None
            except Exception as exc:  # an optimizer that fails is recorded as crashed, never replaced
                self._crash(state, f"ask failed: {_error_text(exc)}")
                return None
            if not 0.0 < suggestion.fidelity <= 1.0:
                self._crash(state, f"ask returned fidelity {suggestion.fidelity}, outside (0, 1]")
                return None
            if state.used + suggestion.fidelity > state.budget + _EPS:
                self._stop(state, f"budget left ({state.budget - state.used:g}) below the next suggestion's "
                                  f"cost ({suggestion.fidelity:g})")
                return None
            config = full_config(model, state.spec.tuned, suggestion.config, self.exp.defaults)
            entry = Entry(state.n_trials, suggestion, "optimizer", config)
        state.n_trials += 1
        state.used += entry.suggestion.fidelity
        state.entries.append(entry)
        return self._submit(state, entry), entry

    def _record(self, state: RunState, entry: Entry, result: TrialResult) -> None:
        if entry.source == "test":  # never told, not charged: stored beside the trial it scores
            self.store.add_test_score(state.run_id, entry.trial_number, result)
            state.tests_in_flight -= 1
            if not state.finished:
                self._end(state)
            return
        suggestion = entry.suggestion
        self.store.add_trial(state.run_id, TrialRecord(
            trial_number=entry.trial_number, source=entry.source, config=entry.config,
            fidelity=suggestion.fidelity, result=result, info=suggestion.info, submitted_at=entry.submitted,
            finished_at=time.time()))
        state.done += suggestion.fidelity
        if result.state != TrialState.COMPLETE:
            state.failures += 1
        entry.result = result
        if entry.source in PRESET_SOURCES:  # never told: every optimizer sees the same information
            state.entries.remove(entry)
        if not state.finished:
            self._tell_if_complete(state)

    def _tell_if_complete(self, state: RunState) -> None:
        """Tell a finished batch in trial order; finish a stopping run once nothing is in flight."""
        batch = state.batch()
        closed = state.batch_closed or state.stopping is not None or len(batch) >= state.batch_size
        if batch and closed and all(e.result is not None for e in batch):
            for e in batch:
                try:
                    state.optimizer.tell(e.suggestion, e.result)
                except Exception as exc:
                    self._crash(state, f"tell failed at trial {e.trial_number}: {_error_text(exc)}")
                    return
                state.entries.remove(e)
            state.batch_closed = False
        if state.stopping is not None and not state.entries and not state.finished:
            self._end(state)

    def run(self) -> dict[str, int]:
        """Run or continue every run of the experiment; return counts of runs by status."""
        if self.prepared is None:
            self.prepared = prepare_tasks(self.exp, self.task_store)
        lock = self.store.lock_run()  # before anything is written: a second run on this store exits 2 here
        if lock.took_over:
            self.out.write(f"took over the run lock of a run that is gone ({lock.took_over})\n")
        self.store.bind_experiment(self.exp)
        self.store.start_session(" ".join(sys.argv))
        splits = self._record_tasks(self.prepared)
        tasks = self.prepared.tasks
        fingerprints = {ref: task.fingerprint() for ref, task in tasks.items()}
        specs = [spec for spec in self.exp.runs() if self.models is None or spec.model in self.models]
        states = [self._prepare(spec, fingerprints) for spec in specs]
        progress = Progress(total=sum(s.budget for s in states), out=self.out)
        # A finished run counts its whole budget: what it did not spend will not be spent.
        progress.done = progress.done_at_start = sum(s.budget if s.finished else s.done for s in states)
        progress.failures = sum(s.failures for s in states)
        open_states = [s for s in states if not s.finished]
        progress.done_finished = sum(s.budget for s in states if s.finished)
        progress.failures_finished = sum(s.failures for s in states if s.finished)
        if open_states:
            n_workers = self._n_workers(open_states)
            where = (f"Dask scheduler {self.scheduler_address}" if self.scheduler_address
                     else f"{n_workers} {'Dask ' if self.executor == 'dask' else ''}workers")
            self.out.write(f"{self.exp.name}: {len(states)} runs, {len(open_states)} to do, {where}\n")
            context = WorkerContext(tasks={ref: tasks[ref] for ref in {s.spec.task for s in open_states}},
                                    splits=splits, metric=self.exp.metric, models=tuple(self.exp.models))
            with make_executor(self.executor, n_workers, context, time_limit_s=self.exp.time_limit_s,
                               scheduler_address=self.scheduler_address) as executor:
                self._loop(open_states, executor, progress)
            progress.close()
        self.store.finish_session()
        counts: dict[str, int] = {}
        for s in states:
            counts[s.status] = counts.get(s.status, 0) + 1
        return counts

    def _n_workers(self, open_states: list[RunState]) -> int:
        """Workers to start: no more than the runs can keep busy at once (each run has at most its batch
        in flight), so `n_workers = 10000` does not start 10000 processes; a note when they outnumber the
        cores here, where evaluations then share cores and each takes longer (time limits are wall time)."""
        n = max(1, min(self.n_workers, sum(max(1, s.batch_size) for s in open_states)))
        cores = os.cpu_count() or 1
        if self.scheduler_address is None and n > cores:
            self.out.write(f"note: {n} workers on {cores} cores: evaluations share the cores, so each takes "
                           "longer than alone\n")
        return n

    def _loop(self, states: list[RunState], executor: Executor, progress: Progress) -> None:
        by_job: dict[int, tuple[RunState, Entry]] = {}
        cursor = 0
        while True:
            # Fill free workers, visiting runs round-robin so every run advances.
            idle = 0
            while executor.n_free > 0 and idle < len(states):
                state = states[cursor % len(states)]
                cursor += 1
                step = None if state.finished else self._next_job(state)
                if step is None:
                    idle += 1
                    continue
                idle = 0
                job, entry = step
                by_job[job.job_id] = (state, entry)
                executor.submit(job)
            if not by_job:
                return
            for job, result in executor.wait(timeout=1.0):
                state, entry = by_job.pop(job.job_id)
                self._record(state, entry, result)
            # A finished run counts its whole budget: what it did not spend will not be spent.
            progress.done = sum(s.budget if s.finished else s.done for s in states) + progress.done_finished
            progress.failures = sum(s.failures for s in states) + progress.failures_finished
            progress.update()

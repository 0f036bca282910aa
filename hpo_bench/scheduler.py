"""The ask/evaluate/tell loop over all runs of an experiment: budgets, interleaving, resume by replay.

The scheduler interleaves the open runs (`Run`, runs.py: each one's life cycle), part-done ones first,
then the earliest, keeps every worker of the executor busy with their trials, and is the only writer
of the store: each batch of results is stored before its runs hear of them.

A run asks its optimizer a batch of up to `batch_size` suggestions (an optimizer option, default 1),
and tells the whole batch, in trial order, once every result of it is back: a run's trials therefore
do not depend on which worker finished first. A batch ends early when the optimizer raises
AwaitResults (a halving rung needs its results) or the budget stops the run. Parallelism comes first
from interleaving runs; a batch lets one run use several workers.
Resuming re-tells each run's stored trials to a fresh optimizer of the same seed, batch by batch
exactly as they were asked, and checks that it asks the same configurations and fidelities again; a
suggestion in flight when the driver died was never stored, so it is asked again (same trial number)
and evaluated once. Replay asks through the same code as live asking, so the two cannot drift apart.
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
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from hpo_bench.errors import ExperimentError, HpoBenchError
from hpo_bench.evaluation import METRICS_BY_TASK_TYPE, metric_task_type
from hpo_bench.executors import Executor, Job, WorkerContext, make_executor
from hpo_bench.experiment import Experiment
from hpo_bench.models import ModelFamily, get_model
from hpo_bench.optimizers import Optimizer, get_optimizer
from hpo_bench.runs import EPS, Entry, Run, RunState, error_text
from hpo_bench.seeding import derive_seed
from hpo_bench.splits import RunSplits, make_splits, split_seed
from hpo_bench.store import Store
from hpo_bench.tasks import Task, TaskStore, is_surrogate, load_task
from hpo_bench.trial import RunSpec, Suggestion, TrialRecord, TrialResult, TrialState
from hpo_bench.tuning import ALL, full_config, tuned_space


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
    if any(is_surrogate(ref) for ref in exp.tasks):
        return _prepare_surrogates(exp, task_store)
    tasks = {ref: load_task(ref, task_store) for ref in exp.tasks}
    check_task_types(exp, tasks)
    fraction = exp.test_fraction if exp.test == "holdout" else None
    reps = sorted({spec.split_rep for spec in exp.runs()})
    splits = {(ref, rep): make_splits(task, ref, n_folds=exp.cv_folds, split_rep=rep, test_fraction=fraction,
                                      where=exp.path)
              for ref, task in tasks.items() for rep in reps}
    return PreparedTasks(tasks, splits)


def _prepare_surrogates(exp: Experiment, task_store: TaskStore) -> PreparedTasks:
    """Surrogate tasks, checked against the experiment: what they were fitted on is what they can answer."""
    real = [ref for ref in exp.tasks if not is_surrogate(ref)]
    if real:
        raise ExperimentError(f"{exp.path}: tasks mix surrogate tasks with real ones ({real[0]!r}); surrogate tasks "
                              "are evaluated in the driver's process, real ones by workers: one kind per experiment")
    if exp.test == "holdout":
        raise ExperimentError(f"{exp.path}: test = 'holdout': a surrogate task has no held-out test split; remove it")
    try:
        tasks = {ref: load_task(ref, task_store) for ref in exp.tasks}
    except HpoBenchError as exc:
        raise ExperimentError(f"{exp.path}: {exc}") from None
    check_task_types(exp, tasks)  # type: ignore[arg-type]
    splits = {}
    for ref, task in tasks.items():
        for model in exp.models:
            fs = task.families.get(model)
            if fs is None:
                raise ExperimentError(f"{exp.path}: task {ref!r} has no surrogate of model {model!r} (it has "
                                      f"{sorted(task.families)})")
            if exp.metric not in fs.metrics:
                raise ExperimentError(f"{exp.path}: metric {exp.metric!r}: task {ref!r} recorded {fs.metrics}")
            space = tuned_space(exp.family(model, task.task_type), ALL, exp.defaults)
            if space.fingerprint() != task.meta["families"][model]["space_fingerprint"]:
                raise ExperimentError(f"{exp.path}: model {model!r} searches another space than the one its surrogate "
                                      f"on {ref!r} was fitted in; use the source experiment's space and defaults")
        if exp.cv_folds != task.n_folds:
            raise ExperimentError(f"{exp.path}: cv_folds = {exp.cv_folds}: task {ref!r} was fitted on "
                                  f"{task.n_folds}-fold losses; set cv_folds = {task.n_folds}")
        for rep in sorted({spec.split_rep for spec in exp.runs()}):
            key = ref if rep == 0 else f"{ref}#split{rep}"
            splits[(ref, rep)] = RunSplits(key, split_seed(ref, task.n_folds, rep), [])
    return PreparedTasks(tasks, splits)  # type: ignore[arg-type]


def check_task_types(exp: Experiment, tasks: dict[str, Task]) -> None:
    """The metric scores every task's type, and every model serves it; else ExperimentError (exit 2).

    One metric is optimised for the whole experiment, so classification and regression tasks cannot be
    mixed in one experiment file.
    """
    wanted = metric_task_type(exp.metric)
    for ref, task in tasks.items():
        if task.task_type != wanted:
            names = list(METRICS_BY_TASK_TYPE[task.task_type])
            raise ExperimentError(f"{exp.path}: task {ref!r} is a {task.task_type} task, metric {exp.metric!r} scores "
                                  f"{wanted} tasks; set metric to one of {names} (one experiment holds one task type)")
        for model in exp.models:
            try:
                get_model(model).for_task(task.task_type)
            except HpoBenchError as exc:
                raise ExperimentError(f"{exp.path}: task {ref!r}: {exc}") from None


ETA_FROM = 0.25  # the share of a sitting's work done before Progress gives an ETA


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
    unit: str = "evals"  # "s recorded" under a time budget (Run.progressed)

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = (self.done - self.done_at_start) / elapsed if elapsed > 0 else 0.0
        # Trials differ in cost by orders of magnitude (a 2,000-tree forest against a 10-tree one), and
        # the cheap ones finish first while the dear ones are still running: a rate from the first few
        # percent promised the quickstart 2 minutes that were 10. No ETA until ETA_FROM of this sitting's
        # work is done (the quickstart's estimate was then within a minute of the truth).
        share = (self.done - self.done_at_start) / max(self.total - self.done_at_start, 1e-9)
        eta = (_duration((self.total - self.done) / rate) if rate > 0 and share >= ETA_FROM
               else f"after {ETA_FROM:.0%}")
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (f"[{self.done:,.0f}/{self.total:,.0f} {self.unit} {pct:5.1f}%] {self.failures} failed | "
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
            experiment.scheduler_address if self.executor == experiment.executor else None)
        self.out = out or sys.stderr
        self._job_ids = 0
        self._model_seeds: dict[RunSpec, int] = {}
        self.loop_stats: dict[str, float] = {}  # of the last loop: see _loop

    # -- set up -----------------------------------------------------------------------------------
    def _record_tasks(self, prepared: PreparedTasks) -> dict[str, list]:
        """Record each task (with its first repetition's split seed); the workers' split table."""
        for ref, task in prepared.tasks.items():
            first = prepared.splits[(ref, min(rep for r, rep in prepared.splits if r == ref))]
            self.store.add_task(task.summary(), split_seed=first.seed,
                                n_folds=len(first.folds) or getattr(task, "n_folds", 0))
        table: dict[str, list] = {}
        for splits in prepared.splits.values():
            table[splits.key] = splits.folds
            if splits.holdout is not None:
                table[splits.test_key] = [splits.holdout]
        return table

    def _family(self, spec: RunSpec) -> ModelFamily:
        """The run's family: for its task's type, searching the experiment's space for it if it has one."""
        return self.exp.family(spec.model, self.prepared.tasks[spec.task].task_type)

    def _make_optimizer(self, spec: RunSpec) -> Optimizer:
        opt = self.exp.optimizer(spec.optimizer)
        space = tuned_space(self._family(spec), spec.tuned, self.exp.defaults)
        return get_optimizer(opt.type)(space, seed=optimizer_seed(spec),
                                       budget_evals=self.exp.budget(spec.model), **opt.options)

    def _prepare(self, spec: RunSpec, fingerprints: dict[str, str]) -> Run:
        """The run of `spec`, recorded in the store, with its stored trials replayed (see runs.py)."""
        model = self._family(spec)  # with the experiment's space for it, if it has one
        space = tuned_space(model, spec.tuned, self.exp.defaults)
        opt = self.exp.optimizer(spec.optimizer)
        splits = self.prepared.splits[(spec.task, spec.split_rep)]
        run_id = self.store.ensure_run(
            spec, optimizer_type=opt.type, optimizer_options=opt.options, optimizer_seed=optimizer_seed(spec),
            model_seed=model_seed(spec), budget_evals=self.exp.budget(spec.model), space_json=space.to_json(),
            space_fingerprint=space.fingerprint(), task_fingerprint=fingerprints[spec.task],
            split_seed=splits.seed, adaptive=get_optimizer(opt.type).adaptive, budget_seconds=self.exp.budget_seconds)
        presets = [("default", model.default(self.exp.defaults))] if self.exp.include_default else []
        presets += [("listed", config) for config in self.exp.configs.get(spec.model, [])]
        run = Run(spec, run_id, budget=float(self.exp.budget(spec.model)), presets=presets, space=space,
                  full_config=lambda config: full_config(model, spec.tuned, config, self.exp.defaults),
                  list_tests=self._tests_needed if splits.holdout is not None else None, on_end=self._on_end,
                  budget_seconds=self.exp.budget_seconds)
        status, note = self.store.run_status(run_id)
        stored = {t.trial_number: t for t in self.store.run_trials(run_id)}
        if status != "pending":
            run.ended_before(status, note, list(stored.values()))
            return run
        try:
            optimizer = self._make_optimizer(spec)
        except Exception as exc:
            run.cannot_start(f"the optimizer could not be created: {error_text(exc)}", list(stored.values()))
            return run
        run.start(optimizer, stored)
        return run

    def _on_end(self, run: Run) -> None:
        """Record a run that has just become done or crashed."""
        self.store.finish_run(run.run_id, run.status, run.note)
        if run.state is RunState.CRASHED:
            self.out.write(f"\nrun {run.spec.key} crashed: {run.note}\n")

    def _tests_needed(self, run: Run) -> list[Entry]:
        """Test refits still to do: each incumbent of the run, in trial order, without a stored test score.

        An incumbent is a COMPLETE full-fidelity trial better than every earlier one under the optimised
        metric (the default trial, when there is one, is the first); for a non-adaptive optimizer under
        any recorded metric, since analysis may then choose the incumbent by another metric. And every
        preset trial (the default and the experiment's listed configurations), incumbent or not.
        """
        trials = [t for t in self.store.run_trials(run.run_id)
                  if t.result.state == TrialState.COMPLETE and abs(t.fidelity - 1.0) <= EPS]
        metrics = [self.exp.metric]
        if not get_optimizer(self.exp.optimizer(run.spec.optimizer).type).adaptive:
            metrics = sorted({m for t in trials for m in t.result.fold_metrics} | {self.exp.metric})
        # Every preset (the default, listed configurations) is scored too: they are what is being checked.
        numbers = {t.trial_number for t in trials if t.trial_number < len(run.presets)}
        for metric in metrics:
            best = float("inf")
            for t in trials:
                loss = trial_loss(t.result, metric)
                if loss < best:
                    best = loss
                    numbers.add(t.trial_number)
        tested = self.store.tested_trials(run.run_id)
        by_number = {t.trial_number: t for t in trials}
        return [Entry(n, Suggestion(by_number[n].config), "test", by_number[n].config)
                for n in sorted(numbers - tested)]

    def _job(self, run: Run, entry: Entry) -> Job:
        self._job_ids += 1
        splits = self.prepared.splits[(run.spec.task, run.spec.split_rep)]
        seed = self._model_seeds.get(run.spec)
        if seed is None:  # a hash: once per run, not per trial
            seed = self._model_seeds[run.spec] = model_seed(run.spec)
        return Job(self._job_ids, run.spec.task, run.spec.model, entry.config, entry.suggestion.fidelity,
                   seed, splits.test_key if entry.source == "test" else splits.key)

    def _record(self, run: Run, entry: Entry, result: TrialResult) -> None:
        """Store a result, then let its run go on: every result the run hears of is stored first."""
        if entry.source == "test":  # never told, not charged: stored beside the trial it scores
            self.store.add_test_score(run.run_id, entry.trial_number, result)
        else:
            suggestion = entry.suggestion
            self.store.add_trial(run.run_id, TrialRecord(
                trial_number=entry.trial_number, source=entry.source, config=entry.config,
                fidelity=suggestion.fidelity, result=result, info=suggestion.info, submitted_at=entry.submitted,
                finished_at=time.time(), optimizer_time_s=entry.optimizer_s))
        run.receive(entry, result)

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
        runs = [self._prepare(spec, fingerprints) for spec in specs]
        unit = "evals" if self.exp.budget_seconds is None else "s recorded"
        progress = Progress(total=sum(r.total for r in runs), out=self.out, unit=unit)
        # A finished run counts its whole budget: what it did not spend will not be spent.
        progress.done = progress.done_at_start = sum(r.progressed for r in runs)
        progress.failures = sum(r.failures for r in runs)
        # A run stopped part-way (an earlier sitting) goes on before any run that has not started, then the
        # file's order: a stop leaves as few runs part-done as it can, and one long run left over from a
        # sitting is not starved by fresh runs earlier in the file. A run's trials do not depend on when
        # it gets a worker (only its seed), so the order changes no result.
        open_runs = sorted((r for r in runs if not r.ended), key=lambda r: r.progressed == 0)
        progress.done_finished = sum(r.total for r in runs if r.ended)
        progress.failures_finished = sum(r.failures for r in runs if r.ended)
        if open_runs:
            # Surrogate tasks are predictions: evaluated in this process, whatever executor is named.
            surrogate = any(task.is_surrogate for task in tasks.values())
            executor_kind = "inline" if surrogate else self.executor
            n_workers = 1 if executor_kind == "inline" else self._n_workers(open_runs)
            address = None if surrogate else self.scheduler_address
            kind = {"dask": "Dask ", "ray": "Ray "}.get(self.executor, "")
            where = f"{n_workers} {kind}workers"
            if surrogate:
                where = "surrogate tasks, evaluated in this process"
            elif executor_kind == "inline":
                where = "evaluated in this process, one at a time (inline executor)"
            elif self.scheduler_address and self.executor == "dask":
                where = f"Dask scheduler {self.scheduler_address}"
            elif self.scheduler_address:  # Ray: the executor starts n_workers actors on the cluster
                where = f"{where} on the Ray cluster at {self.scheduler_address}"
            self.out.write(f"{self.exp.name}: {len(runs)} runs, {len(open_runs)} to do, {where}\n")
            context = WorkerContext(tasks={ref: tasks[ref] for ref in {r.spec.task for r in open_runs}},
                                    splits=splits, metric=self.exp.metric, models=tuple(self.exp.models))
            with make_executor(executor_kind, n_workers, context, time_limit_s=self.exp.time_limit_s,
                               scheduler_address=address) as executor:
                self._loop(open_runs, executor, progress)
            progress.close()
        self.store.finish_session()
        counts: dict[str, int] = {}
        for r in runs:
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts

    def _n_workers(self, open_runs: list[Run]) -> int:
        """Workers to start: no more than the runs can keep busy at once (each run has at most its batch
        in flight), so `n_workers = 10000` does not start 10000 processes; a note when they outnumber the
        cores here, where evaluations then share cores and each takes longer (time limits are wall time)."""
        n = max(1, min(self.n_workers, sum(max(1, r.batch_size) for r in open_runs)))
        cores = os.cpu_count() or 1
        if self.scheduler_address is None and n > cores:
            self.out.write(f"note: {n} workers on {cores} cores: evaluations share the cores, so each takes "
                           "longer than alone\n")
        return n

    def _loop(self, runs: list[Run], executor: Executor, progress: Progress) -> None:
        """Keep the executor's workers busy with the runs' trials until no run has anything left to do.

        The results one `wait` hands back are stored in one transaction, committed before anything more
        is asked: a driver killed before the commit loses those results, and a resumed run asks them
        again (same trial numbers, same configurations) and gets the same trials. `loop_stats` counts the
        results, the loop's wall time and the part of it spent blocked in `wait`: the rest is the driver's.
        """
        by_job: dict[int, tuple[Run, Entry]] = {}
        open_runs = list(runs)  # in the order run() gives (see there); a run leaves it once it has ended
        stats = self.loop_stats = {"trials": 0, "loop_s": 0.0, "blocked_s": 0.0}
        # Progress is kept by each run's change (O(1) per trial, not a sum over every run); a finished run
        # counts its whole budget: what it did not spend will not be spent.
        seen = {id(r): (r.progressed, r.failures) for r in runs}
        ended = False

        def moved(run: Run) -> None:
            nonlocal ended
            done, failures = seen[id(run)]
            progress.done += run.progressed - done
            progress.failures += run.failures - failures
            seen[id(run)] = (run.progressed, run.failures)
            ended = ended or run.ended

        started = time.perf_counter()
        try:
            while True:
                # Fill free workers from the earliest runs first: the runs of one repetition finish
                # together (its optimizers side by side), and an early stop leaves whole repetitions
                # behind, not every run part-done. A run that cannot ask now gives way to the next.
                for run in open_runs:
                    if executor.n_free <= 0:
                        break
                    while executor.n_free > 0:
                        entry = run.next_entry()
                        moved(run)  # asking may stop or crash it
                        if entry is None:
                            break
                        job = self._job(run, entry)
                        by_job[job.job_id] = (run, entry)
                        executor.submit(job)
                if ended:
                    open_runs, ended = [r for r in open_runs if not r.ended], False
                # A pass over every run submitted nothing and nothing is out: no run can go on.
                if not by_job:
                    return
                blocked = time.perf_counter()
                results = executor.wait(timeout=1.0)
                stats["blocked_s"] += time.perf_counter() - blocked
                if results:
                    with self.store.transaction():
                        for job, result in results:
                            run, entry = by_job.pop(job.job_id)
                            self._record(run, entry, result)
                            moved(run)
                    stats["trials"] += len(results)
                progress.update()
        finally:
            stats["loop_s"] = time.perf_counter() - started

"""Performance of the harness itself: one command, JSON out, one summary line.

    python benchmarks/perf/run.py [--out reports/perf] [--quick]

(a) overhead: seconds per evaluation through hpo-bench (the whole `Scheduler.run`, with 1 local worker
    and with executor "inline", in this process; both give the same trials, which is checked) against
    the same fits (same configurations, seeds, preprocessing and CV splits) in a plain
    `sklearn.model_selection.cross_validate` loop in one process, on a cheap model and small task
    (iris, 5 trees, ~40 ms an evaluation: the overhead shows) and a medium one (digits, 200 trees,
    ~2 s). Two plain loops: with one scorer (AUC: what a user tuning one metric would write) and with
    the scorers hpo-bench records for every fold (AUC, log loss, accuracy, Brier, balanced accuracy:
    the same work). The plain loops refit the preprocessing for every configuration; hpo-bench's
    workers fit it once per fold and reuse it (it does not depend on the configuration), which is
    part of what is measured, so a ratio below 1 is possible.
(b) parallel efficiency: throughput with 2 workers against 1, local pool and Dask LocalCluster, medium
    load, 4 runs interleaved.
(c) driver cost per trial while the store fills to 10,000 trials (dummy model on iris, 2 workers: the
    fits cost ~nothing, so the driver's own CPU time and the trial rate are what is measured), and the
    time of `status`, `analyze` and a no-op re-run over the full store. The driver's wall time per
    trial is the scheduler loop's wall time outside `executor.wait` (where it blocks on the workers)
    over the trials recorded; the worker's side is one evaluation's CPU time, measured in this process
    on the same task, model and folds: with 2 workers the trial rate cannot beat 2 per that time.
(d) reference: Optuna's own loop (RandomSampler) on a trivial 9-dimensional objective, trials/s in
    memory and with its SQLite storage (`optuna_rates`).
(e) random search on a surrogate task (built from (a)'s cheap store), end to end with the SQLite store,
    200 runs x 100 evaluations, beside Optuna's loop on the same surrogate (`surrogate_rates`).
Wall times include starting the workers; `*_steady` figures use the store's timestamps from the first
submission to the last result, which leaves most of the start-up out (the first job waits, submitted,
for its worker to start); `*_warm` ones from the first result to the last, per evaluation after the
first, which leaves all of it out. Figures (PNG) go beside perf.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # perf_families, for the driver and (inherited) every worker

import hpo_bench.scheduler as scheduler_module  # noqa: E402
from hpo_bench.executors import Executor, Job  # noqa: E402
from hpo_bench.experiment import parse_experiment  # noqa: E402
from hpo_bench.scheduler import Scheduler, model_seed  # noqa: E402
from hpo_bench.splits import split_seed  # noqa: E402
from hpo_bench.store import Store  # noqa: E402
from hpo_bench.trial import TrialResult  # noqa: E402


def experiment(name: str, task: str, model: str, budget: int, seeds: int, n_workers: int) -> str:
    return (f'name = "{name}"\ntasks = ["{task}"]\nmodels = ["perf_families:{model}"]\nbudget_evals = {budget}\n'
            f"seeds = {seeds}\ncv_folds = 3\nn_workers = {n_workers}\ninclude_default = false\n\n"
            "[optimizers]\nrandom = {}\n")


class TimedExecutor(Executor):
    """An executor that passes everything on to `inner` and times the driver's loop around it: from the
    workers being up to their stop (`loop_s`), the part of it spent blocked in `wait` (`blocked_s`),
    and the results handed back (`trials`). The same figures as the scheduler's `loop_stats`, for
    schedulers that do not keep them."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.n_workers, self.context, self.time_limit_s = inner.n_workers, inner.context, inner.time_limit_s
        self.stats = {"trials": 0, "loop_s": 0.0, "blocked_s": 0.0}
        self._loop_start = 0.0

    def start(self) -> None:
        self.inner.start()
        self._loop_start = time.perf_counter()

    def close(self, kill: bool = False) -> None:
        self.stats["loop_s"] = time.perf_counter() - self._loop_start
        self.inner.close(kill=kill)

    @property
    def n_free(self) -> int:
        return self.inner.n_free

    @property
    def n_running(self) -> int:
        return self.inner.n_running

    def submit(self, job: Job) -> None:
        self.inner.submit(job)

    def wait(self, timeout: float) -> list[tuple[Job, TrialResult]]:
        start = time.perf_counter()
        done = self.inner.wait(timeout)
        self.stats["blocked_s"] += time.perf_counter() - start
        self.stats["trials"] += len(done)
        return done


@contextlib.contextmanager
def timed_executors():
    """Have the scheduler's executors timed (`TimedExecutor`); yields the list they are added to."""
    made: list[TimedExecutor] = []
    original = scheduler_module.make_executor

    def make(*args, **kwargs):
        made.append(TimedExecutor(original(*args, **kwargs)))
        return made[-1]

    scheduler_module.make_executor = make
    try:
        yield made
    finally:
        scheduler_module.make_executor = original


def run_hpo(text: str, workdir: Path, executor: str = "local") -> dict:
    """Run an experiment to the end in this process; wall time, driver CPU time, the driver loop's own
    wall time, and the store's trials."""
    exp = parse_experiment(text, where=f"<perf {executor}>")
    store = Store(workdir / f"{exp.name}-{executor}-{time.monotonic_ns()}.sqlite")
    scheduler = Scheduler(exp, store, out=io.StringIO(), executor=executor)
    with timed_executors() as made:
        wall, cpu = time.perf_counter(), time.process_time()
        scheduler.run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # The scheduler's own figures where it keeps them, else the wrapper's (the same definitions).
    loop = dict(getattr(scheduler, "loop_stats", None) or made[0].stats)
    trials = store.trials()
    path = store.path
    store.close()
    assert (trials.state == "COMPLETE").all(), trials.error.dropna().head().tolist()
    steady = trials.finished_at.max() - trials.submitted_at.min()
    # From the first result to the last: the first job is submitted while its worker is still starting
    # (queued), so `steady_s` still holds a worker's start-up; this leaves it and the first evaluation out.
    warm = (trials.finished_at.max() - trials.finished_at.min()) / max(1, len(trials) - 1)
    return {"exp": exp, "store": path, "trials": trials, "n": len(trials), "wall_s": wall, "driver_cpu_s": cpu,
            "steady_s": float(steady), "warm_s_per_eval": float(warm), "loop": loop}


def scorers(task) -> list[str]:
    """scikit-learn's scorers for the metrics hpo-bench records per fold (1-auc, logloss, error, brier,
    balanced_error): the same work as the harness's scoring."""
    auc = "roc_auc" if task.n_classes == 2 else "roc_auc_ovr"
    return [auc, "neg_log_loss", "accuracy", "neg_brier_score", "balanced_accuracy"]


def baseline(exp, trials, scoring: str | list[str]) -> float:
    """The same fits in a plain cross_validate loop, one process, one thread: seconds for all of them."""
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import Pipeline
    from threadpoolctl import threadpool_limits

    from hpo_bench.evaluation import make_preprocessor
    from hpo_bench.models import DataShape, get_model
    from hpo_bench.tasks import load_task
    from hpo_bench.trial import RunSpec

    task_ref, model_ref = exp.tasks[0], exp.models[0]
    task, family = load_task(task_ref), get_model(model_ref)
    splits = task.cv_splits(exp.cv_folds, split_seed(task_ref, exp.cv_folds))
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        for row in trials.itertuples():
            seed = model_seed(RunSpec(int(row.seed), task_ref, model_ref, row.optimizer))
            shape = DataShape(len(splits[0][0]), task.n_features, task.n_classes)
            pipe = Pipeline([("preprocess", make_preprocessor(task, scale=family.needs_scaling)),
                             ("model", family.make_estimator(json.loads(row.config), seed=seed, fidelity=1.0,
                                                             shape=shape))])
            cross_validate(pipe, task.X, task.y, cv=splits, scoring=scoring, n_jobs=1)
    return time.perf_counter() - start


def overhead(workdir: Path, label: str, task: str, model: str, n: int) -> dict:
    from hpo_bench.tasks import load_task

    hpo = run_hpo(experiment(f"perf-a-{label}", task, model, n, 1, 1), workdir)
    # The same experiment in the driver's process (executor "inline"): no worker to start, no pipe.
    inline = run_hpo(experiment(f"perf-a-{label}", task, model, n, 1, 1), workdir, executor="inline")
    columns = ["config", "loss", "fold_losses"]
    assert inline["trials"][columns].equals(hpo["trials"][columns]), "inline and local trials differ"
    loaded = load_task(task)
    one = baseline(hpo["exp"], hpo["trials"], scorers(loaded)[0])
    same = baseline(hpo["exp"], hpo["trials"], scorers(loaded))
    return {"task": task, "model": model, "n_evals": hpo["n"], "hpo_s_per_eval": hpo["wall_s"] / hpo["n"],
            "hpo_steady_s_per_eval": hpo["steady_s"] / hpo["n"],
            # against one scorer (AUC)
            "sklearn_s_per_eval": one / hpo["n"], "ratio": hpo["wall_s"] / one, "ratio_steady": hpo["steady_s"] / one,
            # against the scorers hpo-bench records: the same work
            "sklearn_scorers": scorers(loaded), "sklearn_all_s_per_eval": same / hpo["n"],
            "ratio_all": hpo["wall_s"] / same, "ratio_all_steady": hpo["steady_s"] / same,
            # between the first result and the last, against either loop: the per-evaluation overhead
            "hpo_warm_s_per_eval": hpo["warm_s_per_eval"], "ratio_warm": hpo["warm_s_per_eval"] * hpo["n"] / one,
            # what the per-evaluation rate does not account for: the worker's start (a fresh interpreter
            # importing scikit-learn), loading the task, opening the store, stopping the worker
            "hpo_fixed_s": hpo["wall_s"] - hpo["warm_s_per_eval"] * hpo["n"],
            "ratio_all_warm": hpo["warm_s_per_eval"] * hpo["n"] / same,
            "driver_wall_ms_per_trial": driver_wall_ms(hpo["loop"]), "store": str(hpo["store"]),
            # executor "inline", the whole run (nothing to start) against either loop
            "hpo_inline_s_per_eval": inline["wall_s"] / inline["n"], "ratio_inline": inline["wall_s"] / one,
            "ratio_inline_all": inline["wall_s"] / same,
            "inline_driver_wall_ms_per_trial": driver_wall_ms(inline["loop"])}


def surrogate_rates(workdir: Path, source: str, seeds: int, budget: int, timeout_s: float) -> dict:
    """(e) Random search on a surrogate task, end to end through `Scheduler.run` with every trial written
    to the SQLite store, beside Optuna's own loop (RandomSampler) on the same objective: each Optuna trial
    a point of the unit cube decoded by the same space and evaluated by the same surrogate, one at a time
    (its loop asks one trial at a time; ours predicts a batch per pass over the runs), in memory and with
    its SQLite storage. The surrogate is built from (a)'s cheap store (iris, 5-tree forest, random search)."""
    import numpy as np
    import optuna

    from hpo_bench.surrogates import build_surrogates
    from hpo_bench.tasks import TaskStore, load_task

    task_store = TaskStore(workdir / "tasks")
    start = time.perf_counter()
    build_surrogates(source, "perf", task_store)
    build_s = time.perf_counter() - start
    ref, model = "surrogate:perf/sklearn:iris", "perf_families:RF_CHEAP"
    exp = parse_experiment(experiment("perf-e", ref, "RF_CHEAP", budget, seeds, 1), where="<perf surrogate>")
    store = Store(workdir / f"perf-e-{time.monotonic_ns()}.sqlite")
    scheduler = Scheduler(exp, store, out=io.StringIO(), task_store=task_store)
    start = time.perf_counter()
    scheduler.run()
    wall = time.perf_counter() - start
    n = int(store.db.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0])
    store.close()
    loop = scheduler.loop_stats
    out: dict = {"task": ref, "runs": seeds, "budget_evals": budget, "n_trials": n, "build_s": build_s,
                 "wall_s": wall, "trials_per_s": n / wall, "loop_trials_per_s": loop["trials"] / loop["loop_s"],
                 "driver_wall_ms_per_trial": driver_wall_ms(loop),
                 "evaluate_ms_per_trial": 1000 * loop["blocked_s"] / max(1, loop["trials"])}
    task = load_task(ref, task_store)
    space = task.families[model].space

    def objective(trial) -> float:
        units = np.array([trial.suggest_float(f"u{i}", 0.0, 1.0) for i in range(len(space.parameters))])
        return task.evaluate(model, [(space.decode(units), 1.0, 0)], "1-auc")[0].loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for label, storage in (("optuna_memory", None),
                           ("optuna_sqlite", f"sqlite:///{workdir / f'optuna-e-{time.monotonic_ns()}.db'}")):
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
        start = time.perf_counter()
        study.optimize(objective, n_trials=seeds * budget, timeout=timeout_s)
        seconds = time.perf_counter() - start
        out[label] = {"n_trials": len(study.trials), "seconds": seconds, "trials_per_s": len(study.trials) / seconds}
    return out


def driver_wall_ms(loop: dict) -> float:
    """The driver's own wall time per trial: the scheduler loop outside executor.wait, per result."""
    return 1000 * (loop["loop_s"] - loop["blocked_s"]) / max(1, loop["trials"])


def parallel(workdir: Path, budget: int) -> dict:
    out: dict = {}
    for executor in ("local", "dask"):
        res = {w: run_hpo(experiment("perf-b", "sklearn:digits", "RF_MEDIUM", budget, 4, w), workdir, executor)
               for w in (1, 2)}
        out[executor] = {
            "n_evals": res[1]["n"],
            "evals_per_s_1": res[1]["n"] / res[1]["wall_s"], "evals_per_s_2": res[2]["n"] / res[2]["wall_s"],
            "speedup": res[1]["wall_s"] / res[2]["wall_s"],
            "speedup_steady": res[1]["steady_s"] / res[2]["steady_s"],
        }
    return out


def evaluate_cpu_ms(task_ref: str, model_ref: str, cv_folds: int, n: int) -> dict:
    """One evaluation's CPU time as a worker spends it (one thread, its preprocessing cache warm), in
    this process: what each of the workers in (c) does per trial besides receiving and sending it."""
    from threadpoolctl import threadpool_limits

    from hpo_bench.evaluation import PreprocessCache, evaluate
    from hpo_bench.models import get_model
    from hpo_bench.tasks import load_task

    task = load_task(task_ref)
    family = get_model(model_ref).for_task(task.task_type)
    splits = task.cv_splits(cv_folds, split_seed(task_ref, cv_folds))
    config = family.package_default()
    out = {}
    with threadpool_limits(limits=1):
        for label, cache in (("evaluate_cpu_ms", PreprocessCache()), ("evaluate_cpu_ms_no_cache", None)):
            evaluate(task, family, config, fidelity=1.0, seed=0, splits=splits, cache=cache)  # warm
            start = time.process_time()
            for i in range(n):
                evaluate(task, family, config, fidelity=1.0, seed=i, splits=splits, cache=cache)
            out[label] = 1000 * (time.process_time() - start) / n
    return out


def driver(workdir: Path, n_trials: int) -> dict:
    seeds = n_trials // 100
    text = experiment("perf-c", "sklearn:iris", "DUMMY", 100, seeds, 2)
    res = run_hpo(text, workdir)
    t = res["trials"].sort_values("finished_at").finished_at.to_numpy()
    k = max(1, min(1000, len(t) // 10))
    from hpo_bench.cli import main

    timings = {}
    for name, argv in (("status_s", ["status", str(res["store"])]),
                       ("analyze_s", ["analyze", str(res["store"]), "--reports-dir", str(workdir / "reports")])):
        start = time.perf_counter()
        sys.stdout, saved = io.StringIO(), sys.stdout
        try:
            main(argv)
        finally:
            sys.stdout = saved
        timings[name] = time.perf_counter() - start
    store = Store(res["store"])
    start = time.perf_counter()
    Scheduler(res["exp"], store, out=io.StringIO()).run()  # everything done: loads the store, runs nothing
    timings["rerun_noop_s"] = time.perf_counter() - start
    store.close()
    loop = res["loop"]
    return {"n_trials": res["n"], "driver_cpu_ms_per_trial": 1000 * res["driver_cpu_s"] / res["n"],
            "wall_ms_per_trial": 1000 * res["wall_s"] / res["n"],
            f"wall_ms_per_trial_first_{k}": 1000 * (t[k - 1] - t[0]) / (k - 1),
            f"wall_ms_per_trial_last_{k}": 1000 * (t[-1] - t[-k]) / (k - 1),
            "loop_stats": loop, "driver_wall_ms_per_trial": driver_wall_ms(loop),
            "blocked_ms_per_trial": 1000 * loop["blocked_s"] / max(1, loop["trials"]),
            **evaluate_cpu_ms("sklearn:iris", "perf_families:DUMMY", res["exp"].cv_folds, 200), **timings}


def _nine_dims(trial) -> float:
    """A trivial objective of 9 floats: what is measured is Optuna's loop and storage, not the objective."""
    return sum((trial.suggest_float(f"x{i}", -5.0, 5.0) - 1.0) ** 2 for i in range(9))


def optuna_rates(workdir: Path, n_trials: int, n_trials_memory: int | None = None, timeout_s: float = 10.0) -> dict:
    """Trials/s of Optuna's own loop (`study.optimize`, RandomSampler(seed=0)) on a trivial 9-dimensional
    objective: in memory (`n_trials_memory`, default 10 x `n_trials`: it is that much faster) and with
    its SQLite storage (RDBStorage on a fresh file in `workdir`, `n_trials`). Each stops early after
    `timeout_s` (Optuna's own `timeout`): SQLite's rate follows the disk's commit latency, from ~4
    trials/s on a busy VM to hundreds on a fast SSD. A reference for what a random search's
    bookkeeping costs when the objective costs nothing."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_memory = n_trials_memory or 10 * n_trials
    out: dict = {"optuna_version": optuna.__version__, "objective": "9 floats, sum of squares",
                 "sampler": "RandomSampler(seed=0)"}
    for label, n, storage in (("memory", n_memory, None),
                              ("sqlite", n_trials, f"sqlite:///{workdir / f'optuna-{time.monotonic_ns()}.db'}")):
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
        start = time.perf_counter()
        study.optimize(_nine_dims, n_trials=n, timeout=timeout_s)
        seconds = time.perf_counter() - start
        done = len(study.trials)
        out[label] = {"n_trials": done, "seconds": seconds, "trials_per_s": done / seconds}
    return out


def figure_seconds_per_eval(overheads: dict, path: Path) -> None:
    """Seconds per evaluation, hpo-bench against the two plain loops, one panel per size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(overheads), figsize=(5.5 * len(overheads), 3.6))
    for ax, (size, o) in zip(list(getattr(axes, "flat", [axes])), overheads.items(), strict=True):
        labels = ["hpo-bench\n1 local worker", "hpo-bench\ninline", "cross_validate\n1 scorer",
                  "cross_validate\nsame scorers"]
        values = [o["hpo_s_per_eval"], o["hpo_inline_s_per_eval"], o["sklearn_s_per_eval"], o["sklearn_all_s_per_eval"]]
        bars = ax.bar(labels, values, color=["tab:blue", "tab:cyan", "tab:gray", "tab:olive"])
        ax.bar_label(bars, labels=[f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s" for v in values], fontsize=8)
        ax.set_title(f"{size}: {o['task']}, {o['model']}, {o['n_evals']} evals", fontsize=9)
        ax.set_ylabel("seconds per evaluation (wall)")
        ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def figure_trials_per_s(rates: dict[str, float], path: Path, title: str = "trials/s, trivial objective") -> None:
    """Trials/s bars, one per label (Optuna in memory, Optuna SQLite, and whatever else is passed),
    on a log scale: the rates differ by orders of magnitude."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.6 * len(rates) + 1.2))
    labels, values = list(rates), list(rates.values())
    bars = ax.barh(labels, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8, padding=2)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("trials per second (wall)")
    ax.set_title(title, fontsize=9)
    ax.margins(x=0.2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="reports/perf", help="where perf.json goes (default: reports/perf)")
    parser.add_argument("--quick", action="store_true", help="fewer evaluations and 2,000 trials in (c)")
    args = parser.parse_args()
    q = args.quick
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        result = {
            "overhead": {"cheap": overhead(workdir, "cheap", "sklearn:iris", "RF_CHEAP", 40 if q else 200),
                         "medium": overhead(workdir, "medium", "sklearn:digits", "RF_MEDIUM", 8 if q else 30)},
            "parallel": parallel(workdir, 3 if q else 8),
            "driver": driver(workdir, 2000 if q else 10_000),
            "optuna": optuna_rates(workdir, 1000 if q else 5000, timeout_s=3.0 if q else 10.0),
        }
        result["surrogate"] = surrogate_rates(workdir, result["overhead"]["cheap"]["store"], 20 if q else 200,
                                              100, timeout_s=3.0 if q else 10.0)
    import os

    from hpo_bench.store import machine_info, package_versions

    result["meta"] = {"command": " ".join(sys.argv), "quick": q, "started": started, "seconds": time.time() - started,
                      "load_average_at_end": os.getloadavg(), "machine": machine_info(),
                      "versions": package_versions(), "python": platform.python_version()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "perf.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    o, p, d, op, sg = result["overhead"], result["parallel"], result["driver"], result["optuna"], result["surrogate"]
    figure_seconds_per_eval(o, out / "seconds_per_eval.png")
    figure_trials_per_s({"Optuna, in memory\n(trivial objective)": op["memory"]["trials_per_s"],
                         "Optuna, SQLite\n(trivial objective)": op["sqlite"]["trials_per_s"],
                         "hpo-bench, SQLite\n(surrogate task)": sg["trials_per_s"],
                         "Optuna, in memory\n(same surrogate)": sg["optuna_memory"]["trials_per_s"],
                         "Optuna, SQLite\n(same surrogate)": sg["optuna_sqlite"]["trials_per_s"]},
                        out / "trials_per_s.png", title="random search, trials/s end to end")
    print(f"inline x{o['cheap']['ratio_inline']:.3f} cheap (same scorers x{o['cheap']['ratio_inline_all']:.3f}), "
          f"x{o['medium']['ratio_inline']:.3f} medium (same scorers x{o['medium']['ratio_inline_all']:.3f}); "
          f"overhead x{o['cheap']['ratio']:.2f} cheap (steady x{o['cheap']['ratio_steady']:.2f}, "
          f"warm x{o['cheap']['ratio_warm']:.2f}; same scorers x{o['cheap']['ratio_all']:.2f}, "
          f"warm x{o['cheap']['ratio_all_warm']:.2f}), "
          f"x{o['medium']['ratio']:.3f} medium (steady x{o['medium']['ratio_steady']:.3f}, "
          f"warm x{o['medium']['ratio_warm']:.3f}; same scorers x{o['medium']['ratio_all']:.3f}, "
          f"warm x{o['medium']['ratio_all_warm']:.3f}); "
          f"2 vs 1 workers: local x{p['local']['speedup']:.2f} (steady x{p['local']['speedup_steady']:.2f}), "
          f"dask x{p['dask']['speedup']:.2f} (steady x{p['dask']['speedup_steady']:.2f}); "
          f"driver {d['driver_cpu_ms_per_trial']:.2f} ms CPU/trial, {d['driver_wall_ms_per_trial']:.2f} ms wall/trial "
          f"outside wait, {d['wall_ms_per_trial']:.1f} ms wall/trial in all (one evaluation "
          f"{d['evaluate_cpu_ms']:.1f} ms CPU) over {d['n_trials']:,} trials; "
          f"Optuna {op['memory']['trials_per_s']:,.0f} trials/s in memory, {op['sqlite']['trials_per_s']:,.0f} "
          f"with SQLite; surrogate random search {sg['trials_per_s']:,.0f} trials/s end to end with SQLite "
          f"({sg['n_trials']:,} trials, driver {sg['driver_wall_ms_per_trial']:.3f} ms/trial), Optuna on the same "
          f"surrogate {sg['optuna_memory']['trials_per_s']:,.0f} in memory, {sg['optuna_sqlite']['trials_per_s']:,.0f} "
          f"with SQLite; load avg {result['meta']['load_average_at_end'][0]:.1f}; {out / 'perf.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Performance of the harness itself: one command, JSON out, one summary line.

    python benchmarks/perf/run.py [--out reports/perf] [--quick]

(a) overhead: seconds per evaluation through hpo-bench (1 local worker, the whole `Scheduler.run`)
    against the same fits (same configurations, seeds, preprocessing and CV splits) in a plain
    `sklearn.model_selection.cross_validate` loop in one process, on a cheap model and small task
    (iris, 5 trees: the overhead shows) and a medium one (digits, 200 trees).
(b) parallel efficiency: throughput with 2 workers against 1, local pool and Dask LocalCluster, medium
    load, 4 runs interleaved.
(c) driver cost per trial while the store fills to 10,000 trials (dummy model: the fits cost ~nothing,
    so the driver's own CPU time and the trial rate are what is measured), and the time of `status`,
    `analyze` and a no-op re-run over the full store.
Wall times include starting the workers; `*_steady` figures use the store's timestamps from the first
submission to the last result, which leaves the start-up out.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # perf_families, for the driver and (inherited) every worker

from hpo_bench.experiment import parse_experiment  # noqa: E402
from hpo_bench.scheduler import Scheduler, model_seed  # noqa: E402
from hpo_bench.splits import split_seed  # noqa: E402
from hpo_bench.store import Store  # noqa: E402


def experiment(name: str, task: str, model: str, budget: int, seeds: int, n_workers: int) -> str:
    return (f'name = "{name}"\ntasks = ["{task}"]\nmodels = ["perf_families:{model}"]\nbudget_evals = {budget}\n'
            f"seeds = {seeds}\ncv_folds = 3\nn_workers = {n_workers}\ninclude_default = false\n\n"
            "[optimizers]\nrandom = {}\n")


def run_hpo(text: str, workdir: Path, executor: str = "local") -> dict:
    """Run an experiment to the end in this process; wall time, driver CPU time, and the store's trials."""
    exp = parse_experiment(text, where=f"<perf {executor}>")
    store = Store(workdir / f"{exp.name}-{executor}-{time.monotonic_ns()}.sqlite")
    wall, cpu = time.perf_counter(), time.process_time()
    Scheduler(exp, store, out=io.StringIO(), executor=executor).run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    trials = store.trials()
    path = store.path
    store.close()
    assert (trials.state == "COMPLETE").all(), trials.error.dropna().head().tolist()
    steady = trials.finished_at.max() - trials.submitted_at.min()
    return {"exp": exp, "store": path, "trials": trials, "n": len(trials), "wall_s": wall, "driver_cpu_s": cpu,
            "steady_s": float(steady)}


def baseline(exp, trials) -> float:
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
    scoring = "roc_auc" if task.n_classes == 2 else "roc_auc_ovr"
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
    hpo = run_hpo(experiment(f"perf-a-{label}", task, model, n, 1, 1), workdir)
    base = baseline(hpo["exp"], hpo["trials"])
    return {"task": task, "model": model, "n_evals": hpo["n"], "hpo_s_per_eval": hpo["wall_s"] / hpo["n"],
            "hpo_steady_s_per_eval": hpo["steady_s"] / hpo["n"], "sklearn_s_per_eval": base / hpo["n"],
            "ratio": hpo["wall_s"] / base, "ratio_steady": hpo["steady_s"] / base}


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
    return {"n_trials": res["n"], "driver_cpu_ms_per_trial": 1000 * res["driver_cpu_s"] / res["n"],
            "wall_ms_per_trial": 1000 * res["wall_s"] / res["n"],
            f"wall_ms_per_trial_first_{k}": 1000 * (t[k - 1] - t[0]) / (k - 1),
            f"wall_ms_per_trial_last_{k}": 1000 * (t[-1] - t[-k]) / (k - 1), **timings}


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
        }
    import os

    from hpo_bench.store import machine_info, package_versions

    result["meta"] = {"command": " ".join(sys.argv), "quick": q, "started": started, "seconds": time.time() - started,
                      "load_average_at_end": os.getloadavg(), "machine": machine_info(),
                      "versions": package_versions(), "python": platform.python_version()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "perf.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    o, p, d = result["overhead"], result["parallel"], result["driver"]
    print(f"overhead x{o['cheap']['ratio']:.2f} cheap (steady x{o['cheap']['ratio_steady']:.2f}), "
          f"x{o['medium']['ratio']:.3f} medium (steady x{o['medium']['ratio_steady']:.3f}); "
          f"2 vs 1 workers: local x{p['local']['speedup']:.2f} (steady x{p['local']['speedup_steady']:.2f}), "
          f"dask x{p['dask']['speedup']:.2f} (steady x{p['dask']['speedup_steady']:.2f}); "
          f"driver {d['driver_cpu_ms_per_trial']:.2f} ms CPU/trial over {d['n_trials']:,} trials; "
          f"load avg {result['meta']['load_average_at_end'][0]:.1f}; {out / 'perf.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
